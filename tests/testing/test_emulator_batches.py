"""Batch Mode (``client.batches.create_embeddings`` and friends) against the emulator, through the SDK."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from google import genai
from google.genai import errors, types

from gemini_vectors.testing import GeminiEmulator

G2 = "gemini-embedding-2"
G1 = "gemini-embedding-001"
DONE = {
    types.JobState.JOB_STATE_SUCCEEDED,
    types.JobState.JOB_STATE_FAILED,
    types.JobState.JOB_STATE_CANCELLED,
    types.JobState.JOB_STATE_EXPIRED,
}


@pytest.fixture(autouse=True)
def _quiet_experimental() -> None:
    # create_embeddings() warns that it is experimental on every call.
    warnings.filterwarnings("ignore", message=r".*create_embeddings\(\) is experimental")


@pytest.fixture
def fast(gemini_emulator: GeminiEmulator) -> GeminiEmulator:
    gemini_emulator.faults.batch_seconds = 0.2
    return gemini_emulator


def contents(*texts: str) -> list[types.Content]:
    return [types.Content(parts=[types.Part(text=t)]) for t in texts]


def create(
    client: genai.Client, items: Sequence[types.Content], model: str = G2, **config: Any
) -> types.BatchJob:
    return client.batches.create_embeddings(
        model=model,
        src=types.EmbeddingsBatchJobSource(
            inlined_requests=types.EmbedContentBatch(
                contents=list(items), config=types.EmbedContentConfig(**config) if config else None
            )
        ),
    )


def wait(client: genai.Client, job: types.BatchJob) -> types.BatchJob:
    name = job.name
    assert name is not None
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        seen.append(job.state)
        if job.state in DONE:
            return job
        time.sleep(0.05)
    raise AssertionError(f"batch job never finished; states seen: {seen}")


def online(
    client: genai.Client, items: Sequence[types.Content], model: str = G2, **config: Any
) -> npt.NDArray[Any]:
    response = client.models.embed_content(
        model=model, contents=list(items), config=types.EmbedContentConfig(**config) if config else None
    )
    assert response.embeddings is not None
    return np.array([e.values for e in response.embeddings])


def test_job_runs_pending_running_succeeded_and_matches_online_results(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    gemini_emulator.faults.batch_seconds = 0.6
    items = contents(*(f"batch text number {i}" for i in range(25)))
    job = create(gemini_client, items, output_dimensionality=256)
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.model == f"models/{G2}"
    states: list[types.JobState | None] = [job.state]
    for _ in range(200):
        if job.state in DONE:
            break
        time.sleep(0.05)
        job = gemini_client.batches.get(name=job.name)
        states.append(job.state)
    assert types.JobState.JOB_STATE_RUNNING in states
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    results = job.dest.inlined_embed_content_responses
    assert len(results) == 25
    batch = np.array([r.response.embedding.values for r in results if r.response and r.response.embedding])
    np.testing.assert_array_equal(batch, online(gemini_client, items, output_dimensionality=256))


def test_one_rejected_item_fails_alone(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    fast.faults.reject_texts_containing = "POISON"
    job = wait(gemini_client, create(gemini_client, contents("fine", "POISON pill", "", "also fine")))
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    results = job.dest.inlined_embed_content_responses
    assert [r.error is None for r in results] == [True, False, False, True]
    assert results[1].error is not None and results[1].error.code == 3
    assert "requests[1]" in (results[1].error.message or "")
    assert results[2].error is not None and "requests[2]" in (results[2].error.message or "")
    assert results[0].response is not None and results[0].response.embedding is not None


def test_all_items_rejected_lands_in_inlined_responses(
    gemini_client: genai.Client, fast: GeminiEmulator
) -> None:
    # The SDK only recognises embedding results when at least one item has an embedding; with none,
    # the errors stay under dest.inlined_responses. Callers must look at both.
    fast.faults.reject_texts_containing = "X"
    job = wait(gemini_client, create(gemini_client, contents("X1", "X2")))
    assert job.dest is not None
    assert job.dest.inlined_embed_content_responses is None
    assert job.dest.inlined_responses is not None
    assert [r.error is not None for r in job.dest.inlined_responses] == [True, True]


def test_gemini_embedding_001_in_batch_mode(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    items = contents("first document", "second document")
    job = wait(
        gemini_client,
        create(gemini_client, items, model=G1, output_dimensionality=768, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    batch = np.array([r.response.embedding.values for r in job.dest.inlined_embed_content_responses])  # type: ignore[union-attr]
    expected = online(
        gemini_client, items, model=G1, output_dimensionality=768, task_type="RETRIEVAL_DOCUMENT"
    )
    np.testing.assert_array_equal(batch, expected)
    assert np.all(np.linalg.norm(batch, axis=1) < 0.9)  # still un-normalized, as online


def test_batch_counters_are_separate_from_online(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    wait(gemini_client, create(gemini_client, contents("a", "b", "c")))
    wait(gemini_client, create(gemini_client, contents("d")))
    stats = fast.stats
    assert stats.batch_jobs == 2 and stats.batch_requests == 4
    assert stats.embed_calls == 0 and stats.embed_requests == 0 and stats.embedded == 0
    assert stats.calls["asyncBatchEmbedContent"] == 2


def test_list_pages_through_all_jobs(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    names = {create(gemini_client, contents(f"job {i}")).name for i in range(5)}
    listed = {job.name for job in gemini_client.batches.list(config={"page_size": 2})}
    assert listed == names
    assert fast.stats.calls["batches.list"] == 3


def test_cancel(gemini_client: genai.Client, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.batch_seconds = 30
    job = create(gemini_client, contents("never finished"))
    assert job.name is not None
    gemini_client.batches.cancel(name=job.name)
    job = gemini_client.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.dest is None


def test_delete(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    job = wait(gemini_client, create(gemini_client, contents("to delete")))
    assert job.name is not None
    gemini_client.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as exc:
        gemini_client.batches.get(name=job.name)
    assert exc.value.code == 404


@pytest.mark.parametrize("end", ["FAILED", "EXPIRED"])
def test_jobs_can_be_made_to_fail(gemini_client: genai.Client, fast: GeminiEmulator, end: str) -> None:
    fast.faults.batch_end_state = end
    job = wait(gemini_client, create(gemini_client, contents("doomed")))
    assert job.state == types.JobState[f"JOB_STATE_{end}"]
    assert job.dest is None


def test_inline_input_limit(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    fast.limits.max_batch_job_bytes = 10_000
    create(gemini_client, contents("small"))
    with pytest.raises(errors.ClientError) as exc:
        create(gemini_client, contents(*(["some words"] * 2000)))
    assert exc.value.code == 400
    assert "payload size exceeds the limit: 10000 bytes" in (exc.value.message or "")
    assert fast.stats.batch_jobs == 1


def test_unknown_model(gemini_client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as exc:
        create(gemini_client, contents("x"), model="no-such-model")
    assert exc.value.code == 404


def test_online_faults_do_not_touch_batch_endpoints(
    gemini_client: genai.Client, fast: GeminiEmulator
) -> None:
    fast.faults.rate_503 = 1.0
    job = wait(gemini_client, create(gemini_client, contents("x")))
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED


async def test_async_batches(gemini_client: genai.Client, fast: GeminiEmulator) -> None:
    import asyncio

    job = await gemini_client.aio.batches.create_embeddings(
        model=G2,
        src=types.EmbeddingsBatchJobSource(
            inlined_requests=types.EmbedContentBatch(contents=contents("a", "b"))
        ),
    )
    assert job.name is not None
    for _ in range(200):
        if job.state in DONE:
            break
        await asyncio.sleep(0.05)
        job = await gemini_client.aio.batches.get(name=job.name)
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    assert len(job.dest.inlined_embed_content_responses) == 2
