"""Standard Webhooks verification and dedupe."""

from __future__ import annotations

import base64
import time

import anthropic
import pytest
from pydantic import SecretStr

from streamer.webhooks import WebhookError, WebhookVerifier, sign

SECRET = SecretStr("whsec_" + base64.b64encode(b"k" * 32).decode())
BODY = b'{"type":"event","id":"whe_1","data":{"type":"session.created","id":"sesn_1"}}'
NOW = int(time.time())  # the package checks timestamps against the clock


def _headers(signature: str, timestamp: int = NOW, webhook_id: str = "whe_1") -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_genuine_delivery_returns_its_id() -> None:
    """A correctly signed, fresh delivery verifies and yields the webhook id."""
    verifier = WebhookVerifier(SECRET)

    assert "whe_1" == verifier.verify(BODY, _headers(sign(SECRET, "whe_1", NOW, BODY)))


def test_any_matching_signature_entry_is_enough() -> None:
    """Space-separated entries: one valid v1 signature among others verifies (key rotation)."""
    signature = "v1,bm9wZQ== " + sign(SECRET, "whe_1", NOW, BODY)

    assert "whe_1" == WebhookVerifier(SECRET).verify(BODY, _headers(signature))


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (BODY + b" ", _headers(sign(SECRET, "whe_1", NOW, BODY)), "bad_signature"),
        (BODY, _headers(sign(SECRET, "whe_1", NOW - 301, BODY), NOW - 301), "stale_timestamp"),
        (BODY, _headers(sign(SECRET, "whe_2", NOW, BODY)), "bad_signature"),
        (BODY, {"webhook-id": "whe_1"}, "missing_headers"),
        (BODY, _headers("v1,x", timestamp=0) | {"webhook-timestamp": "x"}, "bad_timestamp"),
        (BODY, _headers("v1,not base64!"), "bad_signature"),
        (BODY, _headers("no-comma"), "bad_signature"),
        (b"\xff\xfe", _headers(sign(SECRET, "whe_1", NOW, BODY)), "bad_signature"),
    ],
)
def test_bad_or_stale_deliveries_are_rejected(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    """Tampered bodies, other ids, stale timestamps and missing headers are rejected."""
    with pytest.raises(WebhookError) as raised:
        WebhookVerifier(SECRET).verify(body, headers)

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
    headers = _headers(sign(SECRET, "whe_1", NOW, BODY))
    with anthropic.Anthropic(api_key="unused") as client:
        event = client.beta.webhooks.unwrap(
            BODY.decode(), headers=headers, key=SECRET.get_secret_value()
        )

    assert ("whe_1", "sesn_1") == (event.id, event.data.id)


def test_a_tolerance_beyond_the_standard_s_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier(SECRET, tolerance_secs=600)
