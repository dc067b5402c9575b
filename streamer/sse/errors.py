"""The `streamer.sse` exception root; `retriable` tells the reconnect loop what to do."""

from __future__ import annotations


class SSEError(Exception):
    """Something went wrong reading a stream. Reading again later may help when `retriable`."""

    retriable: bool = True
    reason: str = "stream_error"


class StreamStalledError(SSEError):
    """No bytes arrived within the read timeout: the connection is presumed dead."""

    reason = "stall"


class StreamServerError(SSEError):
    """The server sent an `event: error` frame; its `error.type` is kept (never the message)."""

    reason = "error_event"

    def __init__(self, error_type: str) -> None:
        super().__init__(f"server sent an error event of type {error_type}")
        self.error_type = error_type
