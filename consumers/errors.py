"""The one exception root of the consumers package; the retry decision is an attribute."""

from __future__ import annotations


class ConsumerError(Exception):
    """Raised by consumers and the runner. `retriable` tells the runner whether to try again.

    `kind` is a label from a fixed vocabulary (it becomes a metric label and a dead-letter header),
    so a handler can say what went wrong without the runner parsing messages.
    """

    retriable: bool = False
    kind: str = "handler_error"

    def __init__(self, message: str, *, retriable: bool | None = None, kind: str | None = None):
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable
        if kind is not None:
            self.kind = kind


class TransientError(ConsumerError):
    """Worth retrying: a timeout, a broker or API hiccup."""

    retriable = True
    kind = "transient"


class BadRecordError(ConsumerError):
    """The record on the topic is not a session event; retrying cannot help."""

    retriable = False
    kind = "bad_record"


class UnknownConsumerError(ConsumerError):
    """No consumer of that name is registered in the entry-point group."""

    kind = "config"
