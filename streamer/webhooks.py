"""Standard Webhooks verification and the receiver's dedupe (spec §10).

Signatures are checked by the maintained `standardwebhooks` package (the one the official SDK's
`webhooks.unwrap` uses): signed content is `"{webhook-id}.{webhook-timestamp}.{raw body}"`,
HMAC-SHA256 keyed with the base64-decoded part of the `whsec_…` secret, and `webhook-signature`
holds space-separated `v1,<b64>` entries, any of which may match. Before that, this module checks
the headers itself so that a rejection says why (`reason`, a fixed vocabulary for the metric),
and applies our tolerance: timestamps further than `tolerance_secs` from now are rejected (replay
protection; at most the standard's 5 minutes, which the package enforces too). Retries of one
delivery share a `webhook-id` and are acknowledged once.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_TOLERANCE_SECS = 300  # the standard's (and the package's) window


class WebhookError(Exception):
    """A delivery that must be rejected; `reason` is from a fixed vocabulary."""

    retriable = False

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook rejected: {reason}")
        self.reason = reason


class WebhookVerifier:
    """Verifies signatures and remembers recent webhook ids (bounded)."""

    def __init__(
        self, secret: SecretStr, tolerance_secs: int = MAX_TOLERANCE_SECS, remember: int = 10_000
    ) -> None:
        if not 0 < tolerance_secs <= MAX_TOLERANCE_SECS:
            raise ValueError(f"webhook tolerance must be 1..{MAX_TOLERANCE_SECS} seconds")
        self._webhook = Webhook(_decode_secret(secret))
        self._tolerance = tolerance_secs
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"WebhookVerifier(tolerance_secs={self._tolerance})"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Return the webhook id of a genuine delivery; raise WebhookError otherwise."""
        headers = {key.lower(): value for key, value in headers.items()}
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        if not (webhook_id and timestamp and headers.get("webhook-signature")):
            raise WebhookError("missing_headers")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise WebhookError("bad_timestamp") from None
        if abs(time.time() - sent_at) > self._tolerance:
            raise WebhookError("stale_timestamp")
        try:
            self._webhook.verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError):  # incl. bad base64, a body not UTF-8
            raise WebhookError("bad_signature") from None
        return webhook_id

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
    moment = datetime.fromtimestamp(timestamp, UTC)
    return Webhook(_decode_secret(secret)).sign(webhook_id, moment, body.decode())


def _decode_secret(secret: SecretStr) -> bytes:
    """The key of a `whsec_<base64>` secret; strict, so that a mistyped secret fails at start
    (the package would pad and decode whatever it is given)."""
    value = secret.get_secret_value().removeprefix("whsec_")
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not whsec_<base64>") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key
