"""Search options of the Qdrant store: ``ef_search`` (Qdrant's ``hnsw_ef``) and ``index="mrl:<d>"``.

On qdrant-client's local engine (the same query code the client ships, prefetch included). Local mode
searches exactly, so ``hnsw_ef`` is checked where it is decided (the ``query_points`` arguments a server
would receive) and the results are checked against numpy's exact ranking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemini_vectors as gv
import numpy as np
import pytest
from gemini_vectors.errors import ArgumentError, ConfigurationError, StoreError
from gemini_vectors.filters import matches, parse_filter
from gemini_vectors.index_choice import IndexChoice
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors
from qdrant_client import models

from gemini_vectors_qdrant import QdrantStore
from gemini_vectors_qdrant.connection import URL_OPTIONS, split_store_options
from gemini_vectors_qdrant.storage import FULL_VECTOR, PREFIX_VECTOR
from gemini_vectors_qdrant.store import METADATA_KEY, STORE_OPTIONS, QdrantCollection, _strict_ef_limit

DIMS = 256
PREFIX = 128
SPEC = EmbeddingSpec.for_model("gemini-embedding-2", DIMS)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)
BAD_EF: list[Any] = [0, -5, True, 1.5, "64"]


@pytest.fixture
def local_url(tmp_path: Path) -> str:
    """A directory of its own: when every store of it is closed, the next one reads it from disk."""
    return f"qdrant+local://{tmp_path / 'qdrant'}"


@pytest.fixture
def name() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def _qdrant(coll: Any) -> QdrantCollection:
    assert isinstance(coll, QdrantCollection)
    return coll


def _unit(v: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return (v / np.linalg.norm(v)).astype(np.float32)


def funnel_data() -> tuple[np.ndarray[Any, np.dtype[np.float32]], list[Record]]:
    """A query and records on which the prefix alone ranks the wrong records first.

    The query is e0 in its prefix and e128 in the rest. Decoys match the prefix exactly and oppose the
    rest (prefix cosine 1, full cosine ~0); the true neighbours match the prefix less (0.8 and 0.7) and
    the rest fully (full cosine ~0.9 and ~0.85). Noise is random. Decoys are group "b", the true
    neighbours and the noise group "a".
    """
    e = np.eye(DIMS, dtype=np.float32)
    query = _unit(e[0] + e[PREFIX])
    records: list[Record] = []
    for i in range(3):
        records.append(Record(f"decoy{i}", _unit(e[0] - e[PREFIX] + 0.01 * (i + 1) * e[2]), {"group": "b"}))
    for i, c in enumerate((0.8, 0.7)):
        prefix = c * e[0] + np.sqrt(1 - c * c) * e[1]
        records.append(Record(f"true{i}", _unit(prefix + e[PREFIX]), {"group": "a"}))
    for i, v in enumerate(unit_vectors(40, DIMS, seed=5)):
        records.append(Record(f"noise{i}", v, {"group": "a"}))
    return query, records


def exact_top(
    query: np.ndarray[Any, Any], records: list[Record], k: int, dims: int | None = None, flt: Any = None
) -> list[tuple[str, float]]:
    """The exact top-k by cosine over the first ``dims`` dimensions (all by default), after ``flt``."""
    q = query[:dims]
    scored = []
    for r in records:
        if flt is not None and not matches(parse_filter(flt), r.metadata):
            continue
        v = np.asarray(r.vector)[:dims]
        scored.append((r.id, float(np.dot(q, v) / (np.linalg.norm(q) * np.linalg.norm(v)))))
    return sorted(scored, key=lambda item: -item[1])[:k]


# -- ef_search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_EF)
def test_a_bad_ef_search_is_refused_before_anything_is_sent(
    qdrant_store: QdrantStore, name: str, bad: Any
) -> None:
    coll = _qdrant(qdrant_store.open_collection(name, SPEC_128))
    coll.upsert(make_records(3))
    # the Qdrant collection goes away under the handle: a request sent would fail as "not found"
    qdrant_store.client.delete_collection(coll.qdrant_name)
    with pytest.raises(ArgumentError, match="ef_search must be a positive integer"):
        coll.query(unit_vectors(1)[0], k=2, ef_search=bad)
    with pytest.raises(ArgumentError, match="ef_search must be a positive integer"):
        coll.set_ef_search(bad)


def test_a_bad_ef_search_is_refused_before_anything_is_embedded(
    qdrant_store: QdrantStore, name: str, gemini_emulator: Any
) -> None:
    embedder = gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)
    coll = qdrant_store.collection(name, embedder)
    try:
        calls = gemini_emulator.stats.embed_calls
        with pytest.raises(ArgumentError, match="ef_search"):
            coll.search("a question", k=3, ef_search=0)
        assert gemini_emulator.stats.embed_calls == calls  # nothing paid for
        coll.add(["doc one", "doc two"], ids=["one", "two"])
        assert [m.id for m in coll.search("doc one", k=2, ef_search=64)][:1] == ["one"]
        coll.ef_search = 48
        assert coll.ef_search == 48
        with pytest.raises(ArgumentError, match="ef_search"):
            coll.ef_search = -1
    finally:
        qdrant_store.drop_collection(name)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "many"])
def test_a_bad_ef_search_store_option_is_refused_at_connect(qdrant_url: str, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="ef_search must be a positive integer"):
        gv.connect(qdrant_url, ef_search=bad)


def test_url_options_are_read_and_keywords_win(local_url: str) -> None:
    with pytest.raises(ConfigurationError, match="ef_search='many' must be an integer"):
        gv.connect(f"{local_url}?ef_search=many")
    with pytest.raises(ConfigurationError, match="given twice"):
        gv.connect(f"{local_url}?ef_search=1&ef_search=2")
    with gv.connect(f"{local_url}?ef_search=40&index=mrl:128&rerank_factor=3") as store:
        assert isinstance(store, QdrantStore)
        assert (store.ef_search, store.index, store.rerank_factor) == (40, IndexChoice("mrl", 128), 3)
    with gv.connect(f"{local_url}?ef_search=40&index=mrl:128", ef_search=80, index="hnsw") as store:
        assert isinstance(store, QdrantStore)
        assert (store.ef_search, store.index) == (80, IndexChoice("hnsw"))
    # every store option may come in the URL, and nothing else is taken out of it
    assert set(URL_OPTIONS) == set(STORE_OPTIONS)
    assert split_store_options("qdrant://h:1?grpc=true&ef_search=5#x") == (
        "qdrant://h:1?grpc=true#x",
        {"ef_search": 5},
    )


def test_the_ef_search_default_is_recorded_and_survives_reopening(local_url: str, name: str) -> None:
    with gv.connect(local_url, ef_search=64) as store:
        coll = _qdrant(store.open_collection(name, SPEC_128))
        assert coll.ef_search == 64
        info = store.client.get_collection(coll.qdrant_name)
        assert info.config.metadata[METADATA_KEY]["ef_search"] == 64
        coll.upsert(make_records(5))
    # every store of the path closed: the next one reads the collection from disk
    with gv.connect(local_url) as other:
        again = _qdrant(other.open_collection(name))
        assert again.ef_search == 64
        assert again.query_arguments(unit_vectors(1)[0], 3, None)["search_params"].hnsw_ef == 64
        # a store option is for collections it creates, not those it opens
    with gv.connect(local_url, ef_search=200) as third:
        assert _qdrant(third.open_collection(name)).ef_search == 64


def test_without_a_default_qdrant_chooses(qdrant_store: QdrantStore, name: str) -> None:
    coll = _qdrant(qdrant_store.open_collection(name, SPEC_128))
    try:
        assert coll.ef_search is None
        assert METADATA_KEY in qdrant_store.client.get_collection(coll.qdrant_name).config.metadata
        assert (
            "ef_search"
            not in qdrant_store.client.get_collection(coll.qdrant_name).config.metadata[METADATA_KEY]
        )
        assert coll.query_arguments(unit_vectors(1)[0], 3, None)["search_params"] is None
    finally:
        qdrant_store.drop_collection(name)


def test_set_ef_search_is_recorded_with_the_collection(local_url: str, name: str) -> None:
    records = make_records(20)
    with gv.connect(local_url) as store:
        coll = _qdrant(store.open_collection(name, SPEC_128))
        coll.upsert(records)
        coll.set_ef_search(150)
        assert coll.ef_search == 150
        # the rest of the record is kept: the spec, the name, the plan
        entry = store.client.get_collection(coll.qdrant_name).config.metadata[METADATA_KEY]
        assert entry["ef_search"] == 150 and entry["name"] == name and entry["index"] == "hnsw"
        assert EmbeddingSpec.from_dict(entry["spec"]) == SPEC_128
    with gv.connect(local_url) as other:
        again = _qdrant(other.open_collection(name, SPEC_128))
        assert again.ef_search == 150
        # the search still answers, exactly in local mode, with the default and a per-query value
        want = exact_top(records[0].vector, records, 5)
        for ef in (None, 8):
            got = again.query(records[0].vector, k=5, ef_search=ef)
            assert [m.id for m in got] == [i for i, _ in want]


def test_hnsw_ef_goes_into_the_search_a_server_receives(qdrant_store: QdrantStore, name: str) -> None:
    coll = _qdrant(qdrant_store.open_collection(name, SPEC_128))
    try:
        q = unit_vectors(1)[0]
        assert coll.query_arguments(q, 3, None, ef_search=77)["search_params"].hnsw_ef == 77
        coll.set_ef_search(33)
        assert coll.query_arguments(q, 3, None)["search_params"].hnsw_ef == 33
        assert coll.query_arguments(q, 3, None, ef_search=90)["search_params"].hnsw_ef == 90
        # local mode searches exactly and warns about search parameters: none are sent there
        assert coll.query_arguments(q, 3, None, ef_search=90, exact_engine=True)["search_params"] is None
    finally:
        qdrant_store.drop_collection(name)


def test_quantized_storage_keeps_rescoring_beside_hnsw_ef(qdrant_url: str, name: str) -> None:
    with gv.connect(qdrant_url, storage="binary", ef_search=64) as store:
        coll = _qdrant(store.open_collection(name, SPEC_128))
        try:
            params = coll.query_arguments(unit_vectors(1)[0], 3, None)["search_params"]
            assert params.hnsw_ef == 64
            assert params.quantization.rescore is True
        finally:
            store.drop_collection(name)


def test_a_servers_strict_mode_limit_bounds_ef_search(qdrant_store: QdrantStore, name: str) -> None:
    coll = _qdrant(qdrant_store.open_collection(name, SPEC_128))
    try:
        info = qdrant_store.client.get_collection(coll.qdrant_name)
        assert _strict_ef_limit(info) is None  # local mode has no strict mode
        strict = models.StrictModeConfigOutput(enabled=True, search_max_hnsw_ef=256)
        limited = info.model_copy(
            update={"config": info.config.model_copy(update={"strict_mode_config": strict})}
        )
        assert _strict_ef_limit(limited) == 256
        bounded = QdrantCollection(
            qdrant_store, name, SPEC_128, coll.qdrant_name, coll.stored_plan, max_ef_search=256
        )
        with pytest.raises(ArgumentError, match="above QdrantCollection's limit of 256"):
            bounded.query(unit_vectors(1)[0], k=1, ef_search=257)
        with pytest.raises(ArgumentError, match="limit of 256"):
            bounded.set_ef_search(1000)
        assert bounded.query(unit_vectors(1)[0], k=1, ef_search=256) == []
    finally:
        qdrant_store.drop_collection(name)


# -- Matryoshka two-stage search ----------------------------------------------------------------------


@pytest.fixture
def mrl_store(qdrant_url: str) -> Iterator[QdrantStore]:
    with gv.connect(qdrant_url, index=f"mrl:{PREFIX}") as store:
        assert isinstance(store, QdrantStore)
        yield store


def test_an_mrl_collection_has_a_prefix_index_and_a_full_vector_without_one(
    mrl_store: QdrantStore, name: str
) -> None:
    coll = _qdrant(mrl_store.open_collection(name, SPEC))
    try:
        assert coll.index == IndexChoice("mrl", PREFIX)
        info = mrl_store.client.get_collection(coll.qdrant_name)
        vectors = info.config.params.vectors
        assert isinstance(vectors, dict) and set(vectors) == {FULL_VECTOR, PREFIX_VECTOR}
        assert vectors[PREFIX_VECTOR].size == PREFIX and vectors[FULL_VECTOR].size == DIMS
        assert vectors[FULL_VECTOR].distance == vectors[PREFIX_VECTOR].distance == models.Distance.COSINE
        assert vectors[FULL_VECTOR].hnsw_config.m == 0  # no graph for the full vector
        assert vectors[PREFIX_VECTOR].hnsw_config is None or vectors[PREFIX_VECTOR].hnsw_config.m != 0
        entry = info.config.metadata[METADATA_KEY]
        assert entry["index"] == f"mrl:{PREFIX}" and entry["rerank_factor"] == 4
        assert entry["storage"] == "float32"
    finally:
        mrl_store.drop_collection(name)


def test_the_funnel_answers_the_exact_full_vector_top_k(mrl_store: QdrantStore, name: str) -> None:
    query, records = funnel_data()
    coll = _qdrant(mrl_store.open_collection(name, SPEC))
    try:
        coll.upsert(records)
        want = exact_top(query, records, 2)
        # the data is built so that the prefix alone ranks the decoys first: re-ranking must fix it
        assert [i for i, _ in exact_top(query, records, 2, dims=PREFIX)] != [i for i, _ in want]
        assert [i for i, _ in want] == ["true0", "true1"]
        got = coll.query(query, k=2)
        assert [m.id for m in got] == [i for i, _ in want]
        np.testing.assert_allclose([m.score for m in got], [s for _, s in want], atol=1e-4)
        assert [m.metadata for m in got] == [{"group": "a"}, {"group": "a"}]
        # the same with a per-query ef_search (ignored by the exact local engine, accepted all the same)
        assert [m.id for m in coll.query(query, k=2, ef_search=16)] == [i for i, _ in want]
    finally:
        mrl_store.drop_collection(name)


def test_the_first_stage_really_ranks_on_the_prefix(qdrant_url: str, name: str) -> None:
    # with one candidate per result the re-ranking has nothing to fix: the prefix's choice shows
    query, records = funnel_data()
    with gv.connect(qdrant_url, index=f"mrl:{PREFIX}", rerank_factor=1) as store:
        coll = _qdrant(store.open_collection(name, SPEC))
        try:
            coll.upsert(records)
            got = {m.id for m in coll.query(query, k=2)}
            assert got == {i for i, _ in exact_top(query, records, 2, dims=PREFIX)}
            assert got <= {"decoy0", "decoy1", "decoy2"}
        finally:
            store.drop_collection(name)


def test_filters_apply_in_both_stages(mrl_store: QdrantStore, name: str) -> None:
    query, records = funnel_data()
    # more decoys than the first stage takes (k * 4 = 8): a filter left to the second stage would
    # find no group "a" record among the candidates
    e = np.eye(DIMS, dtype=np.float32)
    records += [Record(f"decoyx{i}", _unit(e[0] + 0.001 * (i + 1) * e[3]), {"group": "b"}) for i in range(12)]
    coll = _qdrant(mrl_store.open_collection(name, SPEC))
    try:
        coll.upsert(records)
        for flt in ({"group": "a"}, {"group": "b"}):
            want = exact_top(query, records, 2, flt=flt)
            got = coll.query(query, k=2, filter=flt)
            assert [m.id for m in got] == [i for i, _ in want]
            assert all(m.metadata["group"] == flt["group"] for m in got)
        arguments = coll.query_arguments(query, 2, models.Filter(must=[]))
        assert arguments["prefetch"].filter == arguments["query_filter"] == models.Filter(must=[])
        assert arguments["prefetch"].using == PREFIX_VECTOR and arguments["using"] == FULL_VECTOR
        assert arguments["prefetch"].limit == 8 and len(arguments["prefetch"].query) == PREFIX
    finally:
        mrl_store.drop_collection(name)


def test_hnsw_ef_goes_to_the_stage_that_walks_the_graph(qdrant_url: str, name: str) -> None:
    with gv.connect(qdrant_url, index=f"mrl:{PREFIX}", ef_search=50, storage="scalar") as store:
        coll = _qdrant(store.open_collection(name, SPEC))
        try:
            arguments = coll.query_arguments(unit_vectors(1, DIMS)[0], 5, None, ef_search=120)
            assert arguments["prefetch"].params.hnsw_ef == 120
            assert arguments["prefetch"].params.quantization.rescore is True  # the prefix is quantized
            assert "search_params" not in arguments  # the re-ranking reads the full vectors exactly
            assert coll.query_arguments(unit_vectors(1, DIMS)[0], 5, None)["prefetch"].params.hnsw_ef == 50
            vectors = store.client.get_collection(coll.qdrant_name).config.params.vectors
            assert vectors[PREFIX_VECTOR].quantization_config is not None
            assert vectors[FULL_VECTOR].quantization_config is None
        finally:
            store.drop_collection(name)


def test_get_and_query_return_the_full_vector(mrl_store: QdrantStore, name: str) -> None:
    query, records = funnel_data()
    coll = _qdrant(mrl_store.open_collection(name, SPEC))
    try:
        coll.upsert(records)
        by_id = {r.id: r for r in records}
        got = coll.get(["true0", "decoy1"])
        assert [r.id for r in got] == ["true0", "decoy1"]
        for r in got:
            assert r.vector.shape == (DIMS,)
            np.testing.assert_allclose(r.vector, by_id[r.id].vector, atol=1e-5)
        matched = coll.query(query, k=1, include_vectors=True)
        assert matched[0].vector is not None and matched[0].vector.shape == (DIMS,)
        np.testing.assert_allclose(matched[0].vector, by_id[matched[0].id].vector, atol=1e-5)
        assert coll.get(["true0"], include_vectors=False)[0].vector.shape == (0,)
    finally:
        mrl_store.drop_collection(name)


def test_a_prefix_as_long_as_the_vector_is_refused_before_creating(qdrant_url: str, name: str) -> None:
    spec = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
    with gv.connect(qdrant_url, index="mrl:3072") as store:
        with pytest.raises(ConfigurationError, match=r"mrl:3072.*shorter than 3072"):
            store.open_collection(name, spec)
        assert store.stored_spec(name) is None
        assert name not in store.list_collections()
        assert not store.client.collection_exists(store.qdrant_name(name))


@pytest.mark.parametrize(
    ("index", "message"), [("mrl:64", "at least 128"), ("binary", "not offered"), ("mrl", "prefix length")]
)
def test_a_bad_index_option_is_refused_at_connect(qdrant_url: str, index: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        gv.connect(qdrant_url, index=index)


def test_an_mrl_collection_reopens_with_its_recorded_plan(local_url: str, name: str) -> None:
    query, records = funnel_data()
    with gv.connect(local_url, index=f"mrl:{PREFIX}", rerank_factor=3) as store:
        store.open_collection(name, SPEC).upsert(records[:20])
    # a store with other options, after every store of the path closed: the record decides
    with gv.connect(local_url, index="hnsw", rerank_factor=9) as other:
        again = _qdrant(other.open_collection(name))
        assert again.index == IndexChoice("mrl", PREFIX) and again.stored_plan.rerank_factor == 3
        again.upsert(records[20:])  # writes both vectors
        assert again.count() == len(records)
        assert [m.id for m in again.query(query, k=2)] == [i for i, _ in exact_top(query, records, 2)]
        assert again.query_arguments(query, 2, None)["prefetch"].limit == 6
        # and a new collection of that store gets that store's layout
        plain = _qdrant(other.open_collection(name + "-plain", SPEC))
        assert plain.index == IndexChoice("hnsw")


def test_a_plain_collection_made_before_layouts_were_recorded_keeps_working(
    qdrant_store: QdrantStore, name: str
) -> None:
    # what an earlier version wrote: one unnamed vector, and no index in the record
    qdrant_name = qdrant_store.qdrant_name(name)
    qdrant_store.client.create_collection(
        qdrant_name,
        vectors_config=models.VectorParams(size=128, distance=models.Distance.COSINE),
        metadata={
            METADATA_KEY: {"format": 1, "name": name, "spec": SPEC_128.to_dict(), "storage": "float32"}
        },
    )
    try:
        with gv.connect(qdrant_store.url, index=f"mrl:{PREFIX}") as store:
            coll = _qdrant(store.open_collection(name, SPEC_128))
            assert coll.index == IndexChoice("hnsw") and coll.ef_search is None
            records = make_records(10)
            coll.upsert(records)
            assert [m.id for m in coll.query(records[3].vector, k=3)] == [
                i for i, _ in exact_top(records[3].vector, records, 3)
            ]
            np.testing.assert_allclose(coll.get([records[2].id])[0].vector, records[2].vector, atol=1e-5)
            coll.set_ef_search(90)  # the record gains the default, and keeps its layout
            entry = store.client.get_collection(qdrant_name).config.metadata[METADATA_KEY]
            assert entry["ef_search"] == 90 and entry["index"] == "hnsw"
    finally:
        qdrant_store.drop_collection(name)


def test_a_collection_recreated_with_another_layout_is_not_written_blindly(
    qdrant_url: str, name: str
) -> None:
    with gv.connect(qdrant_url) as first, gv.connect(qdrant_url, index=f"mrl:{PREFIX}") as second:
        old = first.open_collection(name, SPEC)
        second.drop_collection(name)
        second.open_collection(name, SPEC)
        try:
            # the handle's Qdrant collection is gone: the name's new one (another layout) is not its
            with pytest.raises(StoreError, match="dropped since this handle opened it"):
                old.upsert(make_records(2, dims=DIMS))
            assert second.open_collection(name).count() == 0
        finally:
            second.drop_collection(name)
