"""The few Managed Agents API calls the bot makes: send a confirmation, read history, a session."""

from __future__ import annotations

import enum
from typing import Any

import aiohttp
import orjson

from consumers.approvals.config import ApprovalSettings
from consumers.approvals.errors import ApiError
from streamer.resource import AsyncResource

BETA = "managed-agents-2026-04-01"


class Sent(enum.Enum):
    """What became of one `user.tool_confirmation` POST."""

    ACCEPTED = "accepted"  # 2xx: the session has our answer
    GONE = "gone"  # 404 / 409: the session is deleted or archived
    REFUSED = "refused"  # another 4xx: not pending (answered, interrupted) or invalid


class ApiClient(AsyncResource):
    """An aiohttp session with the API's headers; `start`/`stop`, `async with`."""

    def __init__(self, settings: ApprovalSettings) -> None:
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool; safe twice."""
        if self._http is None:
            headers = {"anthropic-version": "2023-06-01", "anthropic-beta": BETA}
            if self._settings.api_key is not None:
                headers["x-api-key"] = self._settings.api_key.get_secret_value()
            timeout = aiohttp.ClientTimeout(total=self._settings.api_timeout_secs)
            self._http = aiohttp.ClientSession(
                base_url=self._settings.api_base_url.rstrip("/") + "/",
                headers=headers,
                timeout=timeout,
            )

    async def stop(self) -> None:
        """Close the pool; safe twice."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

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
        status, _body = await self._request(
            "POST", f"v1/sessions/{session_id}/events", json={"events": [confirmation]}
        )
        if status < 300:
            return Sent.ACCEPTED
        if status in (404, 409):
            return Sent.GONE
        if status in (401, 403, 408, 429) or status >= 500:
            raise ApiError(f"confirmation not accepted: HTTP {status}", status=status)
        return Sent.REFUSED

    async def confirmation_exists(self, session_id: str, tool_use_id: str) -> bool:
        """Whether the session's history holds a `user.tool_confirmation` for `tool_use_id`."""
        page: str | None = None
        while True:
            params: dict[str, str] = {"types[]": "user.tool_confirmation", "limit": "1000"}
            if page:
                params["page"] = page
            status, body = await self._request(
                "GET", f"v1/sessions/{session_id}/events", params=params
            )
            if status == 404:
                return False
            if status >= 300 or not isinstance(body, dict):
                raise ApiError(f"history not readable: HTTP {status}", status=status)
            data = body.get("data") or []
            if any(isinstance(e, dict) and e.get("tool_use_id") == tool_use_id for e in data):
                return True
            page = body.get("next_page")
            if not page:
                return False

    async def check_key(self) -> None:
        """One cheap request at start: raises a non-retriable `ApiError` when the API refuses the
        key (401/403). Anything else is left to the retries of real work."""
        try:
            status, _ = await self._request("GET", "v1/sessions", params={"limit": "1"})
        except ApiError:
            return
        if status in (401, 403):
            raise ApiError(
                f"the API at {self._settings.api_base_url} refused ANTHROPIC_API_KEY "
                f"(HTTP {status})",
                status=status,
            )

    async def session(self, session_id: str) -> dict[str, Any] | None:
        """The session object, or None when it is gone (404)."""
        status, body = await self._request("GET", f"v1/sessions/{session_id}")
        if status == 404:
            return None
        if status >= 300 or not isinstance(body, dict):
            raise ApiError(f"session not readable: HTTP {status}", status=status)
        return body

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        if self._http is None:
            raise ApiError("API client is not started")
        try:
            async with self._http.request(method, path, **kwargs) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"API unreachable: {type(exc).__name__}") from None
        try:
            return response.status, orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return response.status, None
