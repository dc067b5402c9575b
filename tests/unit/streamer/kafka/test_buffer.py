"""The bounded buffer: `put` waits while it is full; that is the sink's backpressure."""

from __future__ import annotations

import asyncio

import pytest

from streamer.events import SessionEvent
from streamer.kafka.buffer import EventBuffer
from streamer.kafka.errors import SinkFencedError
from tests.support.waiting import until


def _event(n: int, size: int = 10) -> SessionEvent:
    return SessionEvent("sesn_1", f"sevt_{n}", "agent.message", "t", b"x" * size)


async def test_put_waits_while_the_buffer_is_full() -> None:
    """A third put into a two-item buffer parks (waits for room) until `take` makes room."""
    buffer = EventBuffer(max_items=2, max_bytes=1000)
    for n in range(2):
        await buffer.put(_event(n))
    blocked = asyncio.create_task(buffer.put(_event(2)))
    await until(lambda: buffer.waiting)
    waited = not blocked.done()
    taken = buffer.take(1)
    await asyncio.wait_for(blocked, 10)

    assert (True, 1, 2) == (waited, len(taken), len(buffer))


async def test_byte_bound_blocks_put() -> None:
    """The byte bound blocks a put that would exceed it."""
    buffer = EventBuffer(max_items=100, max_bytes=25)
    await buffer.put(_event(0, 20))
    blocked = asyncio.create_task(buffer.put(_event(1)))
    await until(lambda: buffer.waiting)
    waited = not blocked.done()
    buffer.take(1)
    await asyncio.wait_for(blocked, 10)

    assert (True, 10) == (waited, buffer.bytes)


async def test_an_oversize_item_enters_an_empty_buffer() -> None:
    """An item larger than the byte bound still enters an empty buffer (no deadlock)."""
    buffer = EventBuffer(max_items=10, max_bytes=5)
    await asyncio.wait_for(buffer.put(_event(0, 50)), 10)

    assert 1 == len(buffer)


async def test_close_releases_waiting_puts_with_the_error() -> None:
    """Closing a full buffer makes a waiting put raise the closing error."""
    buffer = EventBuffer(max_items=1, max_bytes=1000)
    await buffer.put(_event(0))
    blocked = asyncio.create_task(buffer.put(_event(1)))
    await until(lambda: buffer.waiting)
    buffer.close(SinkFencedError("fenced"))

    with pytest.raises(SinkFencedError):
        await asyncio.wait_for(blocked, 10)


async def test_take_returns_items_in_order() -> None:
    """Items come out in the order they went in."""
    buffer = EventBuffer(max_items=10, max_bytes=1000)
    for n in range(5):
        await buffer.put(_event(n))

    assert ["sevt_0", "sevt_1", "sevt_2"] == [
        item.event_id for item in buffer.take(3) if isinstance(item, SessionEvent)
    ]
