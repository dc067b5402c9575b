"""Reading server-sent event streams: an incremental decoder and a reader over aiohttp."""

from streamer.sse.decoder import Frame, FrameError, SSEDecoder
from streamer.sse.errors import SSEError, StreamServerError, StreamStalledError

__all__ = [
    "Frame",
    "FrameError",
    "SSEDecoder",
    "SSEError",
    "StreamServerError",
    "StreamStalledError",
]
