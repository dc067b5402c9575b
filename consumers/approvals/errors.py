"""Errors of the approval bot; the consumers package's root carries `retriable` and `kind`."""

from __future__ import annotations

from consumers.errors import ConsumerError


class ApiError(ConsumerError):
    """The Managed Agents API answered with an error, or could not be reached."""

    kind = "api"

    def __init__(self, message: str, *, status: int = 0, error_code: str | None = None) -> None:
        retriable = status == 0 or status in (408, 409, 429) or status >= 500
        super().__init__(message, retriable=retriable)
        self.status = status
        self.error_code = error_code
