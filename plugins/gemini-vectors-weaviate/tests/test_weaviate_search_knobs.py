"""Recall you can set (HNSW ``ef`` in the collection's index config) and Matryoshka two-stage search.

Everything goes through the unmodified weaviate-client to the session's Weaviate (the emulator, a
testcontainer or ``GEMINI_VECTORS_TEST_WEAVIATE_URL``); the tests that count requests need the emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import gemini_vectors as gv
import numpy as np
import pytest
from gemini_vectors.errors import ArgumentError, CollectionNotFoundError, ConfigurationError
from gemini_vectors.filters import parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records

from gemini_vectors_weaviate import WeaviateCollection, WeaviateStore
from gemini_vectors_weaviate.naming import PREFIX_VECTOR_NAME, VECTOR_NAME, object_uuid

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)
WIDE = EmbeddingSpec.for_model("gemini-embedding-2", 256)
PREFIX = 128


class Stores(list[WeaviateStore]):
    """The stores a test opened, and the collection names it made (dropped after the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def connect(self, url: str, **options: Any) -> WeaviateStore:
        store = gv.connect(url, **options)
        assert isinstance(store, WeaviateStore)
        self.append(store)
        return store

    def create(self, store: WeaviateStore, spec: EmbeddingSpec) -> WeaviateCollection:
        name = new_name()
        self.names.append(name)
        coll = store.open_collection(name, spec)
        assert isinstance(coll, WeaviateCollection)
        return coll


@pytest.fixture
def stores() -> Iterator[Stores]:
    opened = Stores()
    yield opened
    for n in opened.names:
        opened[0].drop_collection(n)
    for store in opened:
        store.close()


def new_name() -> str:
    return f"knobs-{uuid.uuid4().hex[:10]}"


def vector_configs(store: WeaviateStore, coll: WeaviateCollection) -> dict[str, Any]:
    """The named vectors' index configs as the server returns them, read behind the store's back."""
    config = store.client.collections.use(coll.class_name).config.get()
    assert config.vector_config is not None
    return {name: nv.vector_index_config for name, nv in config.vector_config.items()}


# -- ef ----------------------------------------------------------------------------------------------


def test_ef_from_the_store_option_round_trips_through_the_server(weaviate_url: str, stores: Stores) -> None:
    store = stores.connect(weaviate_url, ef_search=123)
    coll = stores.create(store, SPEC)
    name = coll.name
    assert coll.ef_search == 123
    assert vector_configs(store, coll)[VECTOR_NAME].ef == 123

    coll.set_ef_search(256)
    assert coll.ef_search == 256
    assert vector_configs(store, coll)[VECTOR_NAME].ef == 256

    # a new store object on the same server, without the option: the collection keeps its ef
    other = stores.connect(weaviate_url)
    again = other.collection(name)
    assert again.ef_search == 256
    again.ef_search = 64  # Collection's setter: one update for every client
    assert vector_configs(store, coll)[VECTOR_NAME].ef == 64
    coll.upsert(make_records(2))  # a write re-reads the config, and with it the ef
    assert coll.ef_search == 64


def test_ef_in_the_url_and_the_dynamic_default(weaviate_url: str, stores: Stores) -> None:
    sep = "&" if "?" in weaviate_url else "?"
    store = stores.connect(f"{weaviate_url}{sep}ef_search=77")
    assert store.ef_search == 77
    assert stores.create(store, SPEC).ef_search == 77
    keyword_wins = stores.connect(f"{weaviate_url}{sep}ef_search=77", ef_search=99)
    assert keyword_wins.ef_search == 99

    plain = stores.connect(weaviate_url)
    coll = stores.create(plain, SPEC)
    assert coll.ef_search is None  # Weaviate's dynamic ef: clamp(8k, 100, 500) per query
    assert vector_configs(plain, coll)[VECTOR_NAME].ef == -1


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "100", None])
def test_bad_ef_is_refused_before_anything_is_sent(weaviate_emulator: Any, bad: Any) -> None:
    store = gv.connect(weaviate_emulator.url)
    assert isinstance(store, WeaviateStore)
    name = new_name()
    try:
        coll = store.open_collection(name, SPEC)
        before = dict(weaviate_emulator.rest_calls)
        with pytest.raises(ArgumentError, match="ef_search must be a positive integer"):
            coll.set_ef_search(bad)
        assert dict(weaviate_emulator.rest_calls) == before
        assert coll.ef_search is None
    finally:
        store.drop_collection(name)
        store.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ef_search": 0}, "ef_search option .* must be a positive whole number"),
        ({"ef_search": "many"}, "ef_search option"),
        ({"index": "binary"}, "not offered here"),
        ({"index": "mrl:64"}, "at least 128"),
        ({"index": "mrl"}, "prefix length"),
        ({"rerank_factor": 0}, "rerank_factor must be a whole number from 1"),
    ],
)
def test_bad_store_options_are_refused_before_connecting(
    weaviate_emulator: Any, options: dict[str, Any], message: str
) -> None:
    before = dict(weaviate_emulator.rest_calls)
    with pytest.raises(ConfigurationError, match=message):
        gv.connect(weaviate_emulator.url, **options)
    assert dict(weaviate_emulator.rest_calls) == before


