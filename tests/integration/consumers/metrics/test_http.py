"""`/metrics` and `/healthz` of a running metrics consumer: text format, OpenMetrics on request."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from consumers.http import HttpServer
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.metrics.test_state import (
    metrics_settings,
    produce,
    running,
    span_end,
)
from tests.support.kafka import unique_name
from tests.support.waiting import settled

pytestmark = pytest.mark.kafka


async def test_metrics_in_both_formats_and_healthz(kafka: KafkaSettings) -> None:
    """The classic text format by default, OpenMetrics (ending in # EOF) when asked."""
    await produce(kafka, [("sesn_1", span_end(7))])
    async with running(kafka, metrics_settings(approvals=False), unique_name("m")) as consumer:
        await settled(lambda: len(consumer.exported), done=bool)
        async with HttpServer("127.0.0.1", 0) as server, aiohttp.ClientSession() as client:
            base = f"http://127.0.0.1:{server.port}"
            await settled(lambda: sum(len(s.counters["agents_model_tokens"])
                                      for s in consumer.exported.values()), done=bool)  # fmt: skip
            async with client.get(f"{base}/metrics") as plain:
                plain_type, plain_text = plain.headers["Content-Type"], await plain.text()
            accept = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}
            async with client.get(f"{base}/metrics", headers=accept) as om:
                om_type, om_text = om.headers["Content-Type"], await om.text()
            async with client.get(f"{base}/healthz") as health:
                healthy = (health.status, await health.json())
    tokens = [s for f in text_string_to_metric_families(om_text) for s in f.samples
              if s.name == "agents_model_tokens_total"]  # fmt: skip
    assert (
        True, True, True, True, 8.0, (200, {"status": "ok"}),
    ) == (
        plain_type.startswith("text/plain"), "agents_model_tokens_total{" in plain_text,
        om_type.startswith("application/openmetrics-text"),
        om_text.endswith("# EOF\n"), sum(s.value for s in tokens), healthy,
    )  # fmt: skip
