"""The Supervisor and the HTTP endpoints against the simulator over real HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from simulator import Simulator
from streamer.api import ApiClient
from streamer.http import HttpServer
from streamer.sink import InMemorySink
from streamer.supervisor import Supervisor
from streamer.webhooks import WebhookVerifier, sign
from tests.integration.streamer.conftest import FAST, sent, truth
from tests.support.flow import inject_burst
from tests.support.waiting import settled

SECRET = SecretStr("whsec_" + base64.b64encode(b"s" * 32).decode())


@pytest.fixture
async def supervised(
    simulator: Simulator, client: ApiClient
) -> AsyncIterator[tuple[Supervisor, InMemorySink]]:
    """A started Supervisor with discovery off, over an InMemorySink."""
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST) as supervisor:
        yield supervisor, sink


async def test_discovery_follows_every_live_session(
    simulator: Simulator, client: ApiClient
) -> None:
    """Polling GET /v1/sessions finds every session, over several pages, and follows them."""
    session_ids = [await simulator.create_session() for _ in range(5)]
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery_interval_secs=0.5) as supervisor:
        published = await settled(
            lambda: sent(sink),
            done=lambda p: p == truth(simulator, session_ids),
        )
        followed = supervisor.followed | set(supervisor.ended)

    assert (truth(simulator, session_ids), set(session_ids)) == (published, followed)


async def test_one_sessions_failure_leaves_the_others_alone(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """A session that 404s ends its follower as fatal; the other session is fully published."""
    supervisor, sink = supervised
    healthy = await simulator.create_session()
    supervisor.follow("sesn_missing")
    supervisor.follow(healthy)
    published = await settled(lambda: sent(sink), done=lambda p: p == truth(simulator, [healthy]))

    assert (truth(simulator, [healthy]), "fatal:not_found") == (
        published,
        supervisor.ended.get("sesn_missing"),
    )


async def test_follow_admin_call_attaches_a_session(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """POST /follow starts a follower for the session it names."""
    supervisor, sink = supervised
    session_id = await simulator.create_session()
    async with HttpServer(supervisor) as server, aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/follow", json={"session_id": session_id}) as r:
            status = r.status
        published = await settled(
            lambda: sent(sink),
            done=lambda p: p == truth(simulator, [session_id]),
        )

    assert (202, truth(simulator, [session_id])) == (status, published)


async def test_follow_needs_the_bearer_token_when_one_is_set(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """With a token: POST /follow without it or with a wrong one is 401; with it, 202."""
    supervisor, _sink = supervised
    session_id = await simulator.create_session()
    token = SecretStr("t0ken-for-admin")
    body = {"session_id": session_id}
    statuses = []
    async with HttpServer(supervisor, token=token) as server, aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer t0ken-for-admin"},
        ):
            async with http.post(f"{server.url}/follow", json=body, headers=headers) as r:
                statuses.append(r.status)

    assert ([401, 401, 202], True) == (statuses, session_id in supervisor.followed)


async def test_signed_webhook_attaches_at_once_and_retries_count_once(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """A genuine webhook starts following its session; its retry is acknowledged, not acted on."""
    supervisor, _sink = supervised
    session_id = await simulator.create_session()
    body = orjson.dumps(
        {"type": "event", "id": "whe_1", "data": {"type": "session.created", "id": session_id}}
    )
    now = int(time.time())
    headers = {
        "webhook-id": "whe_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SECRET, "whe_1", now, body),
        "content-type": "application/json",
    }
    verifier = WebhookVerifier(SECRET)
    async with (
        HttpServer(supervisor, verifier=verifier) as server,
        aiohttp.ClientSession() as http,
    ):
        statuses = []
        for _ in range(2):
            async with http.post(f"{server.url}/webhooks", data=body, headers=headers) as r:
                statuses.append(r.status)
        followed = session_id in supervisor.followed

    assert ([204, 204], True) == (statuses, followed)


async def test_badly_signed_webhook_is_rejected(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """A webhook whose signature does not verify gets 401 and attaches nothing."""
    supervisor, _sink = supervised
    session_id = await simulator.create_session()
    body = orjson.dumps(
        {"type": "event", "id": "whe_2", "data": {"type": "session.created", "id": session_id}}
    )
    now = int(time.time())
    headers = {
        "webhook-id": "whe_2",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SecretStr("whsec_" + "A" * 44), "whe_2", now, body),
    }
    async with (
        HttpServer(supervisor, verifier=WebhookVerifier(SECRET)) as server,
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/webhooks", data=body, headers=headers) as r,
    ):
        status = r.status

    assert (401, frozenset()) == (status, supervisor.followed)


async def test_metrics_and_health_endpoints_answer(
    supervised: tuple[Supervisor, InMemorySink],
) -> None:
    """/healthz and /readyz answer 200 and /metrics exposes the streamer's metrics."""
    supervisor, _sink = supervised
    async with HttpServer(supervisor) as server, aiohttp.ClientSession() as http:
        statuses = []
        for path in ("/healthz", "/readyz"):
            async with http.get(server.url + path) as r:
                statuses.append(r.status)
        async with http.get(server.url + "/metrics") as r:
            metrics = await r.text()

    assert ([200, 200], True) == (statuses, "agents_streamer_open_streams" in metrics)


