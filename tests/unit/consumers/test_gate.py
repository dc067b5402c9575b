"""The runner's shared/exclusive gate."""

from __future__ import annotations

import asyncio

import pytest

from consumers.gate import Gate


async def test_shared_holders_run_together() -> None:
    """Two shared holders are inside at the same time."""
    gate, inside, both = Gate(), 0, asyncio.Event()

    async def hold() -> None:
        nonlocal inside
        async with gate.shared():
            inside += 1
            if inside == 2:
                both.set()
            await asyncio.wait_for(both.wait(), 1)

    await asyncio.gather(hold(), hold())
    assert both.is_set()


async def test_exclusive_waits_for_shared_holders_to_leave() -> None:
    """A writer enters only after the reader that was inside has left."""
    gate, order = Gate(), []
    reader_in, release = asyncio.Event(), asyncio.Event()

    async def reader() -> None:
        async with gate.shared():
            reader_in.set()
            await release.wait()
            order.append("reader out")

    async def writer() -> None:
        await reader_in.wait()
        async with gate.exclusive():
            order.append("writer in")

    tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
    await reader_in.wait()
    await asyncio.sleep(0)  # let the writer start waiting
    release.set()
    await asyncio.gather(*tasks)
    assert ["reader out", "writer in"] == order


async def test_a_waiting_writer_holds_new_readers_back() -> None:
    """Once a writer waits, a new reader enters only after the writer is done (no starvation)."""
    gate, order = Gate(), []
    first_in, release, writer_waiting = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first_reader() -> None:
        async with gate.shared():
            first_in.set()
            await release.wait()

    async def writer() -> None:
        await first_in.wait()
        writer_waiting.set()
        async with gate.exclusive():
            order.append("writer")

    async def late_reader() -> None:
        await writer_waiting.wait()
        await asyncio.sleep(0)  # the writer has closed the gate by now
        async with gate.shared():
            order.append("late reader")

    tasks = [asyncio.create_task(c()) for c in (first_reader, writer, late_reader)]
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert ["writer", "late reader"] == order


async def test_a_holder_that_raises_still_leaves() -> None:
    """An exception inside the shared side releases it: a writer can enter afterwards."""
    gate = Gate()
    with pytest.raises(RuntimeError):
        async with gate.shared():
            raise RuntimeError("handler failed")
    async with asyncio.timeout(1), gate.exclusive():
        pass
