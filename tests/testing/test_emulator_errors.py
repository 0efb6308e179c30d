"""The emulator's request-level answers, on the wire, as Google sends them.

A wrong key (400 API_KEY_INVALID), a key without permission (403), no credentials (401), a model that
does not exist (404) and a spent per-day quota (429 with a per-day QuotaFailure): status code,
``error.status`` and ``error.details`` with the google.rpc types Google uses. Checked with plain HTTP
(the body itself) and through the unmodified SDK (what a caller sees).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.genai import errors, types

from gemini_vectors.testing import GeminiEmulator

G2 = "gemini-embedding-2"
KEY = "the-key-of-this-test"


def post(
    emu: GeminiEmulator, n: int = 1, *, key: str = KEY, model: str = G2, vertex: bool = False
) -> httpx.Response:
    body = {
        "requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": f"t{i}"}]}} for i in range(n)
        ]
    }
    path = f"/v1beta1/publishers/google/models/{model}" if vertex else f"/v1/models/{model}"
    return httpx.post(f"{emu.base_url}{path}:batchEmbedContents", json=body, headers={"x-goog-api-key": key})


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == response.status_code
    return error


def detail(error: dict[str, Any], name: str) -> dict[str, Any]:
    found = [d for d in error.get("details", []) if d["@type"] == f"type.googleapis.com/google.rpc.{name}"]
    assert len(found) == 1, error
    return found[0]


def test_a_wrong_key_set_at_run_time_is_api_key_invalid_and_reset_restores(
    gemini_emulator: GeminiEmulator,
) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    response = post(gemini_emulator)
    error = error_of(response)
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    info = detail(error, "ErrorInfo")
    assert (info["reason"], info["domain"]) == ("API_KEY_INVALID", "googleapis.com")
    assert info["metadata"]["service"] == "generativelanguage.googleapis.com"
    assert detail(error, "LocalizedMessage")["message"] == error["message"]
    assert post(gemini_emulator, key="the-right-key").status_code == 200
    gemini_emulator.reset()
    assert gemini_emulator.api_keys is None and post(gemini_emulator).status_code == 200


@pytest.mark.parametrize(
    "reason", ["SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED", "CONSUMER_SUSPENDED", "OTHER"]
)
def test_permission_denied(gemini_emulator: GeminiEmulator, reason: str) -> None:
    gemini_emulator.faults.permission_denied = reason
    response = post(gemini_emulator)
    error = error_of(response)
    assert (response.status_code, error["status"]) == (403, "PERMISSION_DENIED")
    info = detail(error, "ErrorInfo")
    assert (info["reason"], info["domain"]) == (reason, "googleapis.com")
    if reason == "SERVICE_DISABLED":
        assert "has not been used in project" in error["message"]
        assert detail(error, "Help")["links"][0]["url"] == info["metadata"]["activationUrl"]
    if reason == "CONSUMER_SUSPENDED":
        assert f"'api_key:{KEY}' has been suspended" in error["message"]  # Google's echoes the key
    # the File API is behind the same front end
    listing = httpx.get(f"{gemini_emulator.base_url}/v1beta/files", headers={"x-goog-api-key": KEY})
    assert listing.status_code == 403
    gemini_emulator.faults.permission_denied = None
    assert post(gemini_emulator).status_code == 200


@pytest.mark.parametrize("vertex", [False, True])
def test_unauthenticated(gemini_emulator: GeminiEmulator, vertex: bool) -> None:
    gemini_emulator.faults.unauthenticated = True
    response = post(gemini_emulator, vertex=vertex)
    error = error_of(response)
    assert (response.status_code, error["status"]) == (401, "UNAUTHENTICATED")
    info = detail(error, "ErrorInfo")
    assert info["reason"] == "CREDENTIALS_MISSING"
    service = "aiplatform.googleapis.com" if vertex else "generativelanguage.googleapis.com"
    assert info["metadata"]["service"] == service


def test_a_retired_model_is_not_found(gemini_emulator: GeminiEmulator) -> None:
    assert post(gemini_emulator).status_code == 200
    gemini_emulator.faults.retired_models = (G2,)
    response = post(gemini_emulator)
    error = error_of(response)
    assert (response.status_code, error["status"]) == (404, "NOT_FOUND")
    assert error["message"].startswith(f"models/{G2} is not found for API version v1")
    assert post(gemini_emulator, model="gemini-embedding-001").status_code == 200


def test_daily_quota_counts_contents_and_answers_a_per_day_quota_failure(
    gemini_emulator: GeminiEmulator,
) -> None:
    gemini_emulator.faults.daily_quota = 5
    assert post(gemini_emulator, 3).status_code == 200
    response = post(gemini_emulator, 3)  # 6 > 5: the whole call is refused
    error = error_of(response)
    assert (response.status_code, error["status"]) == (429, "RESOURCE_EXHAUSTED")
    (violation,) = detail(error, "QuotaFailure")["violations"]
    assert violation["quotaId"] == "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier"
    assert violation["quotaValue"] == "5" and violation["quotaDimensions"]["model"] == G2
    assert detail(error, "RetryInfo")["retryDelay"].endswith("s")  # seconds, though a day is needed
    assert "Quota exceeded for metric" in error["message"]
    assert post(gemini_emulator, 2).status_code == 200  # 5 of 5
    assert post(gemini_emulator, 1).status_code == 429
    gemini_emulator.reset()  # a new day
    assert post(gemini_emulator, 5).status_code == 200


def test_the_rpm_quota_names_a_per_minute_quota(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rpm = 1
    assert post(gemini_emulator).status_code == 200
    response = post(gemini_emulator)
    error = error_of(response)
    assert response.status_code == 429
    (violation,) = detail(error, "QuotaFailure")["violations"]
    assert "PerMinute" in violation["quotaId"]
    assert 55 <= int(response.headers["Retry-After"]) <= 60


def test_the_sdk_sees_status_and_details(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.daily_quota = 0
    client = gemini_emulator.client()
    content = [types.Content(parts=[types.Part(text="x")])]
    with pytest.raises(errors.ClientError) as info:
        client.models.embed_content(model=G2, contents=content)
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    types_seen = [d["@type"] for d in info.value.details["error"]["details"]]
    assert "type.googleapis.com/google.rpc.QuotaFailure" in types_seen
