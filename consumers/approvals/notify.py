"""Optional notification webhook (Slack-compatible JSON) on each new escalation."""

from __future__ import annotations

import aiohttp
import structlog
from pydantic import SecretStr

from consumers.approvals import metrics
from consumers.approvals.model import Entry

log = structlog.get_logger(__name__)


def slack_message(entry: Entry) -> dict[str, object]:
    """A Slack incoming-webhook body: `text` plus one section block."""
    text = (
        f"Approval needed: `{entry.tool}` in session {entry.session_id} "
        f"(tool use {entry.tool_use_id}). Input: {entry.input_preview[:500]}"
    )
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class Notifier:
    """POSTs to the webhook; failures are logged and counted, never raised."""

    def __init__(self, url: SecretStr | None) -> None:
        self._url = url.get_secret_value() if url is not None else None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pool (when a URL is configured); safe twice."""
        if self._url and self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        """Close the pool; safe twice."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def escalated(self, entry: Entry) -> None:
        """Tell people about a new escalation."""
        if self._http is None or not self._url:
            return
        try:
            async with self._http.post(self._url, json=slack_message(entry)) as response:
                ok = response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if not ok:
            metrics.PROBLEMS.labels("webhook_failed").inc()
            log.warning("escalation_notification_failed", tool_use_id=entry.tool_use_id)
