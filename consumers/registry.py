"""Consumers are found by name in the entry-point group `agents_streamer.consumers`."""

from __future__ import annotations

from importlib.metadata import entry_points

from consumers.base import Consumer
from consumers.errors import UnknownConsumerError

GROUP = "agents_streamer.consumers"


def available() -> list[str]:
    """The registered consumer names, sorted."""
    return sorted(entry.name for entry in entry_points(group=GROUP))


def load(name: str) -> type[Consumer]:
    """The consumer class registered as `name`."""
    for entry in entry_points(group=GROUP, name=name):
        loaded = entry.load()
        if isinstance(loaded, type) and issubclass(loaded, Consumer):
            return loaded
        raise UnknownConsumerError(f"entry point {name!r} is not a Consumer subclass")
    raise UnknownConsumerError(f"no consumer named {name!r}; registered: {available()}")
