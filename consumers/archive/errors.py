"""The archive's errors: what went wrong writing the table, and whether to try again."""

from __future__ import annotations

from consumers.errors import ConsumerError


class ArchiveError(ConsumerError):
    """Writing or reading the table failed. `kind` is the metric label (fixed vocabulary)."""

    retriable = True
    kind = "store_error"