@pytest.mark.parametrize(("query", "message"), [("ef_search=x", "whole number"), ("index=mrl:12", "128")])
def test_bad_url_options_are_refused_before_connecting(
    weaviate_emulator: Any, query: str, message: str
) -> None:
    before = dict(weaviate_emulator.rest_calls)
    with pytest.raises(ConfigurationError, match=message):
        gv.connect(f"{weaviate_emulator.url}&{query}")
    assert dict(weaviate_emulator.rest_calls) == before


def test_per_query_ef_search_is_the_cores_clear_error(weaviate_store: WeaviateStore, gemini_env: Any) -> None:
    name = new_name()
    emb = gv.Embedder(model="gemini-embedding-2", dimensions=128)
    docs = weaviate_store.collection(name, embedder=emb)
    try:
        with pytest.raises(ArgumentError, match="takes no search-time candidate list"):
            docs.search("a sleeping cat", k=3, ef_search=50)
        assert gemini_env.stats.total_calls == 0  # refused before the query was embedded
        with pytest.raises(ArgumentError, match="takes no search-time candidate list"):
            docs.backend.query(make_records(1)[0].vector, 3, ef_search=50)  # type: ignore[call-arg]
    finally:
        weaviate_store.drop_collection(name)


# -- Matryoshka two-stage search ---------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


