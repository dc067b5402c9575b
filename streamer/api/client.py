"""`ApiClient`: the one Managed Agents client of the streamer and every consumer.

It lists sessions, pages a session's events, opens its stream, and sends events (`post_json`).

Sends `x-api-key` and the documented `anthropic-version`, plus the Managed Agents beta header
(spec §1.1). Array parameters use the SDK's brackets form (`statuses[]=idle`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from streamer.api.errors import ApiBodyError, ApiConnectionError, ApiStatusError
from streamer.resource import AsyncResource

BETA = "managed-agents-2026-04-01"
API_VERSION = "2023-06-01"
LIVE_STATUSES = ("running", "idle", "rescheduling")
DELTA_TYPES = ("agent.message", "agent.thinking")  # the previews a stream offers (spec §3.3)

Params = list[tuple[str, str]]


class ApiClient(AsyncResource):
    """One HTTP connection pool for every follower of a process. `stop` is safe twice."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        request_timeout_secs: float = 60.0,
        connect_timeout_secs: float = 10.0,
        event_deltas: Sequence[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Opt-in previews (`agent.message`, `agent.thinking`) for every stream (spec §3.3).
        self._deltas: Params = [("event_deltas[]", kind) for kind in event_deltas]
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_secs, sock_connect=connect_timeout_secs
        )
        # Streams are long-lived: their only timeout is the reader's stall timeout.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_secs)
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.base_url!r})"

    async def start(self) -> None:
        if self._http is None:
            # limit=0: one connection per followed session, however many there are.
            connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
            self._http = aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    def _headers(self) -> dict[str, str]:
        headers = {
            "anthropic-version": API_VERSION,
            "anthropic-beta": BETA,
            "accept": "application/json",
        }
        if key := self._api_key.get_secret_value():
            headers["x-api-key"] = key
        return headers

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("ApiClient is not started")
        return self._http

    async def get_json(self, path: str, params: Params | None = None) -> dict[str, Any]:
        """GET `path` and return its JSON object; raises ApiError subclasses."""
        return await self._json("GET", path, params=params or [])

    async def post_json(self, path: str, body: Any) -> dict[str, Any]:
        """POST `body` (as JSON) to `path` and return the JSON object answered; raises ApiError
        subclasses (`ApiStatusError.status` says which error status)."""
        return await self._json("POST", path, data=orjson.dumps(body))

    async def _json(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        headers = self._headers()
        if "data" in request:
            headers["content-type"] = "application/json"
        try:
            async with self._session().request(
                method, self.base_url + path, headers=headers, **request
            ) as response:
                body = await response.read()
                if response.status >= 400:
                    raise _status_error(method, path, response, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiConnectionError(f"{method} {path} failed: {type(exc).__name__}") from None
        if not body and method != "GET":
            return {}
        try:
            result = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiBodyError(f"{method} {path} returned a body that is not JSON") from None
        if not isinstance(result, dict):
            raise ApiBodyError(f"{method} {path} returned a non-object body")
        return result

    async def get_session(self, session_id: str) -> dict[str, Any]:
        """Retrieve one session."""
        return await self.get_json(f"/v1/sessions/{session_id}")

    async def list_sessions(
        self,
        statuses: Sequence[str] = LIVE_STATUSES,
        limit: int = 100,
        *,
        created_at_gte: str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every session with one of `statuses` (none: any status), over all pages; optionally
        only those created at or after `created_at_gte`, in `order` (`asc`/`desc`) of creation."""
        params: Params = [("limit", str(limit)), *(("statuses[]", s) for s in statuses)]
        if created_at_gte is not None:
            params.append(("created_at[gte]", created_at_gte))
        if order is not None:
            params.append(("order", order))
        async for page in self._pages("/v1/sessions", params):
            for session in page:
                yield session

    async def list_events(
        self,
        session_id: str,
        *,
        created_at_gte: str | None = None,
        limit: int = 1000,
        types: Sequence[str] = (),
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """A session's history in chronological order, one page at a time (only `types`, when
        given)."""
        params: Params = [("order", "asc"), ("limit", str(limit)), *(("types[]", t) for t in types)]
        if created_at_gte is not None:
            params.append(("created_at[gte]", created_at_gte))
        async for page in self._pages(f"/v1/sessions/{session_id}/events", params):
            yield page

    async def _pages(self, path: str, params: Params) -> AsyncIterator[list[dict[str, Any]]]:
        cursor: str | None = None
        while True:
            query = params if cursor is None else [*params, ("page", cursor)]
            body = await self.get_json(path, query)
            data = body.get("data")
            yield data if isinstance(data, list) else []
            cursor = body.get("next_page")
            if not cursor:
                return

    @contextlib.asynccontextmanager
    async def open_stream(self, session_id: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """The session's SSE stream, opened; raises ApiError if it does not open with 200."""
        path = f"/v1/sessions/{session_id}/events/stream"
        headers = {**self._headers(), "accept": "text/event-stream"}
        try:
            response = await self._session().get(
                self.base_url + path,
                params=self._deltas,
                headers=headers,
                timeout=self._stream_timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiConnectionError(f"GET {path} failed: {type(exc).__name__}") from None
        try:
            if response.status >= 400:
                body = await _read_small(response)
                raise _status_error("GET", path, response, body)
            yield response
        finally:
            response.close()  # the body is never complete: drop the connection, do not pool it


async def _read_small(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.content.read(65536)
    except (aiohttp.ClientError, TimeoutError):
        return b""


def _status_error(
    method: str, path: str, response: aiohttp.ClientResponse, body: bytes
) -> ApiStatusError:
    return ApiStatusError(method, path, response.status, _error_type(body), response.headers)


def _error_type(body: bytes) -> str:
    try:
        error_type = orjson.loads(body)["error"]["type"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "unknown"
    return error_type if isinstance(error_type, str) and error_type.isidentifier() else "unknown"
