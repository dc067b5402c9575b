"""Validation shared by session create and update."""

from __future__ import annotations

from typing import Any

from simulator.errors import invalid

METADATA_MAX_PAIRS = 16


def check_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict) or len(metadata) > METADATA_MAX_PAIRS:
        raise invalid("metadata must be an object of at most 16 pairs", "invalid_metadata")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise invalid("metadata keys ≤64 chars, values strings ≤512 chars", "invalid_metadata")
    return dict(metadata)
