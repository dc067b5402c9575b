"""Frames from an open HTTP response, with a read (stall) timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from streamer.sse.decoder import Frame, FrameError, SSEDecoder
from streamer.sse.errors import StreamStalledError


async def read_frames(
    response: aiohttp.ClientResponse,
    decoder: SSEDecoder,
    read_timeout_secs: float,
    counter: list[int] | None = None,
) -> AsyncIterator[Frame | FrameError]:
    """Yield frames until EOF; raise StreamStalledError when no bytes come for `read_timeout_secs`.

    `counter`, when given, has its first item incremented by the bytes read (a cheap hook for
    the bytes-in metric without a callback per chunk).
    """
    content = response.content
    while True:
        try:
            async with asyncio.timeout(read_timeout_secs):
                chunk = await content.readany()
        except TimeoutError:
            raise StreamStalledError(f"no bytes for {read_timeout_secs}s") from None
        if not chunk:
            return
        if counter is not None:
            counter[0] += len(chunk)
        for item in decoder.feed(chunk):
            yield item
