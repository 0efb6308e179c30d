"""Google API error bodies and small JSON helpers shared by the emulator's endpoints."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class Violation:
    """One bad field of one request, as in google.rpc.BadRequest.fieldViolations."""

    field: str
    description: str


class ApiError(Exception):
    """An error answer: HTTP status, Google status name, message, details and extra headers."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = _STATUS.get(code, "UNKNOWN")
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body Google sends: ``{"error": {"code", "message", "status", "details"?}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(violations: Sequence[Violation], prefix: str) -> ApiError:
    """A 400 listing every violation, each line naming the request index like Google's messages."""
    message = "\n".join(f"* {prefix}.{v.field}: {v.description}" for v in violations)
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": v.field, "description": v.description} for v in violations],
        }
    ]
    return ApiError(400, message, details=details)


def retry_error(code: int, message: str, retry_after: float) -> ApiError:
    """A 429 or 503 carrying both a ``Retry-After`` header and a google.rpc.RetryInfo detail."""
    delay = max(0.0, retry_after)
    seconds = f"{delay:.3f}".rstrip("0").rstrip(".") or "0"
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}]
    # The header only takes whole seconds; round up so a client that honours it never comes back early.
    return ApiError(code, message, details=details, headers={"Retry-After": str(math.ceil(delay))})


def get_key(obj: Mapping[str, Any], snake: str, camel: str) -> Any:
    """Read a field that may be spelled snake_case (the SDK's dump) or camelCase (the REST docs)."""
    if snake in obj:
        return obj[snake]
    return obj.get(camel)
