"""Retry classification and backoff, on the SDK's own exception objects."""

from __future__ import annotations

import random

import httpx
import pytest
from google.genai import errors as genai_errors

from gemini_vectors.errors import RequestRejectedError
from gemini_vectors.retry import (
    ErrorKind,
    RetryPolicy,
    classify_error,
    classify_status,
    is_retryable,
    request_rejected,
    server_retry_delay,
)


def api_error(code: int, details: list[dict[str, object]] | None = None, retry_after: str | None = None):
    body = {"error": {"code": code, "message": "m", "status": "S", "details": details or []}}
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = httpx.Response(code, json=body, headers=headers)
    cls = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    return cls(code, body, response)


@pytest.mark.parametrize(
    ("code", "retry"),
    [
        (429, True),
        (500, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
    ],
)
def test_status_classification(code: int, retry: bool) -> None:
    assert is_retryable(api_error(code)) is retry


def test_dropped_connections_are_retried_other_errors_not() -> None:
    assert is_retryable(httpx.ConnectError("refused"))
    assert is_retryable(ConnectionResetError())
    assert not is_retryable(ValueError("bug"))


def test_retry_info_wins_over_the_header() -> None:
    info = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]
    assert server_retry_delay(api_error(429, info, retry_after="9")) == 2.5
    assert server_retry_delay(api_error(503, retry_after="7")) == 7.0
    assert server_retry_delay(api_error(503)) is None
    assert server_retry_delay(ConnectionError()) is None


def test_backoff_is_jittered_capped_and_honours_the_server() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=8.0)
    rng = random.Random(1)
    waits = [policy.backoff(attempt, rng=rng) for attempt in range(1, 10) for _ in range(50)]
    assert min(waits) >= 0 and max(waits) <= 8.0
    assert len({round(w, 6) for w in waits}) > 100  # full jitter: no two clients retry in lockstep
    assert all(policy.backoff(1, server_hint=3.0, rng=rng) >= 3.0 for _ in range(50))
    assert policy.backoff(1, server_hint=30.0, rng=rng) <= 30.0 + 8.0 * 0.25


# --- the one classification of API errors (guarantee 3) ------------------------------------------------
# Bodies as Google sends them (shapes from Google's error docs and answers quoted in SDK issue threads),
# wrapped in the SDK's own exception classes.


def google_error(code: int, status: str, message: str, details: list[dict[str, object]] | None = None):
    body = {"error": {"code": code, "message": message, "status": status, "details": details or []}}
    cls = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    return cls(code, body, httpx.Response(code, json=body))


def error_info(reason: str, **metadata: str) -> dict[str, object]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com", **metadata},
    }


def quota_failure(*quota_ids: str) -> dict[str, object]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {"quotaMetric": "m", "quotaId": q, "quotaDimensions": {"model": "x"}} for q in quota_ids
        ],
    }


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "25s"}
PER_DAY = "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier"
PER_MINUTE = "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier"


