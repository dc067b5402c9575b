"""Helpers for the metrics consumer's tests: the simulator's token truth, scraping `/metrics`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from simulator import Simulator

TOKEN_FIELDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_creation": "cache_creation_input_tokens",
}


def token_truth(sim: Simulator, session_ids: Iterable[str]) -> dict[str, int]:
    """The sum of every persisted `model_usage` (and outcome `usage`), by token type."""
    totals = dict.fromkeys(TOKEN_FIELDS, 0)
    for session_id in session_ids:
        for stored in sim.session(session_id).log.events:
            if stored.type not in ("span.model_request_end", "span.outcome_evaluation_end"):
                continue
            data = orjson.loads(stored.body)
            usage = data.get("model_usage") or data.get("usage") or {}
            for token_type, key in TOKEN_FIELDS.items():
                totals[token_type] += int(usage.get(key, 0))
    return totals


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Every sample of a `/metrics` page: (name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for (sample, got), value in samples.items()
        if sample == name and set(labels.items()) <= set(got)
    )


def tokens_by_type(samples_of_replicas: Iterable[Samples]) -> dict[str, int]:
    """agents_model_tokens_total summed over replicas, models and partitions, by token type."""
    replicas = list(samples_of_replicas)
    return {
        t: round(sum(total(s, "agents_model_tokens_total", token_type=t) for s in replicas))
        for t in TOKEN_FIELDS
    }


def partition_values(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float],
                     name: str) -> dict[str, float]:  # fmt: skip
    """`name` summed per `partition` label."""
    values: dict[str, float] = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            partition = dict(labels).get("partition", "")
            values[partition] = values.get(partition, 0) + value
    return values
