"""Pinecone's documented limits, answered with Pinecone-shaped errors, and nothing stored on a refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pinecone import Index
from pinecone.errors.exceptions import ApiError, PayloadTooLargeError

from .server import MAX_METADATA_BYTES, MAX_REQUEST_BYTES, PineconeEmulator


def data_path(index: Index, emu: PineconeEmulator, path: str) -> str:
    return index.host.removeprefix(emu.url) + path


def assert_data_error(exc: ApiError, status: int, grpc_code: int) -> None:
    assert exc.status_code == status
    assert isinstance(exc.body, dict)
    assert exc.body["code"] == grpc_code and exc.body["details"] == []
    assert exc.body["message"]


def test_upsert_of_1001_vectors_is_refused(make_index: Callable[..., Index], emu: PineconeEmulator) -> None:
    idx = make_index(2)
    with pytest.raises(ApiError) as info:
        idx.upsert(vectors=[(f"v{i}", [1.0, 0.0]) for i in range(1001)])
    assert_data_error(info.value, 400, 3)
    assert "1000" in info.value.body["message"]
    assert idx.describe_index_stats().total_vector_count == 0
    idx.upsert(vectors=[(f"v{i}", [1.0, 0.0]) for i in range(1000)])
    assert idx.describe_index_stats().total_vector_count == 1000


def test_upsert_over_2_mb_is_refused_with_413(
    make_index: Callable[..., Index], emu: PineconeEmulator
) -> None:
    idx = make_index(3072)
    big = [(f"v{i}", [0.123456789] * 3072) for i in range(80)]  # about 3 MB of JSON
    with pytest.raises(PayloadTooLargeError) as info:
        idx.upsert(vectors=big)
    assert "2MB" in info.value.body["message"]
    (rec,) = emu.select("upsert")
    assert rec.status == 413 and rec.body_bytes > MAX_REQUEST_BYTES
    assert idx.describe_index_stats().total_vector_count == 0
    idx.upsert(vectors=big[:20])
    assert emu.select("upsert")[-1].status == 200


def test_dimension_must_match(make_index: Callable[..., Index]) -> None:
    idx = make_index(4)
    with pytest.raises(ApiError) as info:
        idx.upsert(vectors=[("ok", [1.0, 0, 0, 0]), ("bad", [1.0, 0, 0])])
    assert "dimension" in info.value.body["message"]
    assert idx.describe_index_stats().total_vector_count == 0  # the whole batch is refused
    with pytest.raises(ApiError, match="dimension"):
        idx.query(vector=[1.0, 0.0], top_k=1)


def test_metadata_size_and_types(
    make_index: Callable[..., Index], emu: PineconeEmulator, raw: httpx.Client
) -> None:
    idx = make_index(2)
    with pytest.raises(ApiError) as info:
        idx.upsert(vectors=[{"id": "big", "values": [1.0, 0], "metadata": {"text": "x" * (41 * 1024)}}])
    assert str(MAX_METADATA_BYTES) in info.value.body["message"]
    fits = "x" * (MAX_METADATA_BYTES - len('{"text":""}'))
    idx.upsert(vectors=[{"id": "fits", "values": [1.0, 0], "metadata": {"text": fits}}])

    path = data_path(idx, emu, "/vectors/upsert")
    bad_values: list[Any] = [{"nested": 1}, [1, 2], ["a", 3], [["a"]]]
    for value in bad_values:
        answer = raw.post(path, json={"vectors": [{"id": "t", "values": [1.0, 0], "metadata": {"k": value}}]})
        assert answer.status_code == 400, value
        assert "string, number, boolean or list of strings" in answer.json()["message"]
    answer = raw.post(path, json={"vectors": [{"id": "t", "values": [1.0, 0], "metadata": {"$k": 1}}]})
    assert answer.status_code == 400
    assert "t" not in idx.fetch(ids=["t"]).vectors


def test_null_metadata_is_stripped_or_refused(
    make_index: Callable[..., Index], emu: PineconeEmulator
) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[{"id": "n", "values": [1.0, 0], "metadata": {"keep": "yes", "drop": None}}])
    assert idx.fetch(ids=["n"]).vectors["n"].metadata == {"keep": "yes"}
    emu.null_metadata = "reject"
    try:
        with pytest.raises(ApiError) as info:
            idx.upsert(vectors=[{"id": "m", "values": [1.0, 0], "metadata": {"drop": None}}])
        assert "null" in info.value.body["message"]
    finally:
        emu.null_metadata = "strip"


def test_ids_and_namespaces_at_most_512_ascii(
    make_index: Callable[..., Index], emu: PineconeEmulator
) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[("a" * 512, [1.0, 0])], namespace="n" * 512)
    with pytest.raises(ApiError) as info:
        idx.upsert(vectors=[("a" * 513, [1.0, 0])])
    assert "512" in info.value.body["message"]
    with pytest.raises(ApiError):
        idx.upsert(vectors=[("a", [1.0, 0])], namespace="n" * 513)
    assert emu.count("upsert", status=400) == 2


def test_non_ascii_id_is_refused_by_the_server(
    make_index: Callable[..., Index], emu: PineconeEmulator, raw: httpx.Client
) -> None:
    idx = make_index(2)
    answer = raw.post(
        data_path(idx, emu, "/vectors/upsert"), json={"vectors": [{"id": "ключ", "values": [1.0, 0]}]}
    )
    assert answer.status_code == 400 and "ASCII" in answer.json()["message"]


def test_top_k_limits(make_index: Callable[..., Index], emu: PineconeEmulator, raw: httpx.Client) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[("a", [1.0, 0])])
    assert len(idx.query(vector=[1.0, 0], top_k=10_000).matches) == 1
    with pytest.raises(ApiError, match="1000"):
        idx.query(vector=[1.0, 0], top_k=1001, include_metadata=True)
    path = data_path(idx, emu, "/query")
    for top_k in (0, 10_001):
        answer = raw.post(path, json={"topK": top_k, "vector": [1.0, 0]})
        assert answer.status_code == 400, top_k
    answer = raw.post(path, json={"topK": 1, "vector": [1.0, 0], "id": "a"})
    assert answer.status_code == 400


def test_query_results_above_4_mb_are_refused(make_index: Callable[..., Index]) -> None:
    idx = make_index(2)
    payload = "y" * 30_000
    for start in range(0, 150, 50):
        idx.upsert(
            vectors=[
                {"id": f"m{i}", "values": [1.0, 0.1], "metadata": {"p": payload}}
                for i in range(start, start + 50)
            ]
        )
    with pytest.raises(ApiError, match="4MB"):
        idx.query(vector=[1.0, 0], top_k=150, include_metadata=True)
    assert len(idx.query(vector=[1.0, 0], top_k=150).matches) == 150
    assert len(idx.query(vector=[1.0, 0], top_k=100, include_metadata=True).matches) == 100


def test_fetch_and_delete_at_most_1000_ids(make_index: Callable[..., Index]) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[("a", [1.0, 0])], namespace="n")
    with pytest.raises(ApiError, match="1000"):
        idx.fetch(ids=[f"x{i}" for i in range(1001)], namespace="n")
    with pytest.raises(ApiError, match="1000"):
        idx.delete(ids=[f"x{i}" for i in range(1001)], namespace="n")
    assert len(idx.fetch(ids=["a"] + [f"x{i}" for i in range(999)], namespace="n").vectors) == 1


def test_filters_are_validated(make_index: Callable[..., Index]) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[{"id": "a", "values": [1.0, 0], "metadata": {"g": "x"}}])
    bad: list[dict[str, Any]] = [
        {"g": {"$regex": "x"}},
        {"g": {"$in": "x"}},
        {"g": {"$in": [True]}},
        {"g": {"$gt": "a"}},
        {"g": {"$exists": 1}},
        {"$and": {"g": "x"}},
        {"$or": []},
        {"$not": {"g": "x"}},
        {"g": ["x"]},
        {"g": {}},
    ]
    for f in bad:
        with pytest.raises(ApiError) as info:
            idx.query(vector=[1.0, 0], top_k=1, filter=f)
        assert info.value.status_code == 400, f
    with pytest.raises(ApiError):
        idx.describe_index_stats(filter={"g": "x"})  # not on serverless
