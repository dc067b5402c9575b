"""Standard Webhooks verification and the receiver's dedupe (spec §10).

Signed content is `"{webhook-id}.{webhook-timestamp}.{raw body}"`, HMAC-SHA256 keyed with the
base64-decoded part of the `whsec_…` secret; `webhook-signature` holds space-separated `v1,<b64>`
entries, any of which may match. Timestamps further than the tolerance from now are rejected
(replay protection); retries of one delivery share a `webhook-id` and are acknowledged once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping

from pydantic import SecretStr


class WebhookError(Exception):
    """A delivery that must be rejected; `reason` is from a fixed vocabulary."""

    retriable = False

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook rejected: {reason}")
        self.reason = reason


class WebhookVerifier:
    """Verifies signatures and remembers recent webhook ids (bounded)."""

    def __init__(
        self, secret: SecretStr, tolerance_secs: int = 300, remember: int = 10_000
    ) -> None:
        self._key = _decode_secret(secret)
        self._tolerance = tolerance_secs
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"WebhookVerifier(tolerance_secs={self._tolerance})"

    def verify(self, body: bytes, headers: Mapping[str, str], now: float | None = None) -> str:
        """Return the webhook id of a genuine delivery; raise WebhookError otherwise."""
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        if not (webhook_id and timestamp and signatures):
            raise WebhookError("missing_headers")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise WebhookError("bad_timestamp") from None
        if abs((time.time() if now is None else now) - sent_at) > self._tolerance:
            raise WebhookError("stale_timestamp")
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        for entry in signatures.split():
            version, _, signature = entry.partition(",")
            if version == "v1" and hmac.compare_digest(signature.encode(), expected):
                return webhook_id
        raise WebhookError("bad_signature")

    def first_time(self, webhook_id: str) -> bool:
        """True the first time a webhook id is seen (within the last `remember` ids)."""
        if webhook_id in self._seen:
            self._seen.move_to_end(webhook_id)
            return False
        self._seen[webhook_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True


def sign(secret: SecretStr, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a delivery (what a sender computes)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _decode_secret(secret: SecretStr) -> bytes:
    value = secret.get_secret_value().removeprefix("whsec_")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not whsec_<base64>") from None
