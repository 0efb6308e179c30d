"""What a failed call to the Gemini API means, and how long to wait before the next try.

:func:`classify_error` is the one classification of API errors (guarantee 3): transient failures (429
of a per-minute quota, 5xx, dropped connections) are retried; a request refused as a whole (bad key,
permission, unknown model, a per-day quota) stops at once as a
:class:`~gemini_vectors.errors.RequestRejectedError` (:func:`request_rejected` builds it); only an answer
that blames the content is isolated item by item. The wait between tries is exponential backoff with full
jitter (so many clients that failed together do not retry together), but never shorter than what the
server asked for in a ``Retry-After`` header or a ``google.rpc.RetryInfo`` detail.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.genai import errors as genai_errors

from gemini_vectors.arguments import check_count
from gemini_vectors.errors import ConfigurationError, RequestRejectedError


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
    """Whether a failed call may succeed if sent again unchanged (:func:`classify_error` says RETRY)."""
    return classify_error(exc).kind is ErrorKind.RETRY


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
    for detail in _of_type(_details(exc), "RetryInfo"):
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


# -- what a failed call means -----------------------------------------------------------------------
#
# Guarantee 3: a request-level failure is never an item failure. Every caller that sends a request to the
# Gemini API (the Embedder, the File API uploads, sync's watch workers and Batch Mode) asks this one
# classification what an error means, and acts on its kind:
#
#   RETRY    transient (429 per-minute quota, 5xx, a dropped connection): send it again after a backoff;
#   REQUEST  the API refused the request as a whole (bad key, permission, unknown model, a quota that
#            will not come back within a retry budget): stop at once, blame no item, raise
#            RequestRejectedError;
#   ITEM     the answer blames the content (a 400 INVALID_ARGUMENT about the input, a File an item
#            names): isolate the item by splitting the call (bisection) and record it against that item;
#   FAIL     anything else (a malformed answer, a bug): give up on the call, blame no item.


class ErrorKind(enum.Enum):
    """What a failed call means for the caller; see :func:`classify_error`."""

    RETRY = "retry"
    REQUEST = "request"
    ITEM = "item"
    FAIL = "fail"


@dataclass(frozen=True)
class ErrorClass:
    """The meaning of one failed call, with what the API said about it.

    Attributes:
        kind: What to do (retry, stop as a request-level failure, bisect, give up).
        code: The HTTP status, when the API answered.
        status: The API's status word (``INVALID_ARGUMENT``, ``PERMISSION_DENIED``...).
        reason: The ``google.rpc.ErrorInfo`` reason (``API_KEY_INVALID``...), or for a quota that cannot
            come back soon, the ``google.rpc.QuotaFailure`` quota id (``...PerDay...``).
        message: The API's own message (may hold the key in rare answers: use :func:`request_rejected`
            or :func:`scrub` before showing it).
    """

    kind: ErrorKind
    code: int | None = None
    status: str | None = None
    reason: str | None = None
    message: str = ""


# ErrorInfo reasons that are about the caller (key, project, service, billing), never the content. Any
# ErrorInfo of the API front end's own domain ("googleapis.com") is request-level as well: the front end
# checks the key, the project and the quotas before the model reads a byte of the input.
_REQUEST_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "SERVICE_DISABLED",
        "CONSUMER_SUSPENDED",
        "CONSUMER_INVALID",
        "BILLING_DISABLED",
        "ACCESS_TOKEN_EXPIRED",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        "CREDENTIALS_MISSING",
        "IAM_PERMISSION_DENIED",
        "USER_PROJECT_DENIED",
    }
)
_FRONT_END_DOMAIN = "googleapis.com"
# A quota whose period is longer than any retry budget: Google names it in the quota id
# (EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier) or the legacy ErrorInfo quota_limit.
_LONG_QUOTA = re.compile(r"per[\s_-]?(day|hour|week|month|year)", re.IGNORECASE)
# Google's answers about one uploaded file ("The File abc is not in an ACTIVE state...", "You do not have
# permission to access the File abc or it may not exist.") name it by its id, after a capital F; "the
# File API" names no file.
_NAMES_A_FILE = re.compile(r"\bFile\s+(?:files/)?[a-z0-9][a-z0-9-]*\b")
# A Google API key as it may be echoed in an answer ("Consumer 'api_key:AIza...' has been suspended").
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{20,}")


def _details(exc: genai_errors.APIError) -> list[Mapping[str, Any]]:
    body = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    found = body.get("details", []) if isinstance(body, dict) else []
    return [d for d in found if isinstance(d, Mapping)] if isinstance(found, list) else []


def _of_type(details: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [d for d in details if str(d.get("@type", "")).endswith(f"google.rpc.{name}")]


def _long_quota(details: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of a violated quota that a retry within minutes cannot get back, if the details name one."""
    for failure in _of_type(details, "QuotaFailure"):
        violations = failure.get("violations", [])
        for v in violations if isinstance(violations, list) else []:
            if not isinstance(v, Mapping):
                continue
            for field in ("quotaId", "quota_id", "subject", "description"):
                text = v.get(field)
                if isinstance(text, str) and _LONG_QUOTA.search(text):
                    return str(v.get("quotaId") or v.get("quota_id") or text)
    for info in _of_type(details, "ErrorInfo"):
        metadata = info.get("metadata", {})
        limit = metadata.get("quota_limit") if isinstance(metadata, Mapping) else None
        if isinstance(limit, str) and _LONG_QUOTA.search(limit):
            return limit
    return None


