"""A small async client of the Managed Agents API: what following sessions needs, nothing more."""

from streamer.api.client import ApiClient
from streamer.api.errors import ApiConnectionError, ApiError, ApiStatusError

__all__ = ["ApiClient", "ApiConnectionError", "ApiError", "ApiStatusError"]
