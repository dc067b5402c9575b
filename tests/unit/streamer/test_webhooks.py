"""Standard Webhooks verification and dedupe.

The `standardwebhooks` package checks timestamps against the clock, so each delivery is signed
at the moment the test runs (`now()`), never at collection time.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import anthropic
import pytest
from pydantic import SecretStr

from streamer.webhooks import WebhookError, WebhookVerifier, sign

SECRET = SecretStr("whsec_" + base64.b64encode(b"k" * 32).decode())
BODY = b'{"type":"event","id":"whe_1","data":{"type":"session.created","id":"sesn_1"}}'


def now() -> int:
    return int(time.time())


def signed(
    webhook_id: str = "whe_1", age_secs: int = 0, signature: str | None = None
) -> dict[str, str]:
    """Headers of a delivery of BODY sent `age_secs` ago (`signature` replaces the real one)."""
    sent_at = now() - age_secs
    return {
        "webhook-id": "whe_1",
        "webhook-timestamp": str(sent_at),
        "webhook-signature": signature or sign(SECRET, webhook_id, sent_at, BODY),
    }


def test_genuine_delivery_returns_its_id() -> None:
    """A correctly signed, fresh delivery verifies and yields the webhook id."""
    assert "whe_1" == WebhookVerifier(SECRET).verify(BODY, signed())


def test_any_matching_signature_entry_is_enough() -> None:
    """Space-separated entries: one valid v1 signature among others verifies (key rotation)."""
    headers = signed()
    headers["webhook-signature"] = "v1,bm9wZQ== " + headers["webhook-signature"]

    assert "whe_1" == WebhookVerifier(SECRET).verify(BODY, headers)


CASES: list[tuple[bytes, Callable[[], dict[str, str]], str]] = [
    (BODY + b" ", signed, "bad_signature"),
    (BODY, lambda: signed(age_secs=301), "stale_timestamp"),
    (BODY, lambda: signed(webhook_id="whe_2"), "bad_signature"),
    (BODY, lambda: {"webhook-id": "whe_1"}, "missing_headers"),
    (BODY, lambda: signed() | {"webhook-timestamp": "x"}, "bad_timestamp"),
    (BODY, lambda: signed(signature="v1,not base64!"), "bad_signature"),
    (BODY, lambda: signed(signature="no-comma"), "bad_signature"),
    (b"\xff\xfe", signed, "bad_signature"),
]


@pytest.mark.parametrize(("body", "headers", "reason"), CASES)
def test_bad_or_stale_deliveries_are_rejected(
    body: bytes, headers: Callable[[], dict[str, str]], reason: str
) -> None:
    """Tampered or non-UTF-8 bodies, other ids, stale timestamps, malformed signatures and
    missing headers are rejected, each with its reason."""
    with pytest.raises(WebhookError) as raised:
        WebhookVerifier(SECRET).verify(body, headers())

    assert reason == raised.value.reason


def test_retries_of_one_delivery_count_once() -> None:
    """first_time is true once per webhook id."""
    verifier = WebhookVerifier(SECRET)

    assert [True, False, True] == [
        verifier.first_time("whe_1"),
        verifier.first_time("whe_1"),
        verifier.first_time("whe_2"),
    ]


def test_signatures_agree_with_the_sdk_s_verification() -> None:
    """What `sign` makes, the official SDK's `webhooks.unwrap` accepts (same package beneath)."""
    with anthropic.Anthropic(api_key="unused") as client:
        event = client.beta.webhooks.unwrap(
            BODY.decode(), headers=signed(), key=SECRET.get_secret_value()
        )

    assert ("whe_1", "sesn_1") == (event.id, event.data.id)


def test_a_tolerance_beyond_the_standard_s_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier(SECRET, tolerance_secs=600)
