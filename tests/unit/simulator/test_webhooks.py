"""Webhooks: thin payloads, signatures the SDK accepts, retries, bad signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anthropic
import pytest
import standardwebhooks
from aiohttp import web

from simulator import FaultSpec, Simulator, SimulatorConfig
from tests.support.waiting import until


@dataclass
class Receiver:
    """A real HTTP endpoint that records deliveries and fails the first `fail_first` of them."""

    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if len(self.received) <= self.fail_first else 204)


async def serve(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    runner = await serve(hook)
    yield hook
    await runner.cleanup()


@pytest.fixture
async def hooked(receiver: Receiver) -> AsyncIterator[Simulator]:
    config = SimulatorConfig(speed=10_000.0, webhook_urls=(receiver.url,))
    async with Simulator(config) as sim:
        yield sim


async def test_sdk_unwraps_the_signed_delivery(hooked: Simulator, receiver: Receiver) -> None:
    """The SDK's webhooks.unwrap verifies the first delivery: session.created for the session."""
    session_id = await hooked.create_session()
    await until(lambda: len(receiver.received) > 0)
    headers, body = receiver.received[0]

    client = anthropic.Anthropic(api_key="k", base_url=hooked.base_url)
    with client:
        event = client.beta.webhooks.unwrap(
            body.decode(), headers=headers, key=hooked.webhook_secret
        )

    assert ("session.created", session_id) == (event.data.type, event.data.id)


async def test_requires_action_is_delivered(hooked: Simulator, receiver: Receiver) -> None:
    """A coding session that blocks on approval yields a session.requires_action webhook."""
    await hooked.create_session(scenario="coding")

    def delivered_types() -> list[str]:
        verifier = standardwebhooks.Webhook(hooked.webhook_secret)
        return [
            verifier.verify(body, headers)["data"]["type"] for headers, body in receiver.received
        ]

    await until(lambda: "session.requires_action" in delivered_types())


async def test_failed_delivery_is_retried_with_the_same_id(receiver: Receiver) -> None:
    """Two 500s then a 2xx: three attempts carrying one webhook-id."""
    receiver.fail_first = 2
    async with Simulator(SimulatorConfig(speed=10_000.0, webhook_urls=(receiver.url,))) as sim:
        await sim.create_session(scenario="load")
        await until(lambda: len(receiver.received) >= 3)

    ids = [headers["webhook-id"] for headers, _ in receiver.received[:3]]
    assert [ids[0]] * 3 == ids


async def test_bad_signature_fault_fails_verification(
    hooked: Simulator, receiver: Receiver
) -> None:
    """With webhook_bad_signature set, deliveries do not verify."""
    hooked.faults.set(FaultSpec(webhook_bad_signature=True))
    await hooked.create_session()
    await until(lambda: len(receiver.received) > 0)
    headers, body = receiver.received[0]

    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(hooked.webhook_secret).verify(body, headers)
