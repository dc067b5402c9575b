"""A small async client of the Managed Agents API: what following sessions needs, nothing more."""

from streamer.api.client import ApiClient
from streamer.api.errors import ApiBodyError, ApiConnectionError, ApiError, ApiStatusError

__all__ = ["ApiBodyError", "ApiClient", "ApiConnectionError", "ApiError", "ApiStatusError"]
