"""A session's append-only event log and the paged, filtered reads over it (spec §2.2)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson

from simulator.pages import decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class StoredEvent:
    """One persisted event; `body` is its JSON, encoded once and reused by every reader."""

    id: str
    type: str
    processed_at: str
    body: bytes

    @property
    def frame(self) -> bytes:
        return sse_frame(self.type, self.body)


def compact_json(value: object) -> bytes:
    """JSON bytes that own exactly their size, for what is kept for the simulator's lifetime.

    orjson returns bytes carved from a 4 KiB allocation that the allocator does not give back
    when shrunk; one copy makes a stored event cost its size instead of 4 KiB.
    """
    return bytes(memoryview(orjson.dumps(value)))


def sse_frame(event_name: str, body: bytes) -> bytes:
    return b"event: " + event_name.encode() + b"\ndata: " + body + b"\n\n"


@dataclass(slots=True, frozen=True)
class TimeWindow:
    """`created_at[gt|gte|lt|lte]`, already normalised to comparable stamps."""

    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None

    def admits(self, stamp: str) -> bool:
        return not (
            (self.gt is not None and stamp <= self.gt)
            or (self.gte is not None and stamp < self.gte)
            or (self.lt is not None and stamp >= self.lt)
            or (self.lte is not None and stamp > self.lte)
        )


@dataclass(slots=True, frozen=True)
class EventQuery:
    order: str = "asc"
    limit: int = 1000
    cursor: str | None = None
    types: frozenset[str] = frozenset()
    window: TimeWindow = field(default_factory=TimeWindow)


class EventLog:
    """Events in persistence order: stamps strictly increase, so this is `processed_at` order."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    def append(self, event: StoredEvent) -> None:
        self.events.append(event)

    def page(self, query: EventQuery) -> tuple[list[StoredEvent], str | None]:
        """One page and the cursor of the next, or None at the end of history."""
        return page_positions(
            self.events,
            query.order,
            limit=query.limit,
            cursor=query.cursor,
            kind="events",
            matches=_matcher(query),
        )

    def page_body(self, query: EventQuery) -> bytes:
        items, next_page = self.page(query)
        return list_body((item.body for item in items), next_page)


def _matcher(query: EventQuery) -> Callable[[StoredEvent], bool]:
    types, window = query.types, query.window

    def matches(event: StoredEvent) -> bool:
        return (not types or event.type in types) and window.admits(event.processed_at)

    return matches


def page_positions(
    items: Sequence[T],
    order: str,
    *,
    limit: int,
    cursor: str | None,
    kind: str,
    matches: Callable[[T], bool],
) -> tuple[list[T], str | None]:
    """Walk `items` (in stored order) in `order` from the cursor; positions are list indexes."""
    step = 1 if order == "asc" else -1
    start = 0 if order == "asc" else len(items) - 1
    if cursor is not None:
        _, start = decode_cursor(cursor, kind, order)
    found: list[T] = []
    position = start
    while 0 <= position < len(items) and len(found) < limit:
        if matches(items[position]):
            found.append(items[position])
        position += step
    more = 0 <= position < len(items) and any(
        matches(items[p]) for p in range(position, len(items) if step > 0 else -1, step)
    )
    return found, encode_cursor(kind, order, position) if more else None


def list_body(bodies: Iterable[bytes], next_page: str | None, **extra: str | None) -> bytes:
    """`{"data":[...],"next_page":...}` from pre-encoded items, without re-encoding them."""
    tail = orjson.dumps({"next_page": next_page, **extra})
    return b'{"data":[' + b",".join(bodies) + b"]," + tail[1:]
