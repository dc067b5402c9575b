"""The discovery watermark: how far creation-ordered paging of `GET /v1/sessions` has got.

A watermark is the `created_at` of the newest session a pass secured plus the ids created at
exactly that instant (several sessions can share one stamp). The next pass asks for
`created_at[gte]=created_at` and skips those ids, so the boundary is read twice but acted on once.
Stores: `InMemoryWatermarks` (tests, processes without Kafka) and `KafkaWatermarks`
(`streamer.discovery.kafka_store`, a compacted one-partition topic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Watermark:
    """Every session created before `created_at`, and `ids` at it, has been secured."""

    created_at: str
    ids: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps({"v": 1, "created_at": self.created_at, "ids": list(self.ids)})

    @classmethod
    def decode(cls, raw: bytes) -> Watermark:
        """Parse a record value; raises ValueError on anything else."""
        try:
            body = orjson.loads(raw)
            created_at, ids = body["created_at"], body["ids"]
            valid = isinstance(created_at, str) and isinstance(ids, list)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError("not a discovery watermark") from exc
        if not valid:
            raise ValueError("not a discovery watermark")
        return cls(created_at, tuple(str(i) for i in ids))


class WatermarkStore(Protocol):
    """Where discovery keeps its watermark between passes and across restarts."""

    async def load(self) -> Watermark | None:
        """The last saved watermark, or None before the very first pass."""
        ...

    async def save(self, watermark: Watermark) -> None:
        """Keep `watermark` (durably, for a real store) before returning."""
        ...


class InMemoryWatermarks:
    """A `WatermarkStore` that lives as long as the process: every start is a first start."""

    def __init__(self, initial: Watermark | None = None) -> None:
        self.last = initial
        self.saves = 0

    async def load(self) -> Watermark | None:
        return self.last

    async def save(self, watermark: Watermark) -> None:
        self.last = watermark
        self.saves += 1
