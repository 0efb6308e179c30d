"""Google API error bodies and small JSON helpers shared by the emulator's endpoints."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

T = TypeVar("T")

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
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or _STATUS.get(code, "UNKNOWN")
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


def quota_exceeded(metric: str, quota_id: str, limit: int, model: str, retry_after: float) -> ApiError:
    """Google's 429 for a spent quota: Help, ``QuotaFailure`` naming the quota, and RetryInfo.

    Google sends the RetryInfo even for a per-day quota (a delay of seconds that cannot help); only the
    QuotaFailure's ``quotaId`` tells the two apart.
    """
    delay = max(0.0, retry_after)
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To "
        "monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n"
        f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}\n"
        f"Please retry in {delay:g}s."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(limit),
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{math.ceil(delay)}s"},
    ]
    return ApiError(429, message, details=details, headers={"Retry-After": str(math.ceil(delay))})


def error_info(reason: str, service: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` of Google's API front end (domain ``googleapis.com``)."""
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service, **metadata},
    }


def localized(message: str) -> dict[str, Any]:
    """The ``google.rpc.LocalizedMessage`` Google adds to its front end's errors."""
    return {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}


def get_key(obj: Mapping[str, Any], snake: str, camel: str) -> Any:
    """Read a field that may be spelled snake_case (the SDK's dump) or camelCase (the REST docs)."""
    if snake in obj:
        return obj[snake]
    return obj.get(camel)


@dataclass
class Request:
    """One HTTP request as the core sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        """Split the request target into path and query."""
        parts = urlsplit(target)
        return cls(method.upper(), parts.path, parse_qs(parts.query), headers, body)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        value = self.headers.get(name)
        if value is None:
            lowered = name.lower()
            for key, val in self.headers.items():
                if key.lower() == lowered:
                    return val
        return value

    def json(self) -> Any:
        """The body parsed as JSON; a bad body is Google's 400."""
        try:
            return json.loads(self.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}") from None


@dataclass
class Response:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON answer."""
        out = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        return cls(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"), out)

    @classmethod
    def error(cls, err: ApiError) -> Response:
        """An error answer with Google's body shape."""
        return cls.json(err.body(), err.code, err.headers)


def page_of(
    request: Request, items: Sequence[T], *, default_size: int, max_size: int
) -> tuple[Sequence[T], str]:
    """One page of ``items`` for ``?pageSize=&pageToken=``; the token is the next offset ("" at the end)."""
    try:
        size = int(request.query.get("pageSize", [default_size])[0])
        start = int(request.query.get("pageToken", ["0"])[0] or 0)
    except ValueError:
        raise ApiError(400, "Invalid pageSize or pageToken.") from None
    size = min(max(size, 1), max_size) if size > 0 else default_size
    end = start + size
    return items[start:end], (str(end) if end < len(items) else "")
