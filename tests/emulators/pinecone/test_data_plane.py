"""Data plane of the emulator, driven by the official SDK's vector API."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pinecone import Index
from pinecone.errors.exceptions import NotFoundError

from .server import PineconeEmulator


def unit(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    m = rng.standard_normal((n, dims)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_upsert_query_fetch_round_trip(make_index: Callable[..., Index]) -> None:
    idx = make_index(16)
    rng = np.random.default_rng(1)
    vecs = unit(rng, 30, 16)
    answer = idx.upsert(
        vectors=[
            {
                "id": f"v{i}",
                "values": vecs[i],
                "metadata": {"i": i, "even": i % 2 == 0, "tags": ["t", str(i)]},
            }
            for i in range(30)
        ],
        namespace="ns",
    )
    assert answer.upserted_count == 30

    got = idx.query(vector=vecs[7].tolist(), top_k=5, namespace="ns", include_metadata=True)
    exact = vecs.astype(np.float64) @ vecs[7].astype(np.float64)
    assert [m.id for m in got.matches] == [f"v{i}" for i in np.argsort(-exact)[:5]]
    assert got.matches[0].score == pytest.approx(1.0, abs=1e-6)
    assert got.matches[0].metadata == {"i": 7, "even": False, "tags": ["t", "7"]}
    assert got.matches[0].values == []  # values only when asked for
    assert got.namespace == "ns"

    with_values = idx.query(vector=vecs[7].tolist(), top_k=1, namespace="ns", include_values=True)
    np.testing.assert_array_equal(np.asarray(with_values.matches[0].values, np.float32), vecs[7])

    fetched = idx.fetch(ids=["v3", "missing", "v4"], namespace="ns")
    assert set(fetched.vectors) == {"v3", "v4"}
    np.testing.assert_array_equal(np.asarray(fetched.vectors["v3"].values, np.float32), vecs[3])
    assert fetched.vectors["v4"].metadata == {"i": 4, "even": True, "tags": ["t", "4"]}


def test_query_by_id_and_unknown_namespace(make_index: Callable[..., Index]) -> None:
    idx = make_index(4)
    idx.upsert(vectors=[("a", [1.0, 0, 0, 0]), ("b", [0.9, 0.1, 0, 0]), ("c", [0, 0, 1.0, 0])], namespace="n")
    got = idx.query(id="a", top_k=2, namespace="n")
    assert [m.id for m in got.matches] == ["a", "b"]
    assert idx.query(id="nope", top_k=2, namespace="n").matches == []
    assert idx.query(vector=[1.0, 0, 0, 0], top_k=3, namespace="elsewhere").matches == []


@pytest.mark.parametrize(
    ("metric", "first"), [("euclidean", "near"), ("dotproduct", "long"), ("cosine", "near")]
)
def test_metrics(make_index: Callable[..., Index], metric: str, first: str) -> None:
    idx = make_index(2, metric)
    idx.upsert(vectors=[("near", [1.0, 0.1]), ("long", [5.0, 3.0]), ("far", [-1.0, 0.0])])
    got = idx.query(vector=[1.0, 0.0], top_k=3)
    assert got.matches[0].id == first
    assert got.matches[-1].id in ("far", "long")


def test_upsert_replaces_and_update_merges(make_index: Callable[..., Index]) -> None:
    idx = make_index(3)
    idx.upsert(vectors=[{"id": "a", "values": [1.0, 0, 0], "metadata": {"x": 1, "y": "old"}}], namespace="n")
    idx.upsert(vectors=[{"id": "a", "values": [0, 1.0, 0], "metadata": {"y": "new"}}], namespace="n")
    fetched = idx.fetch(ids=["a"], namespace="n").vectors["a"]
    assert fetched.values == [0.0, 1.0, 0.0] and fetched.metadata == {"y": "new"}

    idx.update(id="a", set_metadata={"z": True}, namespace="n")
    idx.update(id="a", values=[0, 0, 1.0], namespace="n")
    fetched = idx.fetch(ids=["a"], namespace="n").vectors["a"]
    assert fetched.values == [0.0, 0.0, 1.0] and fetched.metadata == {"y": "new", "z": True}

    idx.update(id="ghost", set_metadata={"z": False}, namespace="n")  # accepted, changes nothing
    assert "ghost" not in idx.fetch(ids=["ghost"], namespace="n").vectors

    result = idx.update(filter={"y": "new"}, set_metadata={"w": "bulk"}, namespace="n")
    assert result.matched_records == 1
    assert idx.fetch(ids=["a"], namespace="n").vectors["a"].metadata["w"] == "bulk"


def test_delete_by_ids_filter_and_all(make_index: Callable[..., Index]) -> None:
    idx = make_index(2)
    idx.upsert(
        vectors=[{"id": f"v{i}", "values": [1.0, float(i)], "metadata": {"i": i}} for i in range(10)],
        namespace="n",
    )
    idx.delete(ids=["v0", "v1", "unknown"], namespace="n")
    idx.delete(filter={"i": {"$gte": 8}}, namespace="n")
    left = sorted(item.id for page in idx.list(namespace="n") for item in page.vectors if item.id)
    assert left == [f"v{i}" for i in range(2, 8)]
    idx.delete(delete_all=True, namespace="n")
    stats = idx.describe_index_stats()
    assert stats.total_vector_count == 0
    # deleteAll empties the namespace but keeps it; deleting in a namespace that never existed is a 404
    assert idx.describe_namespace(name="n").record_count == 0
    with pytest.raises(NotFoundError):
        idx.delete(ids=["v2"], namespace="never")


def test_list_pagination_and_prefix(make_index: Callable[..., Index]) -> None:
    idx = make_index(2)
    ids = [f"doc#{i:03d}" for i in range(250)] + ["other-1", "other-2"]
    idx.upsert(vectors=[(i, [1.0, 0.5]) for i in ids[:200]], namespace="n")
    idx.upsert(vectors=[(i, [1.0, 0.5]) for i in ids[200:]], namespace="n")
    pages = list(idx.list(namespace="n", prefix="doc#", limit=100))
    assert [len(p.vectors) for p in pages] == [100, 100, 50]
    assert [item.id for p in pages for item in p.vectors] == sorted(ids[:250])
    first = idx.list_paginated(namespace="n", limit=2)
    assert first.pagination is not None and first.pagination.next
    second = idx.list_paginated(namespace="n", limit=2, pagination_token=first.pagination.next)
    assert [v.id for v in second.vectors] == sorted(ids)[2:4]


def test_stats_and_namespaces(make_index: Callable[..., Index], emu: PineconeEmulator) -> None:
    idx = make_index(2)
    idx.upsert(vectors=[("a", [1.0, 0]), ("b", [0, 1.0])], namespace="one")
    idx.upsert(vectors=[("c", [1.0, 1.0])], namespace="two")
    idx.upsert(vectors=[("d", [1.0, 1.0])])  # the default namespace
    idx.create_namespace(name="empty")
    stats = idx.describe_index_stats()
    assert stats.dimension == 2 and stats.total_vector_count == 4
    assert stats.namespaces["one"].vector_count == 2
    assert stats.namespaces["__default__"].vector_count == 1

    names = [ns.name for page in idx.list_namespaces() for ns in page.namespaces]
    assert names == ["__default__", "empty", "one", "two"]
    paged = [ns.name for page in idx.list_namespaces(limit=1) for ns in page.namespaces]
    assert paged == names
    assert idx.describe_namespace(name="one").record_count == 2
    idx.delete_namespace(name="one")
    with pytest.raises(NotFoundError):
        idx.describe_namespace(name="one")
    with pytest.raises(NotFoundError):
        idx.delete_namespace(name="one")
    assert "one" not in idx.describe_index_stats().namespaces
    assert emu.count("create_namespace") == 1 and emu.count("delete_namespace", status=404) == 1