def classify_status(
    code: int | None,
    status: str | None = None,
    message: str = "",
    details: Sequence[Mapping[str, Any]] = (),
) -> ErrorClass:
    """What an error answer of the Gemini API means: the HTTP code, status word, message and details.

    For answers that are not exceptions, such as the per-item ``google.rpc.Status`` of a Batch Mode
    result (pass its ``code`` mapped to HTTP, or the HTTP code of the call). :func:`classify_error` is
    this for an exception.
    """
    infos = _of_type(details, "ErrorInfo")
    reason = next((str(i["reason"]) for i in infos if i.get("reason")), None)
    front_end = any(i.get("domain") == _FRONT_END_DOMAIN for i in infos)
    status_word = (status or "").upper() or None

    def kind_is(kind: ErrorKind, why: str | None = reason) -> ErrorClass:
        return ErrorClass(kind, code, status_word, why, message)

    if code is None:
        return kind_is(ErrorKind.FAIL)
    if code == 429:
        quota = _long_quota(details)
        return kind_is(ErrorKind.REQUEST, quota) if quota else kind_is(ErrorKind.RETRY)
    if code in RETRYABLE_STATUS:
        return kind_is(ErrorKind.RETRY)
    if code >= 500:
        return kind_is(ErrorKind.FAIL)
    if reason in _REQUEST_REASONS or (reason is not None and front_end) or code == 401:
        return kind_is(ErrorKind.REQUEST)
    names_a_file = bool(_NAMES_A_FILE.search(message))
    if code in (403, 404):
        # a File that one item names (deleted, expired, someone else's) blames that item
        return kind_is(ErrorKind.ITEM if names_a_file else ErrorKind.REQUEST)
    if code == 400:
        if status_word == "FAILED_PRECONDITION" and not names_a_file:
            # "User location is not supported", billing not enabled: the caller's, not the content's
            return kind_is(ErrorKind.REQUEST)
        return kind_is(ErrorKind.ITEM)
    if code == 413:
        return kind_is(ErrorKind.ITEM)  # a call too large: its halves are smaller, one item alone is to blame
    return kind_is(ErrorKind.REQUEST)


