"""Authentication and the beta header, over raw HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from simulator import Simulator, SimulatorConfig

BETA = {"anthropic-beta": "managed-agents-2026-04-01"}


@pytest.fixture
async def locked() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(api_key="right-key", speed=200.0)) as sim:
        yield sim


async def status_of(sim: Simulator, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{sim.base_url}/v1/sessions", headers=headers) as response,
    ):
        body = await response.json()
        return response.status, body.get("error", {}).get("type", "")


async def test_missing_beta_header_is_not_found(simulator: Simulator) -> None:
    """Without the managed-agents beta header the route behaves as non-existent: 404."""
    assert (404, "not_found_error") == await status_of(simulator, {"x-api-key": "k"})


async def test_beta_header_may_be_a_list(simulator: Simulator) -> None:
    """A comma-separated anthropic-beta containing the managed-agents beta is accepted."""
    headers = {"x-api-key": "k", "anthropic-beta": "other-2025-01-01, managed-agents-2026-04-01"}

    assert (200, "") == await status_of(simulator, headers)


async def test_missing_key_is_unauthorized(simulator: Simulator) -> None:
    """No x-api-key and no Authorization header: 401 authentication_error."""
    assert (401, "authentication_error") == await status_of(simulator, BETA)


async def test_configured_key_accepted_as_bearer(locked: Simulator) -> None:
    """With api_key set, `Authorization: Bearer <key>` is accepted."""
    assert (200, "") == await status_of(locked, {**BETA, "authorization": "Bearer right-key"})


async def test_configured_key_accepted_as_x_api_key(locked: Simulator) -> None:
    """With api_key set, `x-api-key: <key>` is accepted."""
    assert (200, "") == await status_of(locked, {**BETA, "x-api-key": "right-key"})


async def test_other_key_is_unauthorized(locked: Simulator) -> None:
    """With api_key set, any other key gets 401."""
    assert (401, "authentication_error") == await status_of(locked, {**BETA, "x-api-key": "wrong"})


async def test_error_body_carries_request_id(simulator: Simulator) -> None:
    """Error bodies carry request_id equal to the response's request-id header."""
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{simulator.base_url}/v1/sessions", headers=BETA) as response,
    ):
        body = await response.json()

    assert response.headers["request-id"] == body["request_id"]
