"""The `streamer.api` exception root and the SDK's retry rules (spec §9.3).

Exceptions carry the status, the error `type` from the body and the server's retry advice;
never the API key, never the response body's message (it can echo input).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

# 408, 409, 429 and every 5xx are worth retrying; other 4xx are the caller's mistake.
_RETRIABLE_4XX = frozenset({408, 409, 429})
MAX_RETRY_AFTER_SECS = 60.0


class ApiError(Exception):
    """Any failure talking to the API; `retriable` says whether trying again may help."""

    retriable: bool = True
    reason: str = "api_error"
    retry_after_secs: float | None = None
    status: int = 0  # the HTTP status of an `ApiStatusError`; 0: no answer, or not an error one


class ApiConnectionError(ApiError):
    """The request did not get a response (refused, reset, timed out)."""

    reason = "connection"


class ApiBodyError(ApiError):
    """A success status with a body that is not the JSON object the API sends (a proxy's page)."""

    reason = "bad_body"


class ApiStatusError(ApiError):
    """The API answered with an error status."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        error_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(f"{method} {path} returned {status} {error_type}")
        self.status = status
        self.error_type = error_type
        self.retriable = is_retriable(status, headers)
        self.retry_after_secs = retry_after_secs(headers)
        self.reason = status_reason(status)


def is_retriable(status: int, headers: Mapping[str, str]) -> bool:
    """`x-should-retry` wins; else 408/409/429 and every status ≥ 500 are retriable."""
    advice = headers.get("x-should-retry", "").strip().lower()
    if advice in ("true", "false"):
        return advice == "true"
    return status in _RETRIABLE_4XX or status >= 500


def status_reason(status: int) -> str:
    """A metric-safe label for a status: one of a fixed vocabulary."""
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status == 529:
        return "overloaded"
    if status >= 500:
        return "server_error"
    return "client_error"


def retry_after_secs(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The server's advised delay: `retry-after-ms`, then `retry-after` (seconds or HTTP-date).

    Like the SDK, advice that is not positive or above a minute is ignored.
    """
    delay: float | None = None
    if (millis := headers.get("retry-after-ms")) is not None:
        delay = _float(millis)
        delay = None if delay is None else delay / 1000.0
    if delay is None and (value := headers.get("retry-after")) is not None:
        delay = _float(value)
        if delay is None:
            delay = _http_date_delay(value, time.time() if now is None else now)
    if delay is None or not 0 < delay <= MAX_RETRY_AFTER_SECS:
        return None
    return delay


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _http_date_delay(value: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - now