def funnel_data(seed: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A query and records whose best full-vector matches are *not* the best on the 128-dim prefix.

    ``q`` has half its weight in the prefix and half in the tail. Five decoys share q's prefix exactly
    but have a random tail; five targets are a little off in the prefix and match q's tail: the decoys
    win on the prefix, the targets on the full vector. The rest is noise, far from both.
    """
    rng = np.random.default_rng(seed)
    dims = WIDE.dimensions
    qp, qt = _unit(rng.standard_normal(PREFIX)), _unit(rng.standard_normal(dims - PREFIX))
    q = _unit(np.concatenate([qp, qt]))
    rows: list[np.ndarray] = []
    kinds: list[str] = []
    for _ in range(5):
        rows.append(_unit(np.concatenate([qp, _unit(rng.standard_normal(dims - PREFIX))])))
        kinds.append("decoy")
    for _ in range(5):
        off = _unit(qp + 0.5 * _unit(rng.standard_normal(PREFIX)))
        rows.append(_unit(np.concatenate([off, qt + 0.05 * _unit(rng.standard_normal(dims - PREFIX))])))
        kinds.append("target")
    for _ in range(190):
        rows.append(_unit(rng.standard_normal(dims)))
        kinds.append("noise")
    return q, np.stack(rows), kinds


def exact_top(q: np.ndarray, m: np.ndarray, k: int, allowed: list[int] | None = None) -> list[int]:
    pick = list(range(len(m))) if allowed is None else allowed
    scores = m[pick] @ q
    return [pick[i] for i in np.argsort(-scores, kind="stable")[:k]]


def prefix_top(q: np.ndarray, m: np.ndarray, k: int, allowed: list[int] | None = None) -> list[int]:
    pick = list(range(len(m))) if allowed is None else allowed
    p = m[pick][:, :PREFIX]
    scores = (p @ q[:PREFIX]) / np.linalg.norm(p, axis=1)
    return [pick[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture
def funnel(weaviate_url: str, stores: Stores) -> tuple[WeaviateCollection, np.ndarray, np.ndarray]:
    store = stores.connect(weaviate_url, index=f"mrl:{PREFIX}")
    coll = stores.create(store, WIDE)
    q, m, _ = funnel_data()
    coll.upsert([Record(f"r{i}", m[i], {"i": i, "even": i % 2 == 0}) for i in range(len(m))])
    return coll, q, m


def test_mrl_rerank_returns_the_exact_full_vector_top_k(
    funnel: tuple[WeaviateCollection, np.ndarray, np.ndarray],
) -> None:
    coll, q, m = funnel
    k = 5
    want = exact_top(q, m, k)
    assert set(want).isdisjoint(prefix_top(q, m, k))  # the prefix alone ranks these wrong
    got = coll.query(q, k)
    assert [g.id for g in got] == [f"r{i}" for i in want]
    np.testing.assert_allclose([g.score for g in got], m[want] @ q, atol=1e-4)
    assert all(g.vector is None for g in got)
    with_vectors = coll.query(q, k, include_vectors=True)
    np.testing.assert_allclose(
        np.stack([g.vector for g in with_vectors if g.vector is not None]), m[want], atol=1e-6
    )


def test_mrl_filters_apply_to_the_candidates(
    funnel: tuple[WeaviateCollection, np.ndarray, np.ndarray],
) -> None:
    coll, q, m = funnel
    even = [i for i in range(len(m)) if i % 2 == 0]
    want = exact_top(q, m, 3, even)
    got = coll.query(q, 3, parse_filter({"even": True}))
    assert [g.id for g in got] == [f"r{i}" for i in want]
    assert all(g.metadata["even"] is True for g in got)
    # a filter that only far records match still finds them (the candidates come filtered)
    assert {g.id for g in coll.query(q, 3, parse_filter({"i": {"$in": [7, 150]}}))} == {"r7", "r150"}


def test_mrl_get_returns_the_full_vector_and_writes_keep_both_vectors(
    weaviate_url: str, stores: Stores, funnel: tuple[WeaviateCollection, np.ndarray, np.ndarray]
) -> None:
    coll, q, m = funnel
    (rec,) = coll.get(["r7"])
    assert rec.vector.shape == (WIDE.dimensions,)
    np.testing.assert_allclose(rec.vector, m[7], atol=1e-6)
    raw = stores[0].client.collections.use(coll.class_name)
    obj = raw.query.fetch_object_by_id(object_uuid("r7"), include_vector=True)
    assert obj is not None
    np.testing.assert_allclose(obj.vector[PREFIX_VECTOR_NAME], m[7][:PREFIX], atol=1e-6)
    # re-upserting an id replaces both vectors: the record now answers a query aimed at it
    coll.upsert([Record("r7", q, {"i": 7, "even": False})])
    (top,) = coll.query(q, 1)
    assert top.id == "r7" and top.score == pytest.approx(1.0, abs=1e-5)
    assert coll.count() == len(m)
    coll.delete(["r7"])
    assert coll.query(q, 1)[0].id != "r7"


def test_mrl_collection_layout_and_ef_live_on_the_prefix_vector(
    stores: Stores, funnel: tuple[WeaviateCollection, np.ndarray, np.ndarray]
) -> None:
    coll, _, _ = funnel
    configs = vector_configs(stores[0], coll)
    assert set(configs) == {VECTOR_NAME, PREFIX_VECTOR_NAME}
    assert configs[VECTOR_NAME].skip is True  # the full vector is stored, not indexed
    assert configs[PREFIX_VECTOR_NAME].skip is False
    coll.set_ef_search(180)
    configs = vector_configs(stores[0], coll)
    assert configs[PREFIX_VECTOR_NAME].ef == 180 and configs[VECTOR_NAME].skip is True
    assert coll.ef_search == 180


def test_mrl_reopened_from_a_new_store_keeps_its_plan(
    weaviate_url: str, stores: Stores, funnel: tuple[WeaviateCollection, np.ndarray, np.ndarray]
) -> None:
    coll, q, m = funnel
    plain = stores.connect(weaviate_url)  # index="hnsw" for what it creates; the stored plan wins
    again = plain.open_collection(coll.name)
    assert isinstance(again, WeaviateCollection)
    assert str(again.plan.index) == f"mrl:{PREFIX}" and again.plan.rerank_factor == 10
    assert [g.id for g in again.query(q, 5)] == [f"r{i}" for i in exact_top(q, m, 5)]


def test_a_handle_refuses_to_write_after_its_collection_was_recreated_with_another_plan(
    weaviate_url: str, stores: Stores
) -> None:
    mrl = stores.connect(weaviate_url, index=f"mrl:{PREFIX}")
    coll = stores.create(mrl, WIDE)
    plain = stores.connect(weaviate_url)
    plain.drop_collection(coll.name)
    plain.open_collection(coll.name, WIDE)  # same name and spec, plain HNSW layout
    # the new creation is a class of its own: the old handle's class is gone, whatever the new plan
    with pytest.raises(CollectionNotFoundError, match="dropped since this handle opened it"):
        coll.upsert(make_records(1, dims=WIDE.dimensions))


def test_rerank_factor_is_recorded_and_used(weaviate_url: str, stores: Stores) -> None:
    store = stores.connect(weaviate_url, index=f"mrl:{PREFIX}", rerank_factor=1)
    coll = stores.create(store, WIDE)
    q, m, kinds = funnel_data()
    coll.upsert([Record(f"r{i}", m[i]) for i in range(len(m))])
    # one candidate per result: only the prefix's top 5 (the decoys) are re-ranked
    got = coll.query(q, 5)
    assert {kinds[int(g.id[1:])] for g in got} == {"decoy"}
    again = stores.connect(weaviate_url).open_collection(coll.name)
    assert isinstance(again, WeaviateCollection) and again.plan.rerank_factor == 1


def test_mrl_prefix_not_shorter_than_the_vectors_is_refused_before_creating(weaviate_emulator: Any) -> None:
    store = gv.connect(weaviate_emulator.url, index="mrl:256")
    try:
        before = weaviate_emulator.rest_calls["POST /v1/schema"]
        with pytest.raises(ConfigurationError, match=r"mrl:256.*vectors have 256"):
            store.open_collection(new_name(), WIDE)
        assert weaviate_emulator.rest_calls["POST /v1/schema"] == before
    finally:
        store.close()


def test_plain_collections_keep_their_description(weaviate_store: WeaviateStore) -> None:
    name = new_name()
    coll = weaviate_store.open_collection(name, SPEC)
    try:
        assert isinstance(coll, WeaviateCollection)
        config = weaviate_store.client.collections.use(coll.class_name).config.get()
        assert '"plan"' not in (config.description or "")
        assert set(config.vector_config or {}) == {VECTOR_NAME}
    finally:
        weaviate_store.drop_collection(name)
