"""The one error shape of the HTTP API, rendered in one place.

Every error the server sends is ``{"error": {"code": ..., "message": ..., "field": ...}}`` with the HTTP
status of its code; ``field`` names the request field (or record field) at fault, or is null.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ..model.errors import InputError

#: error code -> HTTP status
STATUS: dict[str, int] = {
    "bad_request": 400,
    "missing_device": 400,
    "invalid_json": 400,
    "invalid_record": 422,
    "undecryptable": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "store_error": 503,
    "busy": 503,
    "internal_error": 500,
}


class ApiError(InputError):
    """An error answered to an HTTP client: ``code`` (a key of :data:`STATUS`), a message saying what
    was wrong and what was expected, and the offending ``field`` when there is one."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in STATUS:
            raise ValueError(f"unknown API error code {code!r}; expected one of {', '.join(sorted(STATUS))}")
        super().__init__(message)
        self.code = code
        self.field = field
        self.details = details
        self.headers = headers

    @property
    def status(self) -> int:
        return STATUS[self.code]


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "field": field}
    err.update(extra)
    return {"error": err}


def error_response(exc: ApiError) -> JSONResponse:
    """The response for ``exc``: the only place an error body is built."""
    extra = dict(exc.details) if exc.details else {}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field, **extra), status_code=exc.status, headers=exc.headers
    )
