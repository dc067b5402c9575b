"""The record format subscribers rely on (docs/RECORDS.md): events, checkpoints, dead letters.

Event records are CloudEvents 1.0 in Kafka binary mode: the value is the event JSON exactly as the
API sent it, the metadata are `ce_*` headers. Header lists are assembled from pre-encoded parts so
that no event is parsed or re-serialised on the way through.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streamer.events import Checkpoint, SessionEvent

Headers = list[tuple[str, bytes]]

CHECKPOINT_VERSION = 1
DLQ_REASON_TOO_LARGE = "message_too_large"
# Record batch header (61 bytes) plus the worst-case varints of one record.
_RECORD_OVERHEAD = 61 + 21
_HEADER_OVERHEAD = 10
_SUMMARY_PREFIX_BYTES = 1024
_THREAD_HEADER_BYTES = len("ce_threadid") + _HEADER_OVERHEAD
_AGENT_HEADER_BYTES = len("ce_agentid") + _HEADER_OVERHEAD
_MODEL_HEADER_BYTES = len("ce_agentmodel") + _HEADER_OVERHEAD


@dataclass(slots=True)
class OutRecord:
    """One record ready for the producer (not frozen: a frozen dataclass is slower to build, and
    event records are built for every event)."""

    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone (compaction deletes the key)
    headers: Headers

    def size(self) -> int:
        """An upper bound of this record's size in a batch of its own, as the broker counts it."""
        headers = sum(len(k) + len(v) + _HEADER_OVERHEAD for k, v in self.headers)
        value = len(self.value) if self.value is not None else 0
        return _RECORD_OVERHEAD + len(self.key) + value + headers


class RecordFormat:
    """Builds the records of one sink: event, dead-letter and checkpoint records."""

    def __init__(
        self, *, source: str, events_topic: str, checkpoints_topic: str, dead_letter_topic: str
    ) -> None:
        self.events_topic = events_topic
        self.checkpoints_topic = checkpoints_topic
        self.dead_letter_topic = dead_letter_topic
        self._static: Headers = [
            ("ce_specversion", b"1.0"),
            ("ce_source", source.encode()),
            ("content-type", b"application/json"),
        ]
        # The static headers plus the names and overheads of the four per-event ones.
        self._fixed_bytes = sum(len(k) + len(v) + _HEADER_OVERHEAD for k, v in self._static) + sum(
            len(name) + _HEADER_OVERHEAD for name in ("ce_id", "ce_type", "ce_subject", "ce_time")
        )
        self._types: dict[str, bytes] = {}

    def event_headers(self, event: SessionEvent) -> Headers:
        """The CloudEvents binary-mode headers of one event."""
        type_bytes = self._types.get(event.type)
        if type_bytes is None:
            type_bytes = self._types[event.type] = event.type.encode()
        headers = [
            *self._static,
            ("ce_id", event.event_id.encode()),
            ("ce_type", type_bytes),
            ("ce_subject", event.session_id.encode()),
            ("ce_time", event.processed_at.encode()),
        ]
        if event.thread_id:
            headers.append(("ce_threadid", event.thread_id.encode()))
        if event.agent_id:
            headers.append(("ce_agentid", event.agent_id.encode()))
        if event.agent_model:
            headers.append(("ce_agentmodel", event.agent_model.encode()))
        return headers

    def event_size(self, event: SessionEvent) -> int:
        """`event_record(event).size()`, without building the record (ids are ASCII: the API's
        ids, types and timestamps are, and a non-ASCII one only makes this an overestimate)."""
        size = (
            _RECORD_OVERHEAD
            + self._fixed_bytes
            + 2 * len(event.session_id)  # the key and ce_subject
            + len(event.raw)
            + len(event.event_id)
            + len(event.type)
            + len(event.processed_at)
        )
        if event.thread_id:
            size += len(event.thread_id) + _THREAD_HEADER_BYTES
        if event.agent_id:
            size += len(event.agent_id) + _AGENT_HEADER_BYTES
        if event.agent_model:
            size += len(event.agent_model) + _MODEL_HEADER_BYTES
        return size

    def event_record(self, event: SessionEvent) -> OutRecord:
        """The record of one event on the events topic."""
        return OutRecord(
            self.events_topic, event.session_id.encode(), event.raw, self.event_headers(event)
        )

    def dead_letter(self, event: SessionEvent, reason: str, limit_bytes: int) -> OutRecord:
        """The dead-letter record of an event: the event itself, or a summary if even that is
        too large for the dead-letter topic."""
        size = len(event.raw)
        headers = [
            *self.event_headers(event),
            ("dlq_reason", reason.encode()),
            ("dlq_topic", self.events_topic.encode()),
            ("dlq_size_bytes", str(size).encode()),
        ]
        record = OutRecord(
            self.dead_letter_topic,
            event.session_id.encode(),
            event.raw,
            [*headers, ("dlq_truncated", b"false")],
        )
        if record.size() <= limit_bytes:
            return record
        summary = orjson.dumps(
            {
                "reason": reason,
                "session_id": event.session_id,
                "event_id": event.event_id,
                "type": event.type,
                "processed_at": event.processed_at,
                "size_bytes": size,
                "raw_prefix": event.raw[:_SUMMARY_PREFIX_BYTES].decode("utf-8", "replace"),
            }
        )
        return OutRecord(
            self.dead_letter_topic,
            event.session_id.encode(),
            summary,
            [*headers, ("dlq_truncated", b"true")],
        )

    def checkpoint_record(self, checkpoint: Checkpoint) -> OutRecord:
        """The compacted checkpoint record of one session."""
        return OutRecord(
            self.checkpoints_topic,
            checkpoint.session_id.encode(),
            encode_checkpoint(checkpoint),
            [("content-type", b"application/json")],
        )

    def checkpoint_tombstone(self, session_id: str) -> OutRecord:
        """The record that deletes a forgotten session's checkpoint once the topic compacts."""
        return OutRecord(self.checkpoints_topic, session_id.encode(), None, [])


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The JSON value of a checkpoint record."""
    return orjson.dumps(
        {
            "version": CHECKPOINT_VERSION,
            "session_id": checkpoint.session_id,
            "processed_at": checkpoint.processed_at,
            "boundary_ids": list(checkpoint.boundary_ids),
            "finished": checkpoint.finished,
        }
    )


def decode_checkpoint(value: bytes) -> Checkpoint:
    """Parse a checkpoint record's value; raises ValueError or TypeError if malformed."""
    data = orjson.loads(value)
    if not isinstance(data, dict):
        raise TypeError("checkpoint is not a JSON object")
    session_id, processed_at = data.get("session_id"), data.get("processed_at")
    boundary, finished = data.get("boundary_ids"), data.get("finished", False)
    if not isinstance(session_id, str) or not session_id or not isinstance(processed_at, str):
        raise ValueError("checkpoint lacks session_id or processed_at")
    if not isinstance(boundary, list) or not all(isinstance(i, str) for i in boundary):
        raise ValueError("checkpoint boundary_ids is not a list of strings")
    if not isinstance(finished, bool):
        raise TypeError("checkpoint finished is not a boolean")
    return Checkpoint(session_id, processed_at, tuple(boundary), finished=finished)
