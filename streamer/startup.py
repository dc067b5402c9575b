"""Starting a process whose dependencies may not be there yet, and saying clearly why not.

At start a process meets its configuration for the first time: Kafka may be unreachable (still
starting, or a wrong address), a topic may be missing with no right to create it, the API may
refuse the key. `start_within` tries `start` until it succeeds, retrying what waiting can fix
(Kafka or the API unreachable, a 5xx) with backoff up to a deadline, and gives up at once on what
it cannot fix (a refused key, a topic that cannot be created). Either way the caller gets one
`StartupError` whose message is one line naming the setting to check: `streamer run` and
`streamer consume` print it and exit 1, with no traceback.

Messages never carry a secret: they name settings, addresses and error types, never values of
keys or passwords, and never a response body.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaConnectionError

from streamer.api.errors import ApiConnectionError, ApiError, ApiStatusError
from streamer.backoff import Backoff
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkError

log = structlog.get_logger(__name__)

T = TypeVar("T")

START_BACKOFF = Backoff(initial_secs=0.5, max_secs=10.0)

# Kafka errors that mean "not reachable (yet)": waiting may fix them.
_KAFKA_UNREACHABLE = (
    KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
    kafka_errors.CoordinatorLoadInProgressError,
)
_KAFKA_REFUSED = (
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.GroupAuthorizationFailedError,
    kafka_errors.TransactionalIdAuthorizationFailed,
)


class StartupError(Exception):
    """Why a process could not start, in one line; `retriable` if waiting might help;
    `exit_code` for the process (2: a configuration the program refuses)."""

    def __init__(self, message: str, *, retriable: bool, exit_code: int = 1) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.exit_code = exit_code


@dataclass(frozen=True)
class Explainer:
    """Turns the exceptions of a start into `StartupError`s that name the settings involved."""

    kafka: KafkaSettings
    api_base_url: str | None = None  # set when the process talks to the API at start

    def __call__(self, exc: BaseException) -> StartupError:
        if isinstance(exc, StartupError):
            return exc
        if isinstance(exc, ApiError):
            return self._api(exc)
        if isinstance(exc, kafka_errors.KafkaError | OSError):
            return self._kafka(exc)
        if isinstance(exc, SinkError):  # e.g. a topic that cannot be created
            return StartupError(f"Kafka at {self.kafka.bootstrap_servers}: {exc}", retriable=False)
        return StartupError(f"{_name(exc)}: {exc}", retriable=False)

    def _kafka(self, exc: Exception) -> StartupError:
        if isinstance(
            exc, kafka_errors.AuthenticationFailedError | kafka_errors.UnsupportedSaslMechanismError
        ):
            return StartupError(
                f"Kafka at {self.kafka.bootstrap_servers} refused the credentials "
                "(check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM)",
                retriable=False,
            )
        if isinstance(exc, _KAFKA_REFUSED):
            return StartupError(
                f"Kafka at {self.kafka.bootstrap_servers} denied this client: {_name(exc)} "
                "(grant its principal the ACLs in docs/RECORDS.md, or create the topics first)",
                retriable=False,
            )
        if isinstance(exc, (*_KAFKA_UNREACHABLE, OSError)):
            # "Unable to bootstrap from [...]" repeats the address: the class name says enough.
            detail = type(exc).__name__ if isinstance(exc, KafkaConnectionError) else _name(exc)
            return StartupError(
                f"cannot reach Kafka at {self.kafka.bootstrap_servers} "
                f"(check KAFKA_BOOTSTRAP_SERVERS and KAFKA_SECURITY_PROTOCOL): {detail}",
                retriable=True,
            )
        return StartupError(
            f"Kafka at {self.kafka.bootstrap_servers} failed the start: {_name(exc)}",
            retriable=bool(getattr(exc, "retriable", False)),
        )

    def _api(self, exc: ApiError) -> StartupError:
        where = f"the API at {self.api_base_url}" if self.api_base_url else "the API"
        if isinstance(exc, ApiStatusError) and exc.status in (401, 403):
            return StartupError(
                f"{where} refused ANTHROPIC_API_KEY ({exc.status} {exc.error_type})",
                retriable=False,
                exit_code=2,
            )
        if isinstance(exc, ApiConnectionError):
            return StartupError(
                f"cannot reach {where} (check ANTHROPIC_BASE_URL): {exc}",
                retriable=True,
            )
        return StartupError(f"{where} failed the start: {exc}", retriable=exc.retriable)


async def start_within(
    start: Callable[[], Awaitable[T]],
    *,
    deadline_secs: float,
    explain: Callable[[BaseException], StartupError],
) -> T:
    """`await start()` until it succeeds; retries what `explain` calls retriable, with capped
    exponential backoff and jitter, while the deadline allows. `start` must clean up after
    itself when it fails (each attempt starts from nothing). Raises `StartupError`."""
    deadline = time.monotonic() + deadline_secs
    attempt = 1
    while True:
        try:
            return await start()
        except Exception as exc:  # noqa: BLE001 - every failure is explained, none escapes raw
            error = explain(exc)
        left = deadline - time.monotonic()
        if not error.retriable or left <= 0:
            raise error
        pause = min(START_BACKOFF.delay(attempt - 1), left)
        log.warning("start_retry", attempt=attempt, reason=str(error), retry_secs=round(pause, 2))
        await asyncio.sleep(pause)
        attempt += 1


def stop_on_signals() -> asyncio.Event:
    """An event SIGTERM and SIGINT set (on the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def start_unless_stopped(
    start: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    deadline_secs: float,
    explain: Callable[[BaseException], StartupError],
) -> T | None:
    """`start_within`, abandoned as soon as `stop` is set (None then): an orchestrator that
    stops a process still waiting for Kafka must not wait for the start deadline."""
    starting = asyncio.create_task(
        start_within(start, deadline_secs=deadline_secs, explain=explain)
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return None
    return starting.result()


def _name(exc: BaseException) -> str:
    """The exception's class name and text, without aiokafka's repeated class-name prefix."""
    text = str(exc)
    name = type(exc).__name__
    text = text.removeprefix(f"{name}: ")
    return f"{name} ({text})" if text and text != name else name
