"""The shape of every long-lived resource: `start`/`stop`, and `async with` for both."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class AsyncResource(ABC):
    """`async with resource:` starts it and stops it on the way out; `stop` must be safe twice."""

    @abstractmethod
    async def start(self) -> None:
        """Acquire what the resource holds (connections, tasks, servers)."""

    @abstractmethod
    async def stop(self) -> None:
        """Release it; safe to call twice, and after a failed `start`."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
