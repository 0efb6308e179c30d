"""Retry classification and backoff, on the SDK's own exception objects."""

from __future__ import annotations

import random

import httpx
import pytest
from google.genai import errors as genai_errors

from gemini_vectors.retry import RetryPolicy, is_retryable, server_retry_delay


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
