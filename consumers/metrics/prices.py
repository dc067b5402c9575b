"""The price table: list prices per model, shipped as data (`prices.toml`), overridable by a file.

It names the `model` label's vocabulary too: a model id is known when the table has it.
"""

from __future__ import annotations

import datetime
import tomllib
from dataclasses import dataclass
from pathlib import Path

import structlog

from consumers.errors import ConsumerError

log = structlog.get_logger(__name__)

DEFAULT_FILE = Path(__file__).with_name("prices.toml")
MAX_MODELS = 64  # the cap of the `model` label (plus `other`)
STALE_AFTER_DAYS = 90
_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of one model."""

    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float

    def estimate(self, counts: tuple[int, int, int, int]) -> float:
        """USD of one request's (input, output, cache_read, cache_creation) tokens.

        `model_usage` does not split cache writes by lifetime: they are priced as 5-minute ones.
        """
        inp, out, read, write = counts
        return (
            inp * self.input + out * self.output + read * self.cache_read
            + write * self.cache_write_5m
        ) / 1_000_000  # fmt: skip


@dataclass(frozen=True)
class PriceTable:
    """Prices by model id, the date they were checked, and model-id normalisation."""

    models: dict[str, Price]
    checked: datetime.date
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a price file (the shipped one by default); raises ConsumerError(kind=config)."""
        file = Path(path) if path else DEFAULT_FILE
        try:
            data = tomllib.loads(file.read_text())
            models = {
                str(name): Price(**{f: float(row[f]) for f in _FIELDS})
                for name, row in dict(data["models"]).items()
            }
            checked = datetime.date.fromisoformat(str(data["checked"]))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConsumerError(f"price file {file}: {exc!r}", kind="config") from None
        if len(models) > MAX_MODELS:
            raise ConsumerError(f"price file {file}: more than {MAX_MODELS} models", kind="config")
        table = cls(models, checked, str(data.get("source", "")))
        table.warn_if_stale(file)
        return table

    def warn_if_stale(self, file: Path, today: datetime.date | None = None) -> bool:
        """Log `price_table_stale` when the prices were checked long ago; whether they were."""
        age = ((today or datetime.datetime.now(datetime.UTC).date()) - self.checked).days
        if age > STALE_AFTER_DAYS:
            log.warning("price_table_stale", file=str(file), checked=self.checked.isoformat(),
                        age_days=age)  # fmt: skip
            return True
        return False

    def model_label(self, model_id: str) -> str | None:
        """The known model `model_id` is (exactly, or a dated variant of); None when unknown."""
        if model_id in self.models:
            return model_id
        best = None
        for known in self.models:
            if model_id.startswith(known + "-") and (best is None or len(known) > len(best)):
                best = known
        return best
