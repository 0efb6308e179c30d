"""The Gemini API emulator, driven by the unmodified google-genai SDK over HTTP.

Expected results are never computed by the emulator's own code: tests compare runs with each other
and check geometric properties (unit length, prefixes, word-overlap ordering).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from google import genai
from google.genai import errors, types

from gemini_vectors.testing import Faults, GeminiEmulator

G2 = "gemini-embedding-2"
G1 = "gemini-embedding-001"


def contents(*texts: str) -> list[types.Content]:
    return [types.Content(parts=[types.Part(text=t)]) for t in texts]


def embed(
    client: genai.Client,
    items: Any,
    model: str = G2,
    **config: Any,
) -> npt.NDArray[np.float64]:
    response = client.models.embed_content(
        model=model, contents=items, config=types.EmbedContentConfig(**config) if config else None
    )
    assert response.embeddings is not None
    return np.array([e.values for e in response.embeddings], dtype=np.float64)


def cos(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def raw_post(
    emu: GeminiEmulator, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    hdrs = {"x-goog-api-key": "raw-key", **(headers or {})}
    return httpx.post(emu.base_url + path, content=json.dumps(body), headers=hdrs, timeout=30)


# --- shape of the answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", [G2, "gemini-embedding-2-preview", G1])
@pytest.mark.parametrize("n", [1, 3])
def test_n_contents_give_n_distinct_unit_vectors(gemini_client: genai.Client, model: str, n: int) -> None:
    texts = [f"document number {i} about topic {i * 7}" for i in range(n)]
    vecs = embed(gemini_client, contents(*texts), model=model)
    assert vecs.shape == (n, 3072)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    assert len({v.tobytes() for v in vecs}) == n


def test_sdk_merges_a_list_of_strings_into_one_content_for_gemini_embedding_2(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    merged = embed(gemini_client, ["alpha", "beta", "gamma"], model=G2)
    assert merged.shape == (1, 3072)  # the SDK's trap, reproduced faithfully
    assert gemini_emulator.stats.embed_requests == 1
    separate = embed(gemini_client, ["alpha", "beta", "gamma"], model=G1)
    assert separate.shape == (3, 3072)  # 001 keeps one request per string


def test_several_parts_in_one_content_give_one_aggregated_vector(gemini_client: genai.Client) -> None:
    both = embed(
        gemini_client, [types.Content(parts=[types.Part(text="red apple"), types.Part(text="green pear")])]
    )
    apple, pear = embed(gemini_client, contents("red apple", "green pear"))
    assert both.shape == (1, 3072)
    assert cos(both[0], apple) > 0.3 and cos(both[0], pear) > 0.3
    assert cos(both[0], apple) < 0.99 and cos(both[0], pear) < 0.99


def test_embeddings_are_deterministic_across_servers(gemini_client: genai.Client) -> None:
    first = embed(gemini_client, contents("reproducible text", "another one"), output_dimensionality=256)
    with GeminiEmulator() as other:
        second = embed(
            other.client(), contents("reproducible text", "another one"), output_dimensionality=256
        )
    np.testing.assert_array_equal(first, second)


# --- Matryoshka truncation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [128, 768, 1536])
def test_gemini_embedding_2_truncates_to_the_normalized_prefix(
    gemini_client: genai.Client, dims: int
) -> None:
    full = embed(gemini_client, contents("matryoshka dolls nest inside each other"))[0]
    short = embed(
        gemini_client, contents("matryoshka dolls nest inside each other"), output_dimensionality=dims
    )[0]
    assert short.shape == (dims,)
    assert np.linalg.norm(short) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(short, full[:dims] / np.linalg.norm(full[:dims]), atol=1e-8)


def test_gemini_embedding_001_returns_truncated_vectors_unnormalized(gemini_client: genai.Client) -> None:
    full = embed(gemini_client, contents("the quick brown fox"), model=G1)[0]
    short = embed(gemini_client, contents("the quick brown fox"), model=G1, output_dimensionality=768)[0]
    assert np.linalg.norm(full) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(short, full[:768], atol=1e-9)
    assert np.linalg.norm(short) < 0.9  # the real 001 leaves normalizing to the caller


# --- geometry --------------------------------------------------------------------------------------------


def test_texts_sharing_words_are_closer(gemini_client: genai.Client) -> None:
    cat, cat2, stocks, cat_caps = embed(
        gemini_client,
        contents(
            "the cat sat on the mat",
            "a cat sat on a rug",
            "stock markets fell sharply today",
            "THE CAT SAT ON THE MAT",
        ),
        output_dimensionality=768,
    )
    assert cos(cat, cat2) > cos(cat, stocks) + 0.3
    assert cos(cat, cat_caps) > 0.99  # words are compared lower-cased


def test_task_prompt_words_do_not_dominate(gemini_client: genai.Client) -> None:
    q_cats, q_cats_clustering, q_stocks = embed(
        gemini_client,
        contents(
            "task: search result | query: sleeping cats",
            "task: clustering | query: sleeping cats",
            "task: search result | query: bond yields rise",
        ),
    )
    assert not np.array_equal(q_cats, q_cats_clustering)  # the task changes the vector ...
    assert cos(q_cats, q_cats_clustering) > 0.9  # ... only a little
    assert cos(q_cats, q_stocks) < 0.3  # the shared "task: search result | query:" does not make them alike


def test_a_query_finds_its_document_through_the_prompt_formats(gemini_client: genai.Client) -> None:
    docs = embed(
        gemini_client,
        contents(
            "title: none | text: cats sleep most of the day",
            "title: Finance | text: bond yields rose again",
            "title: Gardening | text: tomatoes need sun",
        ),
        output_dimensionality=768,
    )
    query = embed(
        gemini_client, contents("task: search result | query: when do cats sleep"), output_dimensionality=768
    )
    assert int(np.argmax(docs @ query[0])) == 0
    titled = embed(
        gemini_client, contents("title: Gardening tips | text: water daily"), output_dimensionality=768
    )
    untitled = embed(gemini_client, contents("title: none | text: water daily"), output_dimensionality=768)
    garden_query = embed(
        gemini_client, contents("task: search result | query: gardening"), output_dimensionality=768
    )
    assert cos(garden_query[0], titled[0]) > cos(garden_query[0], untitled[0])  # a real title counts


def test_task_type_nudges_001_and_is_ignored_by_gemini_embedding_2(gemini_client: genai.Client) -> None:
    text = contents("how tall is the eiffel tower")
    q1 = embed(gemini_client, text, model=G1, task_type="RETRIEVAL_QUERY")[0]
    d1 = embed(gemini_client, text, model=G1, task_type="RETRIEVAL_DOCUMENT")[0]
    assert not np.array_equal(q1, d1)
    assert cos(q1, d1) > 0.9
    q2 = embed(gemini_client, text, model=G2, task_type="RETRIEVAL_QUERY")[0]
    d2 = embed(gemini_client, text, model=G2, task_type="RETRIEVAL_DOCUMENT")[0]
    np.testing.assert_array_equal(q2, d2)


def test_model_spaces_are_incompatible(gemini_client: genai.Client) -> None:
    g2 = embed(gemini_client, contents("the same words"), model=G2)[0]
    g1 = embed(gemini_client, contents("the same words"), model=G1)[0]
    assert abs(cos(g1, g2)) < 0.2


# --- limits -----------------------------------------------------------------------------------------------


def assert_client_error(exc: pytest.ExceptionInfo[errors.ClientError], code: int, *needles: str) -> None:
    assert exc.value.code == code
    assert exc.value.status == {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}.get(
        code, exc.value.status
    )
    for needle in needles:
        assert needle in (exc.value.message or ""), exc.value.message


def test_at_most_100_requests_per_call(gemini_client: genai.Client) -> None:
    texts = [f"text {i}" for i in range(101)]
    assert embed(gemini_client, contents(*texts[:100]), output_dimensionality=128).shape == (100, 128)
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents(*texts), output_dimensionality=128)
    assert_client_error(exc, 400, "at most 100 requests can be in one batch")


@pytest.mark.parametrize(("model", "limit"), [(G2, 8192), (G1, 2048)])
def test_token_limit(gemini_client: genai.Client, model: str, limit: int) -> None:
    at_limit = " ".join(["word"] * limit)
    assert embed(gemini_client, contents(at_limit), model=model, output_dimensionality=128).shape == (1, 128)
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("fine", at_limit + " more"), model=model)
    assert_client_error(exc, 400, "requests[1]", f"({limit + 1})", f"({limit})")


def test_punctuation_counts_as_tokens(gemini_client: genai.Client) -> None:
    # "word," is two tokens: 4096 of them are 8193 with the final "x".
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("word, " * 4096 + "x"))
    assert_client_error(exc, 400, "(8193)")


def test_empty_content_is_rejected(gemini_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("ok", "   "))
    assert_client_error(exc, 400, "requests[1]", "empty")


def test_unsupported_mime_type_is_rejected(gemini_client: genai.Client) -> None:
    gif = types.Part.from_bytes(data=b"GIF89a" + b"\0" * 20, mime_type="image/gif")
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, [types.Content(parts=[gif])])
    assert_client_error(exc, 400, "Unsupported MIME type: image/gif")


def test_gemini_embedding_001_is_text_only(gemini_client: genai.Client) -> None:
    png = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 20, mime_type="image/png")
    with pytest.raises(errors.ClientError) as exc:
        embed(
            gemini_client, [types.Content(parts=[types.Part(text="x")]), types.Content(parts=[png])], model=G1
        )
    assert_client_error(exc, 400, "requests[1]", "Only text")


def test_payload_size_limit(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.limits.max_request_bytes = 50_000
    embed(gemini_client, contents("small"), output_dimensionality=128)
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("x " * 30_000))
    assert_client_error(exc, 400, "payload size exceeds the limit: 50000 bytes")


def test_default_payload_limit_is_20_mb(gemini_client: genai.Client) -> None:
    big = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n" + bytes(16 * 1024 * 1024), mime_type="image/png")
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, [types.Content(parts=[big])])  # 16 MB of bytes is over 21 MB of base64
    assert_client_error(exc, 400, "payload size exceeds the limit: 20971520 bytes")


def test_dimensions_out_of_range(gemini_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("x"), output_dimensionality=4096)
    assert_client_error(exc, 400, "output_dimensionality")


def test_unknown_model_is_404(gemini_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("x"), model="text-embedding-999")
    assert_client_error(exc, 404, "models/text-embedding-999 is not found")


def test_violations_of_several_requests_are_all_listed(gemini_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("ok", "", "fine", ""))
    assert exc.value.details is not None
    fields = [v["field"] for v in exc.value.details["error"]["details"][0]["fieldViolations"]]
    assert fields == ["requests[1].content", "requests[3].content"]


# --- faults -----------------------------------------------------------------------------------------------


def response_header(error: errors.APIError, name: str) -> str:
    # The SDK keeps the HTTP response of its own transport (httpx or aiohttp); both have .headers.
    response: Any = error.response
    return str(response.headers[name])


def test_latency(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.latency = 0.3
    start = time.perf_counter()
    embed(gemini_client, contents("slow"), output_dimensionality=128)
    assert time.perf_counter() - start >= 0.3


def test_429_carries_retry_after_and_retry_info(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    gemini_emulator.faults.rate_429 = 1.0
    gemini_emulator.faults.retry_after = 2.5
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("x"))
    assert exc.value.code == 429 and exc.value.status == "RESOURCE_EXHAUSTED"
    assert exc.value.details["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}
    ]
    assert response_header(exc.value, "Retry-After") == "3"


def test_503(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rate_503 = 1.0
    gemini_emulator.faults.retry_after = 1
    with pytest.raises(errors.ServerError) as exc:
        embed(gemini_client, contents("x"))
    assert exc.value.code == 503 and exc.value.status == "UNAVAILABLE"
    assert response_header(exc.value, "Retry-After") == "1"


def test_short_response_drops_the_last_embedding(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    full = embed(gemini_client, contents("a", "b", "c"), output_dimensionality=128)
    gemini_emulator.faults.rate_short = 1.0
    short = embed(gemini_client, contents("a", "b", "c"), output_dimensionality=128)
    assert short.shape == (2, 128)  # the SDK does not notice
    np.testing.assert_array_equal(short, full[:2])


def test_rpm_quota(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rpm = 3
    for _ in range(3):
        embed(gemini_client, contents("x"), output_dimensionality=128)
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("x"), output_dimensionality=128)
    assert exc.value.code == 429 and exc.value.status == "RESOURCE_EXHAUSTED"
    assert 55 <= int(response_header(exc.value, "Retry-After")) <= 60
    gemini_emulator.faults.rpm = None
    embed(gemini_client, contents("x"), output_dimensionality=128)


def test_reject_marker_fails_the_whole_call_naming_the_index(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    gemini_emulator.faults.reject_texts_containing = "POISON"
    with pytest.raises(errors.ClientError) as exc:
        embed(gemini_client, contents("fine", "also fine", "this is POISON", "fine too"))
    assert_client_error(exc, 400, "requests[2]")
    assert "requests[0]" not in (exc.value.message or "")
    assert gemini_emulator.stats.embedded == 0
    assert embed(gemini_client, contents("fine", "fine too"), output_dimensionality=128).shape == (2, 128)


def outcomes(emu: GeminiEmulator, client: genai.Client, n: int) -> list[int]:
    codes = []
    for _ in range(n):
        try:
            embed(client, contents("x"), output_dimensionality=128)
            codes.append(200)
        except errors.APIError as exc:
            codes.append(exc.code)
    return codes


def test_seeded_fault_draws_are_reproducible(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    gemini_emulator.faults.rate_503 = 0.3
    gemini_emulator.faults.rate_429 = 0.2
    gemini_emulator.faults.retry_after = 0
    gemini_emulator.faults.seed = 7
    first = outcomes(gemini_emulator, gemini_client, 40)
    gemini_emulator.faults.seed = 8
    other = outcomes(gemini_emulator, gemini_client, 40)
    gemini_emulator.faults.seed = 7
    again = outcomes(gemini_emulator, gemini_client, 40)
    assert first == again
    assert first != other
    assert {200, 429, 503} <= set(first)


def test_faults_can_be_given_at_construction() -> None:
    with GeminiEmulator(faults=Faults(rate_503=1.0, retry_after=0)) as emu:
        with pytest.raises(errors.ServerError):
            embed(emu.client(), contents("x"))
        emu.faults.rate_503 = 0.0
        assert embed(emu.client(), contents("x"), output_dimensionality=128).shape == (1, 128)


# --- authentication ---------------------------------------------------------------------------------------


def test_missing_api_key_is_403(gemini_emulator: GeminiEmulator) -> None:
    body = {"requests": [{"model": f"models/{G2}", "content": {"parts": [{"text": "x"}]}}]}
    response = httpx.post(f"{gemini_emulator.base_url}/v1/models/{G2}:batchEmbedContents", json=body)
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_unknown_api_key_is_rejected_and_never_shown() -> None:
    with GeminiEmulator(api_keys={"the-good-key"}) as emu:
        embed(emu.client(api_key="the-good-key"), contents("x"), output_dimensionality=128)
        with pytest.raises(errors.ClientError) as exc:
            embed(emu.client(api_key="sekrit-bad-key"), contents("x"))
        assert exc.value.code == 400
        assert exc.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert emu.stats.keys_seen == {"the-good-key", "sekrit-bad-key"}
        assert "sekrit" not in repr(emu.stats) and "the-good-key" not in repr(emu.stats)


# --- counters ---------------------------------------------------------------------------------------------


def test_counters_and_reset(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    stats = gemini_emulator.stats
    assert stats.total_calls == 0 and stats.embed_requests == 0
    embed(gemini_client, contents("a", "b", "c"), output_dimensionality=128)
    embed(gemini_client, contents("d"), output_dimensionality=128)
    with pytest.raises(errors.ClientError):
        embed(gemini_client, contents(""))
    assert stats.calls == {"batchEmbedContents": 3}
    assert stats.embed_calls == 3
    assert stats.embed_requests == 5
    assert stats.embedded == 4
    assert [n for n, _ in stats.call_sizes] == [3, 1, 1]
    assert all(size > 0 for _, size in stats.call_sizes)
    assert stats.statuses == {200: 2, 400: 1}
    assert stats.keys_seen == {"test-key"}
    gemini_emulator.reset()
    assert stats.total_calls == 0 and stats.call_sizes == [] and stats.keys_seen == frozenset()


def test_concurrent_calls_are_all_counted(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    gemini_emulator.faults.latency = 0.05
    with ThreadPoolExecutor(8) as pool:
        shapes = list(
            pool.map(
                lambda i: embed(gemini_client, contents(f"t{i}", "u"), output_dimensionality=128).shape,
                range(24),
            )
        )
    assert shapes == [(2, 128)] * 24
    assert gemini_emulator.stats.embed_calls == 24 and gemini_emulator.stats.embedded == 48


# --- wire formats -----------------------------------------------------------------------------------------


def test_camel_case_body_and_standard_base64(
    gemini_emulator: GeminiEmulator, gemini_client: genai.Client
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # bytes whose base64 has '+' and '/'
    std = base64.b64encode(png).decode()
    assert "+" in std or "/" in std
    body = {
        "requests": [
            {
                "model": f"models/{G2}",
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": std}}]},
                "outputDimensionality": 128,
            }
        ]
    }
    raw = raw_post(gemini_emulator, f"/v1beta/models/{G2}:batchEmbedContents", body)
    assert raw.status_code == 200, raw.text
    via_sdk = embed(
        gemini_client,
        [types.Content(parts=[types.Part.from_bytes(data=png, mime_type="image/png")])],
        output_dimensionality=128,
    )
    np.testing.assert_allclose(raw.json()["embeddings"][0]["values"], via_sdk[0], atol=0)


def test_single_embed_content_endpoint(gemini_emulator: GeminiEmulator) -> None:
    body = {"model": f"models/{G2}", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256}
    single = raw_post(gemini_emulator, f"/v1beta/models/{G2}:embedContent", body)
    assert single.status_code == 200
    batch = raw_post(gemini_emulator, f"/v1beta/models/{G2}:batchEmbedContents", {"requests": [body]})
    assert single.json()["embedding"]["values"] == batch.json()["embeddings"][0]["values"]


def test_api_version_v1beta(gemini_emulator: GeminiEmulator) -> None:
    assert embed(
        gemini_emulator.client(api_version="v1beta"), contents("x"), output_dimensionality=128
    ).shape == (
        1,
        128,
    )


async def test_async_client(gemini_client: genai.Client) -> None:
    response = await gemini_client.aio.models.embed_content(
        model=G2,
        contents=contents("async one", "async two"),
        config=types.EmbedContentConfig(output_dimensionality=128),
    )
    assert response.embeddings is not None and len(response.embeddings) == 2
    sync = embed(gemini_client, contents("async one", "async two"), output_dimensionality=128)
    np.testing.assert_array_equal(np.array([e.values for e in response.embeddings]), sync)


# --- Vertex AI mode ---------------------------------------------------------------------------------------


def test_vertex_express_mode_uses_embed_content(
    gemini_emulator: GeminiEmulator, gemini_client: genai.Client
) -> None:
    vertex = gemini_emulator.client(vertexai=True)
    one = embed(vertex, ["hello vertex"], output_dimensionality=256, task_type="RETRIEVAL_QUERY")
    assert gemini_emulator.stats.calls == {"embedContent": 1}
    developer = embed(gemini_client, contents("hello vertex"), output_dimensionality=256)
    np.testing.assert_array_equal(one, developer)  # same model, same space, whatever the front door


def test_vertex_sends_several_contents_with_batch_embed_contents(gemini_emulator: GeminiEmulator) -> None:
    vertex = gemini_emulator.client(vertexai=True)
    vecs = embed(vertex, ["a", "b", "c"], model=G1, output_dimensionality=128)
    assert vecs.shape == (3, 128)
    assert gemini_emulator.stats.calls == {"batchEmbedContents": 1}


def test_vertex_with_project_and_location(gemini_emulator: GeminiEmulator) -> None:
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True,
        project="my-project",
        location="us-central1",
        credentials=Credentials(token="static-test-token"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=gemini_emulator.base_url),
    )
    assert embed(client, ["x"], output_dimensionality=128).shape == (1, 128)
    assert gemini_emulator.stats.keys_seen == {"static-test-token"}


# --- the pytest plugin ------------------------------------------------------------------------------------


def test_fixture_starts_each_test_clean(gemini_emulator: GeminiEmulator) -> None:
    assert gemini_emulator.faults == Faults()
    assert gemini_emulator.stats.total_calls == 0
    assert gemini_emulator.limits.max_request_bytes == 20 * 1024 * 1024


def test_gemini_env_points_a_default_client_at_the_emulator(gemini_env: GeminiEmulator) -> None:
    client = genai.Client()
    assert embed(client, contents("from the environment"), output_dimensionality=128).shape == (1, 128)
    assert gemini_env.stats.embed_calls == 1


# --- serve(): the foreground server behind `gemini-vectors emulator` -----------------------------------


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_serve_prints_its_url_and_stops_on_ctrl_c_or_sigterm(stop: str) -> None:
    import signal
    import subprocess
    import sys

    code = "from gemini_vectors.testing import serve; serve(port=0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background inherits SIGINT ignored; Ctrl-C is what is tested here
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))
        assert embed(client, contents("served"), output_dimensionality=128).shape == (1, 128)
        proc.send_signal(getattr(signal, stop))
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and "stopping" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