@pytest.mark.parametrize(
    ("exc", "kind", "reason"),
    [
        (
            google_error(400, "INVALID_ARGUMENT", "API key not valid.", [error_info("API_KEY_INVALID")]),
            ErrorKind.REQUEST,
            "API_KEY_INVALID",
        ),
        (
            google_error(400, "INVALID_ARGUMENT", "API key expired.", [error_info("API_KEY_EXPIRED")]),
            ErrorKind.REQUEST,
            "API_KEY_EXPIRED",
        ),
        (
            google_error(
                400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests[3].content: too long"
            ),
            ErrorKind.ITEM,
            None,
        ),
        (
            google_error(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
            ErrorKind.REQUEST,
            None,
        ),
        (
            google_error(
                400, "FAILED_PRECONDITION", "The File abc is not in an ACTIVE state and usage is not allowed."
            ),
            ErrorKind.ITEM,
            None,
        ),
        (
            google_error(
                401, "UNAUTHENTICATED", "API keys are not supported", [error_info("CREDENTIALS_MISSING")]
            ),
            ErrorKind.REQUEST,
            "CREDENTIALS_MISSING",
        ),
        (
            google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
            ErrorKind.REQUEST,
            None,
        ),
        (
            google_error(403, "PERMISSION_DENIED", "API has not been used", [error_info("SERVICE_DISABLED")]),
            ErrorKind.REQUEST,
            "SERVICE_DISABLED",
        ),
        (
            google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"),
            ErrorKind.REQUEST,
            None,
        ),
        (
            google_error(
                403,
                "PERMISSION_DENIED",
                "You do not have permission to access the File x1 or it may not exist.",
            ),
            ErrorKind.ITEM,
            None,
        ),
        (google_error(403, "PERMISSION_DENIED", "The File API is not enabled."), ErrorKind.REQUEST, None),
        (
            google_error(404, "NOT_FOUND", "models/nope is not found for API version v1"),
            ErrorKind.REQUEST,
            None,
        ),
        (
            google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(PER_MINUTE), RETRY_INFO]),
            ErrorKind.RETRY,
            None,
        ),
        (
            google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(PER_DAY), RETRY_INFO]),
            ErrorKind.REQUEST,
            PER_DAY,
        ),
        # Google lists every violated quota; one per-day among per-minute ones is enough to stop
        (
            google_error(
                429, "RESOURCE_EXHAUSTED", "quota", [quota_failure(PER_MINUTE, PER_DAY), RETRY_INFO]
            ),
            ErrorKind.REQUEST,
            PER_DAY,
        ),
        # the legacy shape names the quota in an ErrorInfo
        (
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded",
                [
                    error_info(
                        "RATE_LIMIT_EXCEEDED",
                        quota_limit="GenerateContentRequestsPerMinutePerProjectPerRegion",
                    )
                ],
            ),
            ErrorKind.RETRY,
            "RATE_LIMIT_EXCEEDED",
        ),
        (
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded",
                [error_info("RATE_LIMIT_EXCEEDED", quota_limit="GenerateRequestsPerDayPerProjectPerModel")],
            ),
            ErrorKind.REQUEST,
            "GenerateRequestsPerDayPerProjectPerModel",
        ),
        (
            google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            ErrorKind.RETRY,
            None,
        ),
        (google_error(503, "UNAVAILABLE", "The model is overloaded."), ErrorKind.RETRY, None),
        (google_error(500, "INTERNAL", "An internal error has occurred."), ErrorKind.RETRY, None),
        (google_error(501, "UNIMPLEMENTED", "not implemented"), ErrorKind.FAIL, None),
        (httpx.ConnectError("refused"), ErrorKind.RETRY, None),
        (ValueError("a bug"), ErrorKind.FAIL, None),
    ],
)
def test_classify_error(exc: BaseException, kind: ErrorKind, reason: str | None) -> None:
    found = classify_error(exc)
    assert found.kind is kind
    assert found.reason == reason


def test_classify_status_takes_a_batch_item_status() -> None:
    # Batch Mode reports each item's failure as a google.rpc.Status, not as an exception
    assert classify_status(400, "INVALID_ARGUMENT", "content too long").kind is ErrorKind.ITEM
    assert classify_status(403, "PERMISSION_DENIED", "denied").kind is ErrorKind.REQUEST
    assert classify_status(None).kind is ErrorKind.FAIL


def test_request_rejected_carries_the_answer_without_the_key_and_says_what_to_do() -> None:
    key = "AIzaSyA-0123456789abcdefghijklmnopqrstu"
    exc = google_error(
        403,
        "PERMISSION_DENIED",
        f"Permission denied: Consumer 'api_key:{key}' has been suspended.",
        [error_info("CONSUMER_SUSPENDED")],
    )
    err = request_rejected(exc)
    assert isinstance(err, RequestRejectedError)
    assert (err.code, err.status, err.reason) == (403, "PERMISSION_DENIED", "CONSUMER_SUSPENDED")
    assert "has been suspended" in str(err) and "GEMINI_API_KEY" in str(err) and key not in str(err)
    plain = google_error(403, "PERMISSION_DENIED", "key my-plain-key is blocked")
    assert "my-plain-key" not in str(request_rejected(plain, secrets=["my-plain-key"]))
    assert request_rejected(google_error(400, "INVALID_ARGUMENT", "bad content")) is None
    assert request_rejected(google_error(503, "UNAVAILABLE", "busy")) is None


def test_is_retryable_is_the_classification() -> None:
    assert not is_retryable(google_error(429, "RESOURCE_EXHAUSTED", "q", [quota_failure(PER_DAY)]))
    assert is_retryable(google_error(429, "RESOURCE_EXHAUSTED", "q", [quota_failure(PER_MINUTE)]))
