"""The simulator's exceptions: one root; `ApiError` renders as the API's error body (spec §9)."""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class SimulatorError(Exception):
    """Root of every simulator error; `retriable` says whether a client should try again."""

    retriable = False


class ApiError(SimulatorError):
    """An HTTP error response with the API's body: `{"type":"error","error":{...}}`."""

    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.retriable = status in (408, 409, 429) or status >= 500

    @property
    def error_type(self) -> str:
        return ERROR_TYPES.get(self.status, "api_error")

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.error_code:
            error["details"] = {"error_code": self.error_code}
        return {"type": "error", "error": error, "request_id": request_id}


def invalid(message: str, error_code: str) -> ApiError:
    """A 400 `invalid_request_error` with a machine-readable `error_code`."""
    return ApiError(400, message, error_code)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} {ident!r} not found", "not_found")
