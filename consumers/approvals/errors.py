"""Errors of the approval bot: the API's are the one Managed Agents client's.

`ApiError` is `streamer.api.ApiError` (one root for the streamer and every consumer): `retriable`
follows the SDK's rules, `status` is the HTTP status (0 when there was no answer). The runner
retries a retriable one like a retriable consumer error.
"""

from __future__ import annotations

from streamer.api import ApiError

__all__ = ["ApiError"]
