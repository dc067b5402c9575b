"""Consumers of the streamer's Kafka topics, and the public seam for writing one.

A consumer (in this repository or a third party's package) imports only from here:

    from consumers import Consumer, EventRecord, KafkaSettings, TransientError

`Consumer`, `EventRecord` and `ConsumerContext` are the framework (`consumers/base.py`);
`KafkaSettings` the connection settings every process shares (`KAFKA_*` environment);
`AsyncResource` the `async with` lifecycle the runner and the streamer's parts follow;
`configure_logging` the structured logging set-up of `streamer` processes. Everything else in
`consumers.*` and `streamer.*` is internal and may change without notice.

The consumers that ship, each registered under the `agents_streamer.consumers` entry point group
in `pyproject.toml` (and listed in `docs/CONSUMERS.md`):

- `approvals` (`consumers/approvals/`): the approval bot and its approver web page.
- `metrics` (`consumers/metrics/`): the fleet as Prometheus metrics, counted exactly once.
- `archive` (`consumers/archive/`): every event exactly once in a Delta Lake table.
"""

from consumers.base import Consumer, ConsumerContext, EventRecord, SeenIds
from consumers.errors import BadRecordError, ConsumerError, TransientError
from streamer.kafka.config import KafkaSettings
from streamer.logs import configure_logging
from streamer.resource import AsyncResource

__all__ = [
    "AsyncResource",
    "BadRecordError",
    "Consumer",
    "ConsumerContext",
    "ConsumerError",
    "EventRecord",
    "KafkaSettings",
    "SeenIds",
    "TransientError",
    "configure_logging",
]
