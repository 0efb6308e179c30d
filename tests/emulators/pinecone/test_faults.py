"""Injected faults and the request counters tests read."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pinecone import Index, Pinecone
from pinecone.errors.exceptions import RateLimitError, ServiceError

from .server import PineconeEmulator


def test_counters_record_endpoint_status_and_body_size(
    make_index: Callable[..., Index], emu: PineconeEmulator
) -> None:
    idx = make_index(2)
    emu.reset_counters()
    idx.upsert(vectors=[("a", [1.0, 0.0])], namespace="n")
    idx.query(vector=[1.0, 0.0], top_k=1, namespace="n")
    idx.fetch(ids=["a"], namespace="n")
    assert [r.endpoint for r in emu.requests] == ["upsert", "query", "fetch"]
    upsert = emu.select("upsert")[0]
    assert upsert.status == 200 and upsert.index == idx.host.rsplit("/", 1)[1]
    assert upsert.body_bytes == len(b'{"vectors":[{"id":"a","values":[1.0,0.0]}],"namespace":"n"}')
    assert emu.body_sizes("fetch") == [0] and emu.select("fetch")[0].url_bytes > len("/vectors/fetch")


def test_fail_next_answers_the_chosen_status_to_the_chosen_endpoint(emu: PineconeEmulator) -> None:
    emu.fail_next(2, status=429, endpoints=("describe_index",))
    headers = {"Api-Key": emu.api_key, "X-Pinecone-Api-Version": "2026-07"}
    with httpx.Client(base_url=emu.url, headers=headers) as client:
        assert client.get("/indexes").status_code == 200  # another endpoint is not affected
        first, second, third = (client.get("/indexes/none") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 404)
    assert first.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert [r.fault for r in emu.requests] == [False, True, True, False]


def test_probabilistic_faults_reach_the_sdk(make_index: Callable[..., Index], emu: PineconeEmulator) -> None:
    idx = make_index(2)
    emu.set_faults(1.0, statuses=(503,), endpoints=("query",))
    with pytest.raises(ServiceError) as info:
        idx.query(vector=[1.0, 0.0], top_k=1)
    assert info.value.status_code == 503
    # the SDK retried on its own before giving up; every attempt was answered with the fault
    attempts = emu.select("query")
    assert len(attempts) >= 2 and all(r.status == 503 and r.fault for r in attempts)
    emu.set_faults(0.0)
    assert idx.query(vector=[1.0, 0.0], top_k=1).matches == []


def test_rate_limit_carries_retry_after(emu: PineconeEmulator) -> None:
    emu.set_faults(1.0, statuses=(429,), retry_after=0.0)
    with pytest.raises(RateLimitError) as info:
        Pinecone(api_key=emu.api_key, host=emu.url).indexes.describe("anything")
    assert info.value.retry_after == 0.0
    assert all(r.status == 429 for r in emu.requests)
    headers = {"Api-Key": emu.api_key, "X-Pinecone-Api-Version": "2026-07"}
    emu.set_faults(0.3, statuses=(429, 500))
    with httpx.Client(base_url=emu.url, headers=headers) as client:
        statuses = [client.get("/indexes").status_code for _ in range(60)]
    assert {429, 500, 200} <= set(statuses)
    assert 5 < statuses.count(200) < 60
