"""The runner's seek to an owns-offsets consumer's store on assignment, on a real broker.

While the consumer loads its positions (a table read, say), aiokafka resets the freshly assigned
partitions to `auto_offset_reset` on its own and may fetch from there; such a batch must not be
handled as if it came from the store's positions (it would be counted a second time).
"""

from __future__ import annotations

import asyncio

import pytest

from consumers.base import EventRecord
from consumers.runner import Runner
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.test_runner import SETTINGS, Tally, kafka, running
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.waiting import until

__all__ = ["kafka"]

pytestmark = pytest.mark.kafka

LOAD_SECS = 1.0  # how long the store takes to say where each partition ends


class SlowTally(Tally):
    """`Tally` whose store answers `positions` slowly, as a remote table does."""

    name = "slow-tally"

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        await asyncio.sleep(LOAD_SECS)
        return await super().positions(partitions)


class SlowBatchTally(SlowTally):
    """`SlowTally` handed batches (`takes_batches`)."""

    name = "slow-batch-tally"
    takes_batches = True

    async def handle_batch(self, records: list[EventRecord]) -> None:
        for record in records:
            await self.handle(record)


@pytest.mark.parametrize("tally_class", [SlowTally, SlowBatchTally])
async def test_a_batch_fetched_while_positions_load_is_not_counted(
    kafka: KafkaSettings, tally_class: type[SlowTally]
) -> None:
    """The store holds offset 0 of 4: only 1..3 are counted, never 0 again, nor 1..3 twice."""
    records = [("sesn_1", event("agent.message")) for _ in range(4)]
    await produce(kafka.bootstrap_servers, kafka.events_topic, records, partition=0)
    store = {0: (1, 1)}
    tally = tally_class(store)
    async with running(Runner(tally, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: store[0][0] >= len(records))
    assert (len(records), len(records)) == store[0]
