"""Error classification and retry advice (spec §9.3)."""

from __future__ import annotations

import pytest

from streamer.api.errors import ApiStatusError, is_retriable, retry_after_secs


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {}, True),
        (529, {}, True),
        (500, {}, True),
        (408, {}, True),
        (401, {}, False),
        (404, {}, False),
        (400, {}, False),
        (500, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
    ],
)
def test_retriable_follows_the_sdk_rules(
    status: int, headers: dict[str, str], expected: bool
) -> None:
    """x-should-retry wins; else 408/409/429/5xx retry and other 4xx do not."""
    assert expected == is_retriable(status, headers)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}, 20.0),
        ({"retry-after": "0"}, None),
        ({"retry-after": "600"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_parses_ms_seconds_and_dates(
    headers: dict[str, str], expected: float | None
) -> None:
    """retry-after-ms, then retry-after (seconds or HTTP-date); out-of-range advice is ignored."""
    assert expected == retry_after_secs(headers, now=10.0)


def test_status_error_message_has_no_body_text() -> None:
    """The exception names method, path, status and type only."""
    error = ApiStatusError("GET", "/v1/sessions", 401, "authentication_error", {})

    assert "GET /v1/sessions returned 401 authentication_error" == str(error)
