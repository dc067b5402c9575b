"""The sink's one exception root; the retry decision is the `retriable` attribute."""

from __future__ import annotations

from aiokafka import errors as kafka_errors

# Errors after which retrying with the same transactional id cannot help: another instance owns
# it, the cluster forbids it, or the cluster cannot do transactions at all.
_FATAL_KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.ProducerFenced,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.TransactionalIdAuthorizationFailed,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.UnsupportedForMessageFormatError,
)


class SinkError(Exception):
    """Root of every error the Kafka sink raises; `retriable` says whether to try again."""

    retriable = False


class SinkTransientError(SinkError):
    """The broker is unreachable or slow; the same batch is retried after a backoff."""

    retriable = True


class SinkFencedError(SinkError):
    """Another instance took over this transactional id (or the cluster refused it): stop."""

    retriable = False


class AmbiguousCommitError(SinkTransientError):
    """The commit request failed after every record was acknowledged: the transaction may or may
    not have committed. `marker` names one of its records (topic, partition, offset); a
    `read_committed` read of it after the transaction is resolved tells which."""

    def __init__(self, marker: tuple[str, int, int], cause: str) -> None:
        super().__init__(f"commit outcome unknown ({cause})")
        self.marker = marker


class SinkStoppedError(SinkError):
    """The sink is stopped or failed; no more events are accepted."""

    retriable = False


def classify(exc: BaseException) -> SinkError:
    """Wrap a client-side failure in the sink's hierarchy, deciding fatal versus transient."""
    if isinstance(exc, SinkError):
        return exc
    if isinstance(exc, _FATAL_KAFKA_ERRORS):
        return SinkFencedError(type(exc).__name__)
    return SinkTransientError(type(exc).__name__)


def is_fatal(exc: BaseException) -> bool:
    """True when `exc` means the sink must stop rather than retry."""
    return not classify(exc).retriable