async def test_no_metric_carries_a_session_id(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """After following sessions (one of them failing), /metrics names no session."""
    supervisor, sink = supervised
    session_id = await simulator.create_session()
    supervisor.follow(session_id)
    supervisor.follow("sesn_missing")
    await settled(
        lambda: sent(sink),
        done=lambda p: p == truth(simulator, [session_id]),
    )
    async with (
        HttpServer(supervisor) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url + "/metrics") as r,
    ):
        metrics = await r.text()

    assert [] == [line for line in metrics.splitlines() if "sesn_" in line]


async def test_simulator_webhooks_attach_sessions(unused_tcp_port: int) -> None:
    """Signed webhooks delivered by the simulator make the streamer follow new sessions."""
    from simulator import SimulatorConfig

    url = f"http://127.0.0.1:{unused_tcp_port}/webhooks"
    config = SimulatorConfig(speed=200.0, webhook_urls=(url,), webhook_secret=SECRET)
    sink = InMemorySink()
    async with (
        Simulator(config) as sim,
        ApiClient(sim.base_url, SecretStr("sk-test")) as client,
        Supervisor(client, sink, FAST) as supervisor,
        HttpServer(supervisor, port=unused_tcp_port, verifier=WebhookVerifier(SECRET)),
    ):
        session_ids = [await sim.create_session() for _ in range(3)]
        published = await settled(lambda: sent(sink), done=lambda p: p == truth(sim, session_ids))

    assert truth(sim, session_ids) == published


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_discovery_survives_a_200_whose_body_is_not_json(
    simulator: Simulator, client: ApiClient
) -> None:
    """Three session lists answered with an HTML page: counted as failed passes, and discovery
    carries on to follow the session once the API answers properly."""
    before = _count("agents_streamer_errors_total", kind="discovery_failed")
    simulator.faults.set({"bad_body": "not_json", "http_count": 3, "http_scope": "list"})
    session_id = await simulator.create_session()
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery_interval_secs=0.1) as supervisor:
        published = await settled(
            lambda: sent(sink),
            done=lambda p: p == truth(simulator, [session_id]),
        )
        ready = supervisor.ready
    failed = _count("agents_streamer_errors_total", kind="discovery_failed") - before

    assert (truth(simulator, [session_id]), True, 3.0) == (published, ready, failed)


async def test_a_discovery_pass_that_crashes_turns_readiness_red_until_one_succeeds(
    simulator: Simulator, client: ApiClient
) -> None:
    """Session lists whose items are not objects crash the pass: counted, logged, readiness red,
    retried with backoff; once the API answers properly, ready again and the session followed."""
    before = _count("agents_streamer_errors_total", kind="discovery_crashed")
    simulator.faults.set({"bad_body": "bad_items", "http_count": 10_000, "http_scope": "list"})
    session_id = await simulator.create_session()
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery_interval_secs=0.1) as supervisor:
        crashed = await settled(
            lambda: _count("agents_streamer_errors_total", kind="discovery_crashed") - before,
            done=lambda n: n >= 2,
            stable_secs=0.0,
        )
        red = supervisor.ready
        simulator.faults.clear()
        await settled(lambda: supervisor.ready, done=bool, stable_secs=0.0)
        published = await settled(
            lambda: sent(sink),
            done=lambda p: p == truth(simulator, [session_id]),
        )

    assert (True, False, truth(simulator, [session_id])) == (
        crashed >= 2,
        red,
        published,
    )


async def test_a_crashed_follower_is_restarted_from_what_it_published(
    simulator: Simulator, supervised: tuple[Supervisor, InMemorySink]
) -> None:
    """A follower that crashes (its sink raised) is counted, restarted after a backoff, and picks
    up where it was: the sink ends with the ground truth, nothing lost or doubled."""
    supervisor, sink = supervised
    crashes = _count("agents_streamer_errors_total", kind="follower_crashed")
    restarts = _count("agents_streamer_follower_restarts_total")
    session_id = await simulator.create_session()
    supervisor.follow(session_id)
    await settled(lambda: len(sink.events), done=bool, stable_secs=0.0)
    sink.fail_next(1)
    await inject_burst(simulator, session_id, count=30, per_second=300)
    published = await settled(
        lambda: sent(sink),
        done=lambda p: p == truth(simulator, [session_id]),
    )
    counted = (
        _count("agents_streamer_errors_total", kind="follower_crashed") - crashes,
        _count("agents_streamer_follower_restarts_total") - restarts,
        _count("agents_streamer_followers_restarting"),
    )

    assert (truth(simulator, [session_id]), {session_id: 1}, (1.0, 1.0, 0.0)) == (
        published,
        supervisor.crashes,
        counted,
    )
