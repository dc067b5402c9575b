"""The few Managed Agents API calls the bot makes: send a confirmation, read history, a session.

They go through the one Managed Agents client (`streamer.api.ApiClient`: headers, the beta
header, error parsing and the SDK's retry rules in one place); this module only says what each
answer means to the bot. Failures are `streamer.api.ApiError`s, whose `retriable` the runner
honours like a consumer error's.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import SecretStr

from consumers.approvals.config import ApprovalSettings
from streamer.api import ApiClient, ApiError
from streamer.api.errors import ApiBodyError, ApiStatusError
from streamer.resource import AsyncResource


class Sent(enum.Enum):
    """What became of one `user.tool_confirmation` POST."""

    ACCEPTED = "accepted"  # 2xx: the session has our answer
    GONE = "gone"  # 404 / 409: the session is deleted or archived
    REFUSED = "refused"  # another 4xx: not pending (answered, interrupted) or invalid


class BotApi(AsyncResource):
    """The bot's calls over one `ApiClient`; `start`/`stop`, `async with`."""

    def __init__(self, settings: ApprovalSettings) -> None:
        self._settings = settings
        self._client = ApiClient(
            settings.api_base_url,
            settings.api_key or SecretStr(""),
            request_timeout_secs=settings.api_timeout_secs,
        )

    async def start(self) -> None:
        """Open the connection pool; safe twice."""
        await self._client.start()

    async def stop(self) -> None:
        """Close the pool; safe twice."""
        await self._client.stop()

    async def send_confirmation(
        self, session_id: str, tool_use_id: str, result: str, deny_message: str | None
    ) -> Sent:
        """POST one confirmation. Raises a retriable `ApiError` when the outcome is unknown."""
        confirmation: dict[str, Any] = {
            "type": "user.tool_confirmation",
            "tool_use_id": tool_use_id,
            "result": result,
        }
        if result == "deny" and deny_message:
            confirmation["deny_message"] = deny_message
        try:
            await self._client.post_json(
                f"/v1/sessions/{session_id}/events", {"events": [confirmation]}
            )
        except ApiBodyError:
            return Sent.ACCEPTED  # a success status: whatever the body, the answer is in
        except ApiStatusError as exc:
            if exc.status in (404, 409):
                return Sent.GONE
            if exc.status in (401, 403) or exc.retriable:
                raise  # the key, a rate limit, the server: not an answer about this call
            return Sent.REFUSED
        return Sent.ACCEPTED

    async def confirmation_exists(self, session_id: str, tool_use_id: str) -> bool:
        """Whether the session's history holds a `user.tool_confirmation` for `tool_use_id`."""
        try:
            async for page in self._client.list_events(
                session_id, types=("user.tool_confirmation",)
            ):
                if any(isinstance(e, dict) and e.get("tool_use_id") == tool_use_id for e in page):
                    return True
        except ApiStatusError as exc:
            if exc.status == 404:
                return False
            raise
        return False

    async def check_key(self) -> None:
        """One cheap request at start: raises a non-retriable `ApiError` when the API refuses the
        key (401/403). Anything else is left to the retries of real work."""
        try:
            await self._client.get_json("/v1/sessions", [("limit", "1")])
        except ApiStatusError as exc:
            if exc.status in (401, 403):
                raise
        except ApiError:
            return

    async def session(self, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when it is gone (404)."""
        try:
            return await self._client.get_session(session_id)
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise
