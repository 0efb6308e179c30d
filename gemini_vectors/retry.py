"""Which failures of an embedding call are worth retrying, and how long to wait before the next try.

429 and 5xx answers and dropped connections are transient. The wait is exponential backoff with full
jitter (so many clients that failed together do not retry together), but never shorter than what the
server asked for in a ``Retry-After`` header or a ``google.rpc.RetryInfo`` detail.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from google.genai import errors as genai_errors

from gemini_vectors.arguments import check_count
from gemini_vectors.errors import ConfigurationError


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, names in (
        ("httpx", ("TransportError",)),
        ("httpx2", ("TransportError",)),
        ("aiohttp", ("ClientConnectionError", "ClientPayloadError")),
    ):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        found.extend(getattr(mod, name) for name in names if hasattr(mod, name))
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try a call and how to space the tries.

    Attributes:
        max_attempts: Tries per call, the first included.
        base_delay: Backoff before the second try; doubles each time.
        max_delay: Ceiling of one backoff.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        check_count(self.max_attempts, "max_attempts", error=ConfigurationError)
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigurationError(
                f"delays must not be negative, got base_delay={self.base_delay}, max_delay={self.max_delay}"
            )

    def backoff(
        self, attempt: int, server_hint: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        jittered = (rng or random).uniform(0.0, ceiling)
        if server_hint is not None:
            # the server knows when capacity frees up; jitter only on top of its hint
            return min(max(server_hint, 0.0) + jittered * 0.25, max(self.max_delay, server_hint))
        return jittered


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed call may succeed if sent again unchanged."""
    if isinstance(exc, genai_errors.APIError):
        return exc.code in RETRYABLE_STATUS
    return isinstance(exc, TRANSPORT_ERRORS)


def _parse_seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
        try:
            return float(value)
        except ValueError:
            return None
    return None


def server_retry_delay(exc: BaseException) -> float | None:
    """The delay the server asked for, from ``Retry-After`` or a RetryInfo detail, if any."""
    if not isinstance(exc, genai_errors.APIError):
        return None
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for detail in details.get("details", []) if isinstance(details, dict) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            seconds = _parse_seconds(detail.get("retryDelay"))
            if seconds is not None:
                return seconds
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is not None:
        try:
            return _parse_seconds(headers.get("retry-after"))
        except Exception:  # headers of an unknown response type; the hint is optional
            return None
    return None
