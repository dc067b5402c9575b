"""What a frame means: keepalive, server error, event, or a bad frame."""

from __future__ import annotations

import pytest

from streamer.sse import Frame, StreamServerError
from streamer.sse.parse import BadFrameError, StreamEvent, parse_frame


def test_ping_event_is_a_keepalive() -> None:
    """`event: ping` frames are skipped."""
    assert parse_frame(Frame("ping", b'{"type":"ping"}')) is None


def test_event_keeps_the_raw_bytes() -> None:
    """An event frame yields its fields and its data bytes unchanged."""
    raw = b'{"type":"agent.message","id":"sevt_1" ,"x":1}'

    assert StreamEvent({"type": "agent.message", "id": "sevt_1", "x": 1}, raw) == parse_frame(
        Frame("agent.message", raw)
    )


def test_error_frame_raises_with_the_error_type() -> None:
    """`event: error` raises StreamServerError carrying `error.type`, never the message."""
    data = b'{"type":"error","error":{"type":"overloaded_error","message":"secret stuff"}}'
    with pytest.raises(StreamServerError) as raised:
        parse_frame(Frame("error", data))

    assert ("overloaded_error", True) == (raised.value.error_type, raised.value.retriable)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"type": "agent.message", "x": "\xff\xfe"}', "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_event"),
        (b'{"no_type": 1}', "not_an_event"),
    ],
)
def test_bad_data_is_a_bad_frame_with_a_reason(data: bytes, reason: str) -> None:
    """Undecodable data raises BadFrameError with a reason from the fixed vocabulary."""
    with pytest.raises(BadFrameError) as raised:
        parse_frame(Frame("agent.message", data))

    assert reason == raised.value.reason