def classify_error(exc: BaseException) -> ErrorClass:
    """What a failed call to the Gemini API means: retry it, stop (request-level), bisect it, or give up.

    The one classification of guarantee 3, used by the Embedder, the File API uploads and sync:

    * ``RETRY``: 408, 429 of a per-minute quota, 500/502/503/504, dropped connections and timeouts;
    * ``REQUEST``: the request as a whole is refused and no item is to blame: 401; 403 and 404 (a
      key without permission, a model that does not exist) unless they name one File; a 400 carrying
      an ErrorInfo about the key or project (``API_KEY_INVALID``...) or a ``FAILED_PRECONDITION``
      (location, billing); a 429 whose ``QuotaFailure`` names a per-day (hour, month) quota;
    * ``ITEM``: the answer blames the content: any other 400 (``INVALID_ARGUMENT`` about the input),
      413, and a 400/403/404 that names a File an item refers to;
    * ``FAIL``: anything else (501, a malformed answer, a bug).
    """
    if isinstance(exc, genai_errors.APIError):
        return classify_status(exc.code, exc.status, exc.message or "", _details(exc))
    if isinstance(exc, TRANSPORT_ERRORS):
        return ErrorClass(ErrorKind.RETRY, message=f"{type(exc).__name__}: {exc}")
    return ErrorClass(ErrorKind.FAIL, message=f"{type(exc).__name__}: {exc}")


def client_secrets(client: object) -> tuple[str, ...]:
    """The secrets a google-genai client holds (its API key), for :func:`scrub`; empty when it has none."""
    key = getattr(getattr(client, "_api_client", None), "api_key", None)
    return (key,) if isinstance(key, str) and key else ()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret and anything shaped like a Google API key replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _GOOGLE_KEY.sub("***", text)


def _advice(failure: ErrorClass) -> str:
    reason = failure.reason or ""
    if failure.code == 429:
        return (
            f"the project's quota {reason} is used up, and retrying within minutes cannot bring it back: "
            "wait until it resets (per-day quotas of the Gemini API reset at midnight Pacific time), or "
            "raise it (enable billing or move the project to a higher tier in Google AI Studio)"
        )
    if reason.startswith("API_KEY") or reason in {"CONSUMER_SUSPENDED", "CONSUMER_INVALID"}:
        return (
            "check GEMINI_API_KEY (or GOOGLE_API_KEY, or the api_key= / client= you passed): the API does "
            "not accept this key; create one in Google AI Studio and check its API restrictions"
        )
    if reason == "SERVICE_DISABLED":
        return (
            "enable the Generative Language API for the key's project (the message names the page), or "
            "use a key of a project where it is enabled; check GEMINI_API_KEY"
        )
    if reason == "BILLING_DISABLED" or failure.status == "FAILED_PRECONDITION":
        return "enable billing for the key's project in Google AI Studio, or call from a supported region"
    if failure.code == 401:
        return (
            "check the credentials: GEMINI_API_KEY for the Gemini API; for Vertex AI an express-mode key "
            "or Application Default Credentials (`gcloud auth application-default login`)"
        )
    if failure.code == 403:
        return (
            "the key has no permission for this model or method: check GEMINI_API_KEY, the key's API "
            "restrictions and the project's access"
        )
    if failure.code == 404:
        return (
            "check the model name and the API version or base URL: the model may not exist or may have "
            "been retired (gemini_vectors.known_models() lists the ones this library knows)"
        )
    return "check the request's configuration (key, model, base URL); retrying the same request cannot help"


def request_rejected(
    error: BaseException | ErrorClass, *, secrets: Iterable[str] = ()
) -> RequestRejectedError | None:
    """The :class:`RequestRejectedError` to raise for ``error`` if it is request-level, else None.

    Its message carries the API's message (with ``secrets`` and anything shaped like an API key taken
    out) and says what to do. Raise it ``from`` the original exception::

        rejected = request_rejected(exc, secrets=client_secrets(client))
        if rejected is not None:
            raise rejected from exc
    """
    failure = error if isinstance(error, ErrorClass) else classify_error(error)
    if failure.kind is not ErrorKind.REQUEST:
        return None
    said = " ".join(scrub(failure.message, secrets).split()) or "(no message)"
    what = " ".join(str(x) for x in (failure.code, failure.status) if x is not None)
    if failure.reason:
        what += f", {failure.reason}"
    return RequestRejectedError(
        f"the Gemini API refused the request as a whole ({what}): {said} -- {_advice(failure)}. "
        "No item was at fault, and nothing more was sent.",
        code=failure.code,
        status=failure.status,
        reason=failure.reason,
    )
