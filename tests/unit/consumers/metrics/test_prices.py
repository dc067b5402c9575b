"""The price table: shipped as data, dated, overridable by a file, strict about its format."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from consumers.errors import ConsumerError
from consumers.metrics.prices import DEFAULT_FILE, PriceTable

OVERRIDE = """
checked = "2026-11-30"
[models."claude-test-1"]
input = 2.0
output = 10.0
cache_read = 0.2
cache_write_5m = 2.5
cache_write_1h = 4.0
"""


def test_shipped_table_prices_the_simulated_model() -> None:
    """claude-sonnet-4-6: $3 input, $15 output, $0.30 cache read, $3.75 cache write per MTok."""
    price = PriceTable.load().models["claude-sonnet-4-6"]
    assert pytest.approx(3 + 15 + 0.3 + 3.75) == price.estimate((10**6, 10**6, 10**6, 10**6))


def test_a_file_replaces_the_table(tmp_path: Path) -> None:
    """An override file is the whole vocabulary: its models, and its date."""
    path = tmp_path / "prices.toml"
    path.write_text(OVERRIDE)
    table = PriceTable.load(path)
    assert (["claude-test-1"], datetime.date(2026, 11, 30), None) == (
        list(table.models), table.checked, table.model_label("claude-sonnet-4-6")
    )  # fmt: skip


@pytest.mark.parametrize(
    "text", ["not toml [", 'checked = "2026-01-01"', OVERRIDE.replace("10.0", '"x"')]
)
def test_a_broken_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    """Unparsable, without models, or with a non-number: refused at start with kind=config."""
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConsumerError) as raised:
        PriceTable.load(path)
    assert "config" == raised.value.kind


def test_a_table_checked_long_ago_is_reported_stale() -> None:
    """Past 90 days since `checked`, loading it warns (price_table_stale)."""
    table = PriceTable.load()
    later = table.checked + datetime.timedelta(days=91)
    assert (True, False) == (
        table.warn_if_stale(DEFAULT_FILE, later), table.warn_if_stale(DEFAULT_FILE, table.checked)
    )  # fmt: skip
