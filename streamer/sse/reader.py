"""Frames from an open HTTP response, with a read (stall) timeout and optional idle ticks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import aiohttp

from streamer.sse.decoder import Frame, FrameError, SSEDecoder
from streamer.sse.errors import StreamStalledError


async def read_frames(
    response: aiohttp.ClientResponse,
    decoder: SSEDecoder,
    read_timeout_secs: float,
    tick_secs: float | None = None,
) -> AsyncGenerator[list[Frame | FrameError], None]:
    """Yield the frames each chunk completes until EOF; raise StreamStalledError after
    `read_timeout_secs` without bytes.

    One list per chunk rather than one item per frame: resuming an async generator costs more
    than decoding a small frame. With `tick_secs`, also yield an empty list each time that long
    passes without bytes, so the caller can do periodic work on a quiet stream without a task of
    its own.
    """
    content = response.content
    loop = asyncio.get_running_loop()
    while True:
        stall_at = loop.time() + read_timeout_secs
        while True:
            wait = stall_at - loop.time()
            if tick_secs is not None:
                wait = min(wait, tick_secs)
            try:
                async with asyncio.timeout(max(wait, 0.0)):
                    chunk = await content.readany()
                break
            except TimeoutError:
                if loop.time() >= stall_at:
                    raise StreamStalledError(f"no bytes for {read_timeout_secs}s") from None
                yield []
        if not chunk:
            return
        items = decoder.feed(chunk)
        if items:
            yield items
