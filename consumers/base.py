"""The `Consumer` base class: what a consumer of the session-event topic implements.

Its docstring is the guide to writing one; `consumers.runner` is what runs it.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from consumers.errors import BadRecordError

if TYPE_CHECKING:
    from aiohttp import web

    from streamer.kafka.config import KafkaSettings


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, which
# made building the record cost more than decoding its JSON (2.7 µs against 0.3 µs). Read-only
# by convention: the runner hands the same record to every retry of a handler.
@dataclass(slots=True)
class EventRecord:
    """One record of the events topic, parsed: the event as the API sent it, and where it came from.

    `data` is the event JSON decoded (unknown types and fields included); `raw` is the value byte
    for byte. `event_id` is the idempotence key: a handler may see the same record twice. Treat
    it as read-only.
    """

    topic: str
    partition: int
    offset: int
    session_id: str
    event_id: str
    type: str
    data: dict[str, Any]
    raw: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    timestamp_ms: int = 0

    @classmethod
    def parse(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: dict[str, bytes],
        timestamp_ms: int = 0,
    ) -> EventRecord:
        """Decode a record; raises `BadRecordError` when it is not a session event."""
        if not value:
            raise BadRecordError("record has no value")
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadRecordError(f"value is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRecordError("value is not a JSON object")
        event_type, event_id = data.get("type"), data.get("id")
        if not isinstance(event_type, str) or not event_type:
            raise BadRecordError("event has no string 'type'")
        if not isinstance(event_id, str):
            raise BadRecordError("event has no string 'id'")
        session = key.decode("utf-8", "replace") if key else ""
        session = session or headers.get("ce_subject", b"").decode("utf-8", "replace")
        if not session:
            raise BadRecordError("record names no session (no key, no ce_subject)")
        return cls(topic, partition, offset, session, event_id, event_type, data, value, headers,
                   timestamp_ms)  # fmt: skip


@dataclass
class ConsumerContext:
    """What the runner gives a consumer at start: settings, and a place to add HTTP routes.

    Routes added to `routes` are served by the runner's HTTP server next to `/metrics` and
    `/healthz` (when the runner was given an HTTP port).
    """

    kafka: KafkaSettings
    group_id: str
    routes: list[web.RouteDef] = field(default_factory=list)


class Consumer(ABC):
    """A consumer of `agents.session-events`. Subclass it, register it, run it by name.

    **What to implement.** `name` (the entry-point name; also the default group id suffix) and
    `handle(record)`. Optionally `start(ctx)` / `stop()` for resources (clients, background
    tasks: the consumer owns them and must end them in `stop`, which must be safe twice) and the
    classmethods `add_arguments(parser)` / `from_args(args)` for command-line options.

    **Delivery guarantees.** The runner reads the topic as a Kafka consumer group with
    `isolation_level=read_committed` (only events the streamer committed), in batches, and calls
    `handle` once per record, in order within a partition (so in order within a session: the
    topic is keyed by session id). Records of different partitions (with `parallel_keys`, of
    different sessions) are handled concurrently, so state shared across sessions needs care
    (asyncio: no await between read and write). A record's offset is committed only after
    `handle` returned (also when partitions are revoked in a rebalance, and on SIGTERM). That is
    *at-least-once*: after a crash, the records since the last commit are handled again. Make
    `handle` idempotent; the key is `record.event_id` (`SeenIds` below remembers recent ones for
    cheap in-process dedupe; durable effects need a durable record, as the approvals bot keeps
    in Kafka).

    **Errors.** Raise a `consumers.errors.ConsumerError` with `retriable=True` (or a
    `TransientError`) for trouble worth retrying: the runner retries with exponential backoff,
    and after `max_attempts` sends the record to the dead-letter topic (headers carry the error
    kind and message, the consumer's name and the original topic/partition/offset) and moves
    on. A non-retriable error goes to the dead-letter topic at once. Any other exception counts
    as non-retriable. Records that are not events never reach `handle`: they are dead-lettered
    by the runner with kind `bad_record`. Keep `handle` short: long waits (for a person, say)
    belong in a background task started in `start`, not in the handler.

    **Batches.** A consumer that does the same cheap thing to every record (appending rows, say)
    can set `takes_batches = True` and implement `handle_batch(records)`: the runner then calls it
    once per fetched run of one partition's records (of one session's, with `parallel_keys`), in
    order, with the records that are events (the others are dead-lettered first). Retries and
    backoff apply to the whole batch; a batch that still fails is handled again one record at a
    time through `handle`, so only the failing record is dead-lettered (the records before it are
    handed over a second time: idempotence covers it). `agents_consumer_handler_seconds` then
    times each batch, not each record.

    **Owning offsets (exactly once).** A consumer whose output is an aggregate or a table must
    not count a record twice after a crash, so at-least-once is not enough. Set `owns_offsets =
    True` and implement two methods: `positions(partitions)` loads the durable state of those
    partitions (dropping anything in memory for them) and returns, per partition, the next offset
    to handle (a partition it has never stored starts at the beginning of the topic); and
    `commit(offsets, reason)`, which the runner calls where it would commit the group's offsets
    (after each batch, before a revocation, at stop) with the next offset to handle per partition.
    `commit` stores the output and the offsets atomically, now or later (a table may flush by size
    or age: it then must store on `reason` "revoke" and "stop"). The runner seeks each assigned
    partition to `positions(...)`; when `commit` raises, it asks `positions` again for those
    partitions and seeks back there, so the records since the last durable store are handled again
    against the state that store holds.

    **Registering.** In your package's `pyproject.toml`:

        [project.entry-points."agents_streamer.consumers"]
        echo = "my_package.echo:EchoConsumer"

    then `streamer consume echo [--group-id G] [--http-port P]` runs it (several names run
    several consumers in one process, each in its own group).

    **Example** (runnable: `EchoConsumer` counts event types and prints nothing else):

    >>> import asyncio
    >>> from collections import Counter
    >>> class EchoConsumer(Consumer):
    ...     name = "echo"
    ...     def __init__(self) -> None:
    ...         self.types: Counter[str] = Counter()
    ...         self.seen = SeenIds()
    ...     async def handle(self, record: EventRecord) -> None:
    ...         if self.seen.add(record.event_id):   # False: a redelivery, already counted
    ...             self.types[record.type] += 1
    >>> echo = EchoConsumer()
    >>> value = b'{"id":"sevt_1","type":"agent.message"}'
    >>> rec = EventRecord.parse(topic="t", partition=0, offset=7, key=b"sesn_1", value=value,
    ...                         headers={})
    >>> asyncio.run(echo.handle(rec)); asyncio.run(echo.handle(rec))
    >>> echo.types
    Counter({'agent.message': 1})
    """

    name: ClassVar[str]
    # True: records of different keys (sessions) in one partition may be handled concurrently,
    # each key still in order. More throughput when handlers wait on I/O.
    parallel_keys: ClassVar[bool] = False
    # True: the consumer stores the offsets it covers together with its output (exactly once;
    # see "Owning offsets" above). The runner then never commits the group's offsets itself.
    owns_offsets: ClassVar[bool] = False
    # True: the runner calls `handle_batch` with each fetched run of records (see "Batches").
    takes_batches: ClassVar[bool] = False

    async def start(self, ctx: ConsumerContext) -> None:  # noqa: B027 - optional hook
        """Open resources; called once before the first record."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release resources; safe to call twice."""

    @abstractmethod
    async def handle(self, record: EventRecord) -> None:
        """Process one event; raise `ConsumerError(retriable=...)` on failure."""

    async def handle_batch(self, records: list[EventRecord]) -> None:
        """With `takes_batches`: process records of one partition, in order (default: `handle`
        each); raise `ConsumerError(retriable=...)` on failure."""
        for record in records:
            await self.handle(record)

    async def on_assigned(self, partitions: set[int]) -> None:  # noqa: B027 - optional hook
        """Partitions of the events topic this instance now owns (after a rebalance)."""

    async def on_revoked(self, partitions: set[int]) -> None:  # noqa: B027 - optional hook
        """Partitions about to be taken away; finish work on them before returning."""

    def parse_record(self, **fields: Any) -> EventRecord:
        """Turn a Kafka record into an `EventRecord` (`EventRecord.parse`'s keywords); raise
        `BadRecordError` to have it dead-lettered. Override it to read a topic of other records."""
        return EventRecord.parse(**fields)

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        """With `owns_offsets`: load these partitions' durable state; the next offset of each."""
        raise NotImplementedError(f"{self.name}: owns_offsets needs positions()")

    async def commit(self, offsets: dict[int, int], reason: str) -> None:
        """With `owns_offsets`: store output and `offsets` together (reason: batch|revoke|stop)."""
        raise NotImplementedError(f"{self.name}: owns_offsets needs commit()")

    @classmethod  # noqa: B027 - optional hook
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this consumer's command-line options (prefix them with the consumer's name)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Consumer:
        """Build an instance from the parsed command line."""
        del args
        return cls()


class SeenIds:
    """A bounded set of recently seen ids: in-process dedupe of redelivered records."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False when it was already there (a redelivery)."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)
