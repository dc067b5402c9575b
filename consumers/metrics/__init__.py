"""The metrics consumer: the fleet's event log as Prometheus metrics, counted exactly once.

`streamer consume metrics --http-port N` folds `agents.session-events` (and the approval bot's
audit records on `agents.approvals`) into per-partition aggregates, stores each partition's
aggregates with the offset they cover in one Kafka transaction, and serves the stored totals of
the partitions it owns on `/metrics`. See docs/METRICS.md.
"""

# The runner's own per-consumer metrics lived in `consumers/metrics.py`, which this package
# shadows; they are kept here under the same names (`from consumers import metrics`).
from consumers.metrics.runner_metrics import COMMITS, ERRORS, HANDLER_SECONDS, LAG, RECORDS

__all__ = ["COMMITS", "ERRORS", "HANDLER_SECONDS", "LAG", "RECORDS"]
