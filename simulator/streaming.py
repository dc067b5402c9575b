"""The SSE endpoint's writer: one connection's frames to the socket, pings, and stream faults."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import web

from simulator.faults import FaultSpec
from simulator.sse import PING_FRAME, Connection, Hub, chunk

log = structlog.get_logger(__name__)

ERROR_FRAME = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
    b'"message":"Overloaded"}}\n\n'
)
MALFORMED_FRAME = b"event: agent.message\ndata: {not json\n\n"
INVALID_UTF8_FRAME = b'event: agent.message\ndata: {"type":"agent.message","x":"\xff\xfe"}\n\n'


class FaultyWriter:
    """Applies a connection's stream faults frame by frame; says when to stall or cut."""

    def __init__(self, spec: FaultSpec | None) -> None:
        self.spec = spec
        self.frames = 0

    def rewrite(self, frame: bytes) -> tuple[list[bytes], bool]:
        """Frames to write for `frame`, and whether the stream ends (cut) after them."""
        spec = self.spec
        if spec is None:
            return [frame], False
        self.frames += 1
        n = self.frames
        if spec.cut_after_frames is not None and n > spec.cut_after_frames:
            return [frame[: max(1, len(frame) // 2)]], True
        if spec.error_after_frames is not None and n > spec.error_after_frames:
            return [ERROR_FRAME], True
        out = [frame]
        if spec.malformed_every and n % spec.malformed_every == 0:
            out.insert(0, MALFORMED_FRAME)
        if spec.invalid_utf8_every and n % spec.invalid_utf8_every == 0:
            out.insert(0, INVALID_UTF8_FRAME)
        if spec.duplicate_every and n % spec.duplicate_every == 0:
            out.append(frame)
        return out, False

    def stall_now(self) -> float:
        spec = self.spec
        if spec is None or spec.stall_after_frames is None or spec.stall_secs <= 0:
            return 0.0
        if self.frames >= spec.stall_after_frames:
            secs, spec.stall_secs = spec.stall_secs, 0.0  # stall once per fault setting
            return secs
        return 0.0


async def serve(
    request: web.Request,
    hub: Hub,
    connection: Connection,
    faults: FaultSpec | None,
    ping_secs: float,
) -> web.StreamResponse:
    """Write `connection` until it closes or the client goes away; the hub forgets it after."""
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
    )
    try:
        await response.prepare(request)
        if faults is None and request.transport is not None:
            chunked = response.headers.get("transfer-encoding") == "chunked"
            connection.go_direct(request.transport, chunked=chunked)
            await _ping_direct(connection, ping_secs)
        else:
            await _pump(response, connection, FaultyWriter(faults), ping_secs)
    except ConnectionResetError:
        pass  # the client went away; nothing to clean up beyond the hub
    finally:
        hub.discard(connection)
        if connection.dropped:
            log.warning("stream_cut_slow_client", path=request.path)
    return response


async def _ping_direct(connection: Connection, ping_secs: float) -> None:
    """A direct connection's task only pings (when the stream was quiet) and waits for close."""
    ping = chunk(PING_FRAME) if connection.chunked else PING_FRAME
    while not connection.closed:
        connection.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(connection.wake.wait(), timeout=ping_secs)
        if not connection.closed:
            connection.write(ping)
    connection.flush()  # what was published before the close still goes out


async def _pump(
    response: web.StreamResponse, connection: Connection, faults: FaultyWriter, ping_secs: float
) -> None:
    while True:
        if not connection.frames and not connection.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.wake.wait(), timeout=ping_secs)
            if not connection.frames and not connection.closed:
                await response.write(PING_FRAME)
                continue
        frames = connection.take()
        if not frames and connection.closed:
            return
        if await _write(response, frames, faults):
            return


async def _write(response: web.StreamResponse, frames: list[bytes], faults: FaultyWriter) -> bool:
    """Write a batch in one go, unless a fault stalls or cuts it; True when the stream is cut."""
    chunks: list[bytes] = []
    for frame in frames:
        rewritten, cut = faults.rewrite(frame)
        chunks.extend(rewritten)
        if cut:
            await response.write(b"".join(chunks))
            return True
        stall = faults.stall_now()
        if stall:
            await response.write(b"".join(chunks))
            chunks.clear()
            await asyncio.sleep(stall)
    if chunks:
        await response.write(b"".join(chunks))
    return False
