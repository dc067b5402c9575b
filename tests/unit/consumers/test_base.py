"""EventRecord parsing, SeenIds, and the Consumer guide's own example."""

from __future__ import annotations

import doctest

import pytest

from consumers import base
from consumers.base import EventRecord, SeenIds
from consumers.errors import BadRecordError


def parse(value: bytes | None, key: bytes | None = b"sesn_1") -> EventRecord:
    return EventRecord.parse(topic="t", partition=0, offset=0, key=key, value=value, headers={})


def test_event_is_parsed_with_its_session_from_the_key() -> None:
    """A JSON event becomes a record naming its session, id and type."""
    record = parse(b'{"id":"sevt_1","type":"agent.message","extra":1}')
    assert ("sesn_1", "sevt_1", "agent.message", 1) == (
        record.session_id, record.event_id, record.type, record.data["extra"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (None, b"sesn_1"),
        (b"\xff\xfe", b"sesn_1"),
        (b"[1, 2]", b"sesn_1"),
        (b'{"type":"agent.message"}', b"sesn_1"),
        (b'{"id":"sevt_1"}', b"sesn_1"),
        (b'{"id":"sevt_1","type":"agent.message"}', None),
    ],
)
def test_records_that_are_not_events_are_rejected(value: bytes | None, key: bytes | None) -> None:
    """Empty, non-JSON, non-object, id-less, type-less or session-less records raise BadRecord."""
    with pytest.raises(BadRecordError):
        parse(value, key)


def test_seen_ids_reports_redeliveries_and_stays_bounded() -> None:
    """add() is False for an id seen before; the oldest id is forgotten past capacity."""
    seen = SeenIds(capacity=2)
    results = [seen.add("a"), seen.add("a"), seen.add("b"), seen.add("c")]
    assert ([True, False, True, True], False, 2) == (results, "a" in seen, len(seen))


def test_the_contributor_guide_example_runs() -> None:
    """The runnable example in Consumer's docstring passes as a doctest."""
    failures, tried = doctest.testmod(base, raise_on_error=False)
    assert (0, True) == (failures, tried > 0)


def test_parse_record_hook_parses_events_by_default() -> None:
    """`Consumer.parse_record` (what the runner calls) is `EventRecord.parse` unless overridden."""

    class Plain(base.Consumer):
        name = "plain"

        async def handle(self, record: EventRecord) -> None:
            del record

    fields = {"topic": "t", "partition": 1, "offset": 2, "key": b"sesn_1",
              "value": b'{"id":"sevt_1","type":"agent.message"}', "headers": {}}  # fmt: skip
    assert EventRecord.parse(**fields) == Plain().parse_record(**fields)  # type: ignore[arg-type]
