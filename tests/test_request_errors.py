"""Guarantee 3: a request-level failure is never an item failure.

A wrong key, a key without permission, a model that does not exist and a spent per-day quota are the
request's fault: the Embedder sends ONE call, raises RequestRejectedError with the API's message and what
to do, and never splits the call to blame items (which cost 2N-1 calls and blamed every item). Only an
answer that blames one item's content is isolated by bisection. Everything goes through the unmodified
google-genai SDK to the emulator, which answers each case with Google's wire shape.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import PartialEmbeddingError, RateLimitError, RequestRejectedError
from gemini_vectors.retry import ErrorKind, RetryPolicy, classify_error
from gemini_vectors.testing import GeminiEmulator
from tests import media

# Retries are fast, and more than one, so that a request-level error that were retried would show
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002)
SECRET = "AIzaSyD-not-a-real-key-0123456789abcdefg"  # shaped like a Google key


def texts(n: int) -> list[str]:
    return [f"row {i} about subject {i % 5}" for i in range(n)]


def embed(emb: Embedder, items: list[str], mode: str) -> np.ndarray:
    if mode == "async":
        return asyncio.run(emb.aembed(items))
    return emb.embed(items)


def rejected(emb: Embedder, items: list[str], mode: str) -> RequestRejectedError:
    with pytest.raises(RequestRejectedError) as info:
        embed(emb, items, mode)
    assert not isinstance(info.value, PartialEmbeddingError | RateLimitError)
    return info.value


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_a_wrong_key_is_one_call_and_no_item_is_blamed(gemini_emulator: GeminiEmulator, mode: str) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    emb = Embedder(dimensions=128, client=gemini_emulator.client(api_key=SECRET), retry=FAST)
    err = rejected(emb, texts(40), mode)
    assert gemini_emulator.stats.embed_calls == 1  # not 2N-1 = 79 calls of bisection
    assert (err.code, err.status, err.reason) == (400, "INVALID_ARGUMENT", "API_KEY_INVALID")
    assert "API key not valid" in str(err) and "GEMINI_API_KEY" in str(err)
    assert SECRET not in str(err) and SECRET not in repr(err)


@MODES
@pytest.mark.parametrize("reason", ["SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED", "CONSUMER_SUSPENDED"])
def test_a_key_without_permission_is_one_call(
    gemini_emulator: GeminiEmulator, reason: str, mode: str
) -> None:
    gemini_emulator.faults.permission_denied = reason
    emb = Embedder(dimensions=128, client=gemini_emulator.client(api_key=SECRET), retry=FAST)
    err = rejected(emb, texts(40), mode)
    assert gemini_emulator.stats.embed_calls == 1
    assert (err.code, err.status, err.reason) == (403, "PERMISSION_DENIED", reason)
    assert "GEMINI_API_KEY" in str(err)
    # CONSUMER_SUSPENDED's message quotes the key, as Google's does: it never reaches ours
    assert SECRET not in str(err)


def test_a_key_google_echoes_is_taken_out_even_when_not_key_shaped(gemini_emulator: GeminiEmulator) -> None:
    plain = "my-own-plain-secret-4711"
    gemini_emulator.faults.permission_denied = "CONSUMER_SUSPENDED"
    emb = Embedder(dimensions=128, client=gemini_emulator.client(api_key=plain), retry=FAST)
    err = rejected(emb, texts(3), "sync")
    assert "has been suspended" in str(err) and plain not in str(err)


@MODES
def test_unauthenticated_is_one_call(gemini_emulator: GeminiEmulator, mode: str) -> None:
    gemini_emulator.faults.unauthenticated = True
    emb = Embedder(dimensions=128, client=gemini_emulator.client(), retry=FAST)
    err = rejected(emb, texts(40), mode)
    assert gemini_emulator.stats.embed_calls == 1
    assert (err.code, err.status, err.reason) == (401, "UNAUTHENTICATED", "CREDENTIALS_MISSING")


@MODES
def test_a_model_that_does_not_exist_is_one_call(gemini_emulator: GeminiEmulator, mode: str) -> None:
    gemini_emulator.faults.retired_models = ("gemini-embedding-2",)
    emb = Embedder("gemini-embedding-2", 128, client=gemini_emulator.client(), retry=FAST)
    err = rejected(emb, texts(40), mode)
    assert gemini_emulator.stats.embed_calls == 1
    assert (err.code, err.status) == (404, "NOT_FOUND")
    assert "models/gemini-embedding-2 is not found" in str(err) and "model name" in str(err)


@MODES
def test_a_spent_daily_quota_is_one_call_not_a_retry(gemini_emulator: GeminiEmulator, mode: str) -> None:
    # Google's answer carries a RetryInfo of seconds even for a per-day quota; only QuotaFailure tells
    gemini_emulator.faults.daily_quota = 10
    emb = Embedder(dimensions=128, client=gemini_emulator.client(), retry=FAST)
    err = rejected(emb, texts(40), mode)
    assert gemini_emulator.stats.embed_calls == 1
    assert (err.code, err.status) == (429, "RESOURCE_EXHAUSTED")
    assert err.reason == "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier"
    assert "midnight Pacific" in str(err)


def test_a_per_minute_quota_stays_retried(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rpm = 1
    client = gemini_emulator.client()
    Embedder(dimensions=128, client=client).embed(["fills the minute"])
    with pytest.raises(Exception) as info:  # the SDK's own error, straight from the wire
        client.models.embed_content(model="gemini-embedding-2", contents="x")
    assert classify_error(info.value).kind is ErrorKind.RETRY


@MODES
def test_a_content_400_still_bisects_and_keeps_the_others(gemini_emulator: GeminiEmulator, mode: str) -> None:
    gemini_emulator.faults.reject_texts_containing = "POISON"
    items = texts(16)
    items[5] = "a POISON row"
    emb = Embedder(dimensions=128, client=gemini_emulator.client(), retry=FAST)
    with pytest.raises(PartialEmbeddingError) as info:
        embed(emb, items, mode)
    assert list(info.value.failures) == [5] and "INVALID_ARGUMENT" in info.value.failures[5]
    assert info.value.succeeded.sum() == 15
    assert gemini_emulator.stats.embed_calls == 1 + 2 * 4  # the call, then both halves at each of 4 levels


@MODES
def test_a_request_error_in_a_bisection_stops_it_at_once(gemini_emulator: GeminiEmulator, mode: str) -> None:
    # call 1 (16 items) is admitted and blames item 5; call 2 (items 0..7) is admitted; call 3 (items
    # 8..15) finds the day's quota spent: no call after it, and no item is recorded as failed
    gemini_emulator.faults.reject_texts_containing = "POISON"
    gemini_emulator.faults.daily_quota = 24
    items = texts(16)
    items[5] = "a POISON row"
    emb = Embedder(dimensions=128, client=gemini_emulator.client(), retry=FAST)
    err = rejected(emb, items, mode)
    assert err.code == 429
    assert gemini_emulator.stats.embed_calls == 3


@MODES
def test_many_calls_stop_at_the_first_refusal(gemini_emulator: GeminiEmulator, mode: str) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    client = gemini_emulator.client(api_key="a-wrong-key")
    one_at_a_time = Embedder(dimensions=128, client=client, retry=FAST, max_concurrency=1)
    rejected(one_at_a_time, texts(1000), mode)  # 10 calls planned
    assert gemini_emulator.stats.embed_calls == 1
    gemini_emulator.stats.reset()
    gemini_emulator.faults.latency = 0.05
    four = Embedder(dimensions=128, client=client, retry=FAST, max_concurrency=4)
    rejected(four, texts(1000), mode)
    assert gemini_emulator.stats.embed_calls <= 4  # the calls already in flight, none after


@MODES
def test_vertex_one_content_per_call_stops_at_the_first_refusal(
    gemini_emulator: GeminiEmulator, mode: str
) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    client = gemini_emulator.client(api_key="a-wrong-key", vertexai=True)
    emb = Embedder(dimensions=128, client=client, retry=FAST, max_concurrency=1)
    assert emb.vertexai
    err = rejected(emb, texts(20), mode)
    assert gemini_emulator.stats.embed_calls == 1 and err.reason == "API_KEY_INVALID"


def test_an_upload_with_a_wrong_key_is_request_level(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    big = gv.Audio(media.wav_signal(3, rate=4000))  # 24 kB, over the threshold: uploaded first
    emb = Embedder(
        dimensions=128,
        client=gemini_emulator.client(api_key=SECRET),
        retry=FAST,
        upload_threshold_bytes=10_000,
    )
    with pytest.raises(RequestRejectedError) as info:
        emb.embed([big, "text"])
    assert info.value.reason == "API_KEY_INVALID" and SECRET not in str(info.value)
    assert gemini_emulator.stats.calls.get("files.upload") == 1 and gemini_emulator.stats.embed_calls == 0


def test_collection_add_propagates_it_untouched_and_stores_nothing(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    emb = Embedder(dimensions=128, client=gemini_emulator.client(api_key=SECRET), retry=FAST)
    with gv.connect("memory://") as store:
        docs = store.collection("docs", embedder=emb)
        with pytest.raises(RequestRejectedError) as info:
            docs.add(texts(30), ids=[f"id{i}" for i in range(30)])
        assert type(info.value) is RequestRejectedError and info.value.reason == "API_KEY_INVALID"
        assert docs.count() == 0
    assert gemini_emulator.stats.embed_calls == 1


def test_a_403_naming_one_items_file_blames_that_item(gemini_emulator: GeminiEmulator) -> None:
    # Google answers 403 "You do not have permission to access the File x or it may not exist" for an
    # uploaded file that expired or was deleted: that is the item's fault, so it is isolated
    gone = gv.Image.from_uri(f"{gemini_emulator.base_url}/v1beta/files/expired-file", mime_type="image/png")
    items: list[gv.Image | str] = ["first text", "second text", gone, "fourth text"]
    emb = Embedder(dimensions=128, client=gemini_emulator.client(), retry=FAST)
    with pytest.raises(PartialEmbeddingError) as info:
        emb.embed(items)
    assert list(info.value.failures) == [2] and "403" in info.value.failures[2]
    assert info.value.succeeded.tolist() == [True, True, False, True]
