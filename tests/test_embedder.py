"""The Embedder, driving the unmodified google-genai SDK over HTTP against the Gemini API emulator."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from google import genai

import gemini_vectors as gv
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import (
    APIResponseError,
    ArgumentError,
    ConfigurationError,
    ContentError,
    EmbeddingError,
    PartialEmbeddingError,
    RateLimitError,
)
from gemini_vectors.retry import RetryPolicy
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.media import png

FAST_RETRY = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)


def texts(n: int, tag: str = "doc") -> list[str]:
    return [f"{tag} number {i} about topic{i % 7} and thing{i % 11}" for i in range(n)]


@pytest.mark.parametrize("model", ["gemini-embedding-2", "gemini-embedding-001"])
@pytest.mark.parametrize("n", [1, 3, 250])
def test_n_items_give_n_distinct_unit_vectors(gemini_emulator: GeminiEmulator, model: str, n: int) -> None:
    emb = Embedder(model, 768, client=gemini_emulator.client())
    out = emb.embed(texts(n))
    assert out.shape == (n, 768)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert len({row.tobytes() for row in out}) == n
    assert gemini_emulator.stats.embed_requests == n


def test_the_sdk_trap_is_avoided(gemini_emulator: GeminiEmulator) -> None:
    client = gemini_emulator.client()
    naive = client.models.embed_content(model="gemini-embedding-2", contents=["one", "two", "three"])
    assert len(naive.embeddings or []) == 1  # what a plain list of strings does to gemini-embedding-2
    assert Embedder(client=client).embed(["one", "two", "three"]).shape == (3, 3072)


def test_250_texts_take_3_calls_of_at_most_100(gemini_emulator: GeminiEmulator) -> None:
    Embedder(client=gemini_emulator.client(), dimensions=256).embed(texts(250))
    sizes = [requests for requests, _ in gemini_emulator.stats.call_sizes]
    assert gemini_emulator.stats.embed_calls == 3
    assert sorted(sizes) == [50, 100, 100]


def test_results_keep_input_order_under_concurrency(gemini_emulator: GeminiEmulator) -> None:
    items = texts(420)
    serial = Embedder(client=gemini_emulator.client(), dimensions=256, max_concurrency=1).embed(items)
    gemini_emulator.faults.latency = 0.02
    parallel = Embedder(client=gemini_emulator.client(), dimensions=256, max_concurrency=8).embed(items)
    np.testing.assert_array_equal(serial, parallel)
    # order is really checked: one item embedded alone equals its row
    lone = Embedder(client=gemini_emulator.client(), dimensions=256).embed([items[333]])
    np.testing.assert_array_equal(lone[0], parallel[333])


def test_payload_bound_splits_calls(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128, max_call_bytes=2_000)
    emb.embed(["x" * 500] * 12)
    assert gemini_emulator.stats.embed_calls > 1
    assert all(requests <= 4 for requests, _ in gemini_emulator.stats.call_sizes)


def test_media_is_read_when_its_call_is_sent(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    # Each call carries one image (the payload bound), so reading every file before the first call would
    # hold all of their bytes at once; each is read only when its own call goes out.
    calls_seen_at_read: list[int] = []

    @dataclass(frozen=True, init=False, repr=False)
    class WatchedImage(gv.Image):
        def read_bytes(self) -> bytes:
            calls_seen_at_read.append(gemini_emulator.stats.embed_calls)
            return super().read_bytes()

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(png(rgb=(i * 60, 30, 30)))
    image_bytes = len(png())
    emb = Embedder(
        client=gemini_emulator.client(), dimensions=128, max_concurrency=1, max_call_bytes=image_bytes + 10
    )
    out = emb.embed([WatchedImage(path) for path in paths])
    assert out.shape == (4, 128) and gemini_emulator.stats.embed_calls == 4
    assert calls_seen_at_read == [0, 1, 2, 3]


def test_faults_lose_and_shift_nothing(gemini_emulator: GeminiEmulator) -> None:
    items = texts(2000)
    clean = Embedder(client=gemini_emulator.client(), dimensions=128).embed(items)
    calls_clean = gemini_emulator.stats.embed_calls
    gemini_emulator.reset()
    gemini_emulator.faults.rate_503 = 0.10
    gemini_emulator.faults.rate_429 = 0.05
    gemini_emulator.faults.retry_after = 1
    gemini_emulator.faults.rate_short = 0.02
    gemini_emulator.faults.seed = 7
    noisy = Embedder(client=gemini_emulator.client(), dimensions=128, retry=FAST_RETRY).embed(items)
    np.testing.assert_array_equal(clean, noisy)
    statuses = gemini_emulator.stats.statuses
    assert statuses.get(503, 0) + statuses.get(429, 0) > 0, "the faults must really have fired"
    assert gemini_emulator.stats.embed_calls > calls_clean


def test_retry_after_is_honoured(gemini_emulator: GeminiEmulator) -> None:
    import time

    gemini_emulator.faults.rate_429 = 1.0
    gemini_emulator.faults.retry_after = 1
    emb = Embedder(client=gemini_emulator.client(), dimensions=128, retry=RetryPolicy(3, 0.001, 0.002))
    start = time.monotonic()
    with pytest.raises(RateLimitError, match="after 3 attempts"):
        emb.embed(["x"])
    # two waits of at least the server's 1 s, although our own backoff would be ~1 ms
    assert time.monotonic() - start >= 2.0
    assert gemini_emulator.stats.embed_calls == 3


def test_short_responses_that_persist_are_an_error_not_a_shift(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rate_short = 1.0
    emb = Embedder(client=gemini_emulator.client(), dimensions=128, retry=RetryPolicy(2, 0.001, 0.002))
    with pytest.raises(APIResponseError, match="returned 2 vectors for 3 requests"):
        emb.embed(["a", "b", "c"])


def test_one_bad_item_is_isolated(gemini_emulator: GeminiEmulator) -> None:
    items = texts(230)
    items[17] = "POISON one"
    items[201] = "POISON two"
    gemini_emulator.faults.reject_texts_containing = "POISON"
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    with pytest.raises(PartialEmbeddingError) as info:
        emb.embed(items)
    err = info.value
    assert sorted(err.failures) == [17, 201]
    assert "item 17" in str(err) and "item 201" in str(err)
    assert err.succeeded.sum() == 228
    assert np.isnan(err.vectors[17]).all()
    gemini_emulator.faults.reject_texts_containing = None
    good = emb.embed([items[0], items[229]])
    np.testing.assert_array_equal(err.vectors[[0, 229]], good)


def test_task_prefixes_are_sent_as_text(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=256)
    raw = emb.embed(
        ["task: search result | query: a cat", "title: none | text: a cat", "title: T | text: a cat"]
    )
    np.testing.assert_array_equal(emb.embed_query("a cat"), raw[0])
    np.testing.assert_array_equal(emb.embed_documents(["a cat"])[0], raw[1])
    np.testing.assert_array_equal(emb.embed_documents(["a cat"], titles=["T"])[0], raw[2])
    fact = emb.embed(["task: fact checking | query: a cat"])[0]
    np.testing.assert_array_equal(emb.embed_query("a cat", task="FACT_VERIFICATION"), fact)
    assert not np.array_equal(emb.embed(["a cat"])[0], raw[0])


def test_001_gets_task_type_not_prefixes(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder("gemini-embedding-001", 256, client=gemini_emulator.client())
    plain = emb.embed(["a cat"])[0]
    query = emb.embed_query("a cat")
    assert not np.array_equal(plain, query)
    prefixed = emb.embed(["task: search result | query: a cat"])[0]
    assert not np.array_equal(prefixed, query)


def test_001_truncated_vectors_are_normalized_by_us(gemini_emulator: GeminiEmulator) -> None:
    client = gemini_emulator.client()  # keep a reference: a collected Client closes its HTTP session
    raw = client.models.embed_content(
        model="gemini-embedding-001",
        contents=[genai.types.Content(parts=[genai.types.Part.from_text(text="hello")])],
        config=genai.types.EmbedContentConfig(output_dimensionality=256),
    )
    values = np.asarray(raw.embeddings[0].values)  # type: ignore[index]
    assert abs(np.linalg.norm(values) - 1) > 1e-3  # the model leaves truncations un-normalized
    ours = Embedder("gemini-embedding-001", 256, client=gemini_emulator.client()).embed(["hello"])[0]
    np.testing.assert_allclose(ours, values / np.linalg.norm(values), rtol=1e-6)


def test_matryoshka_prefix(gemini_emulator: GeminiEmulator) -> None:
    full = Embedder(client=gemini_emulator.client()).embed(["hello world"])[0]
    small = Embedder(client=gemini_emulator.client(), dimensions=768).embed(["hello world"])[0]
    np.testing.assert_allclose(small, full[:768] / np.linalg.norm(full[:768]), atol=1e-6)


def test_limits_are_checked_before_sending(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    with pytest.raises(ContentError, match="item 2"):
        emb.embed(["ok", "fine", ""])
    with pytest.raises(ContentError, match="item 1"):
        emb.embed(["ok", "word " * 20000])
    old = Embedder("gemini-embedding-001", 128, client=gemini_emulator.client())
    with pytest.raises(ContentError, match="item 0"):
        old.embed([gv.Image(data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)])
    assert gemini_emulator.stats.total_calls == 0


def test_rpm_limiter_keeps_under_the_emulator_quota(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rpm = 4
    emb = Embedder(client=gemini_emulator.client(), dimensions=128, rpm=4, max_concurrency=4)
    emb.embed(texts(400))
    assert gemini_emulator.stats.statuses.get(429, 0) == 0
    assert gemini_emulator.stats.embed_calls == 4


def test_other_client_errors_are_not_retried(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    emb.spec = gv.EmbeddingSpec("no-such-model", 128, "prefix")  # a model the server does not know: 404
    with pytest.raises(gv.RequestRejectedError, match="404"):
        emb.embed(["x"])
    assert gemini_emulator.stats.embed_calls == 1


def test_api_key_never_shown(gemini_emulator: GeminiEmulator, caplog: pytest.LogCaptureFixture) -> None:
    secret = "AIza-super-secret-key-123"
    client = gemini_emulator.client(api_key=secret)
    emb = Embedder(client=client, dimensions=128, retry=RetryPolicy(2, 0.001, 0.002))
    gemini_emulator.faults.rate_503 = 1.0
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EmbeddingError) as info:
        emb.embed(["x"])
    assert secret not in repr(emb) and secret not in str(info.value) and secret not in caplog.text
    assert secret in gemini_emulator.stats.keys_seen  # it did travel, in the header


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        Embedder()


def test_env_configured_client(gemini_env: GeminiEmulator) -> None:
    assert Embedder(dimensions=128).embed(["x"]).shape == (1, 128)
    assert gemini_env.stats.embed_calls == 1


async def test_async_twins_match_sync(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=256)
    items = texts(230)
    sync = emb.embed_documents(items)
    gemini_emulator.faults.rate_503 = 0.2
    emb.retry = FAST_RETRY
    np.testing.assert_array_equal(await emb.aembed_documents(items), sync)
    np.testing.assert_array_equal(await emb.aembed_query("a cat"), emb.embed_query("a cat"))
    gemini_emulator.faults.rate_503 = 0
    gemini_emulator.faults.reject_texts_containing = "POISON"
    with pytest.raises(PartialEmbeddingError) as info:
        await emb.aembed(["fine", "POISON", "also fine"])
    assert list(info.value.failures) == [1]


def test_interleaved_item_is_one_vector(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    out = emb.embed([gv.Item(["a red square", gv.Image(data=png())]), "a red square"])
    assert out.shape == (2, 128)
    assert gemini_emulator.stats.embed_requests == 2
    assert not np.array_equal(out[0], out[1])


def test_vertex_ai_sends_one_content_per_call(gemini_emulator: GeminiEmulator) -> None:
    client = gemini_emulator.client(vertexai=True)
    emb = Embedder(client=client, dimensions=256, max_concurrency=4)
    assert emb.vertexai
    out = emb.embed(texts(8))
    assert out.shape == (8, 256)
    assert gemini_emulator.stats.calls.get("embedContent") == 8
    assert gemini_emulator.stats.calls.get("batchEmbedContents", 0) == 0
    developer = Embedder(client=gemini_emulator.client(), dimensions=256).embed(texts(8))
    np.testing.assert_allclose(out, developer, atol=1e-6)  # the same vectors either way


def test_001_titles_are_grouped_into_as_few_calls_as_possible(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder("gemini-embedding-001", 128, client=gemini_emulator.client())
    items = texts(300)
    titles = [("A", "B", None)[i % 3] for i in range(300)]
    out = emb.embed_documents(items, titles=titles)
    assert gemini_emulator.stats.embed_calls == 3  # one per distinct title, not one per change of title
    lone = emb.embed_documents([items[4]], titles=["B"])
    np.testing.assert_array_equal(lone[0], out[4])
    assert not np.array_equal(emb.embed_documents([items[4]], titles=["A"])[0], out[4])


def test_request_contents_are_what_embed_sends(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    contents, config = emb.request_contents(
        ["a cat", gv.Item(["caption", gv.Image(data=png())])], "RETRIEVAL_DOCUMENT"
    )
    assert [c.parts[0].text for c in contents] == ["title: none | text: a cat", "title: none | text: caption"]  # type: ignore[index]
    assert config.output_dimensionality == 128 and config.task_type is None
    old = Embedder("gemini-embedding-001", 256, client=gemini_emulator.client())
    contents, config = old.request_contents(["a cat"], "RETRIEVAL_QUERY")
    assert contents[0].parts[0].text == "a cat" and config.task_type == "RETRIEVAL_QUERY"  # type: ignore[index]
    with pytest.raises(ContentError, match="item 1"):
        emb.request_contents(["ok", ""])


def test_arguments_of_the_wrong_shape_are_refused_before_sending(gemini_emulator: GeminiEmulator) -> None:
    emb = Embedder(client=gemini_emulator.client(), dimensions=128)
    cases = [
        (lambda: emb.embed("a string"), "items takes a list of items, got one str"),
        (lambda: emb.embed(b"xy"), "got one bytes"),
        (lambda: emb.embed({"a": 1}), "got a mapping"),
        (lambda: emb.embed(gv.Item(["a", "b"])), "got one Item"),
        (lambda: emb.embed(gv.Image(data=png())), "got one Image"),
        (lambda: emb.embed(["fine", None]), "item 1: expected a str"),
        (lambda: emb.embed(["fine", 123]), "item 1: expected a str"),
        (lambda: emb.embed_documents(["a", "b"], titles="ab"), "titles takes a list"),
        (lambda: emb.embed_documents(["a", "b"], titles=["t", b"x"]), "item 1: a title must be a str"),
        (lambda: emb.embed_documents(["a", "b"], titles=["t"]), "got 1 titles for 2 items"),
        (lambda: emb.embed(["a"], titles=["t"]), "titles are for documents"),
    ]
    for call, message in cases:
        with pytest.raises(ArgumentError, match=message):
            call()
    with pytest.raises(ConfigurationError, match="a task type is a TaskType or its name"):
        emb.embed(["a"], task=123)  # type: ignore[arg-type]
    assert gemini_emulator.stats.embed_calls == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"max_concurrency": "4"}, "max_concurrency must be an integer"),
        ({"max_concurrency": 2.5}, "max_concurrency must be an integer"),
        ({"max_call_bytes": -1}, "max_call_bytes must be at least 1"),
        ({"upload_threshold_bytes": -1}, "upload_threshold_bytes must be at least 0"),
        ({"rpm": 0}, "rpm must be at least 1"),
        ({"tpm": 0}, "tpm must be at least 1"),
        ({"model": None}, "a model name is a str"),
    ],
)
def test_settings_are_checked(
    gemini_emulator: GeminiEmulator, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Embedder(client=gemini_emulator.client(), **options)  # type: ignore[arg-type]


def test_retry_policy_needs_an_attempt() -> None:
    with pytest.raises(ConfigurationError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError, match="must not be negative"):
        RetryPolicy(base_delay=-1)
