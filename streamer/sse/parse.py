"""From a decoded frame to what it means: a keepalive, a server error, or one API event."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from streamer.sse.decoder import Frame
from streamer.sse.errors import StreamServerError


class BadFrameError(ValueError):
    """The frame's data is not one JSON event; `reason` is from a fixed vocabulary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StreamEvent(NamedTuple):
    """One event: its parsed fields and its `data:` bytes as the server sent them."""

    fields: dict[str, Any]
    raw: bytes


def parse_frame(frame: Frame) -> StreamEvent | None:
    """None for keepalives and empty frames; raises StreamServerError or BadFrameError.

    A frame without `event:` is kept when its data is an event (the SDK drops those; the data
    carries its own `type`, and dropping it would only force a slower recovery from history).
    """
    if frame.event == "ping" or not frame.data:
        return None
    if frame.event == "error":
        raise StreamServerError(_error_type(frame.data))
    try:
        fields = orjson.loads(frame.data)
    except orjson.JSONDecodeError:
        raise BadFrameError(_undecodable_reason(frame.data)) from None
    if not isinstance(fields, dict) or not isinstance(fields.get("type"), str):
        raise BadFrameError("not_an_event")
    if fields["type"] == "ping":
        return None
    return StreamEvent(fields, frame.data)


def _undecodable_reason(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    return "invalid_json"


def _error_type(data: bytes) -> str:
    try:
        body = orjson.loads(data)
        error_type = body["error"]["type"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "unknown"
    return error_type if isinstance(error_type, str) and error_type.isidentifier() else "unknown"
