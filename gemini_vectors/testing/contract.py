"""The VectorStore contract suite: one set of tests that every backend is held to.

Subclass :class:`VectorStoreContract` in a backend's tests and override the ``store`` fixture::

    from gemini_vectors.testing.contract import VectorStoreContract

    class TestMyStore(VectorStoreContract):
        @pytest.fixture
        def store(self) -> Iterator[VectorStore]:
            with connect("mything://...") as s:
                yield s

Every test works in collections of its own (random names) and drops them afterwards, so the suite can run
against a shared, long-lived server. Class attributes tune it to what a backend legitimately cannot do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    FilterError,
    MetadataError,
    SpecMismatchError,
)
from gemini_vectors.filters import MetadataValue, matches, parse_filter
from gemini_vectors.index_choice import MIN_PREFIX_DIMENSIONS
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record, StoreCollection, Vector, VectorStore

DIMS = 128

#: Metadata for the filter tests: every value type, lists, and fields missing on some records.
FILTER_ROWS: list[dict[str, Any]] = [
    {"lang": "en", "year": 2020, "score": 0.5, "tags": ["a", "b"], "draft": False},
    {"lang": "en", "year": 2021, "score": 1.5, "tags": ["b"], "draft": True},
    {"lang": "de", "year": 2022, "score": 2.5, "tags": ["c"], "draft": False},
    {"lang": "fr", "year": 2019, "score": -1.0, "tags": []},
    {"lang": "de", "year": 2025},
    {"year": 2020, "score": 0.5},
    {"lang": "en", "tags": ["a", "c"], "draft": True},
    {"lang": "ja", "year": 2023, "score": 3.25, "tags": ["日本", "a"], "draft": False},
    {"lang": "en", "year": 1999, "score": 10.0, "draft": False},
    {},
    {"lang": "x'); DROP TABLE t; --", "year": 2020},
    {"lang": "EN", "year": 2021, "score": 2021.0},
]

#: One filter per operator, then the combinations, each checked against the reference semantics.
FILTERS: list[dict[str, Any]] = [
    {"lang": "en"},
    {"lang": {"$eq": "en"}},
    {"lang": {"$ne": "en"}},
    {"year": {"$gt": 2020}},
    {"year": {"$gte": 2020}},
    {"year": {"$lt": 2020}},
    {"year": {"$lte": 2020}},
    {"score": {"$gt": 0.5}},
    {"score": {"$lte": 1.5}},
    {"score": {"$gte": -1}},
    {"lang": {"$in": ["de", "fr"]}},
    {"lang": {"$nin": ["de", "fr"]}},
    {"year": {"$in": [2020, 2025]}},
    {"year": {"$nin": [2020, 2025]}},
    {"lang": {"$exists": True}},
    {"lang": {"$exists": False}},
    {"tags": "a"},
    {"tags": {"$in": ["c", "日本"]}},
    {"tags": {"$nin": ["a"]}},
    {"tags": {"$ne": "b"}},
    {"draft": True},
    {"draft": {"$ne": True}},
    {"draft": {"$exists": True}},
    {"lang": "en", "year": {"$gte": 2020}},
    {"year": {"$gte": 2020, "$lt": 2023}},
    {"$and": [{"lang": "en"}, {"draft": False}]},
    {"$or": [{"lang": "de"}, {"score": {"$gt": 3}}]},
    {"$or": [{"lang": {"$exists": False}}, {"$and": [{"lang": "en"}, {"tags": "a"}]}]},
    {"lang": "x'); DROP TABLE t; --"},
    {"lang": "nobody"},
    {"year": 2021.0},
    {"score": 2021},
]


def unit_vectors(n: int, dims: int = DIMS, seed: int = 0) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``n`` random L2-normalized float32 vectors, reproducible by seed."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dims)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def make_records(
    n: int,
    *,
    dims: int = DIMS,
    seed: int = 0,
    prefix: str = "r",
    metadata: Sequence[Mapping[str, Any]] | None = None,
) -> list[Record]:
    """``n`` records with random unit vectors, ids ``{prefix}{i}`` and a content hash each."""
    vectors = unit_vectors(n, dims, seed)
    return [
        Record(
            id=f"{prefix}{i}",
            vector=vectors[i],
            metadata=dict(metadata[i]) if metadata is not None else {"i": i},
            content_hash=f"h{seed}-{i}",
        )
        for i in range(n)
    ]


def assert_out_of_reach(stale: StoreCollection, dims: int = DIMS) -> None:
    """Assert that ``stale``, a handle whose collection was dropped and created again, touches nothing.

    Its writes, reads, counts and deletes raise CollectionNotFoundError or SpecMismatchError; its drop
    may also be a no-op, but never drops the collection created since. The caller then checks that the
    new collection holds only its own records.
    """
    refused = (CollectionNotFoundError, SpecMismatchError)
    probe = unit_vectors(1, dims=dims, seed=3)[0]
    calls: list[tuple[str, Any]] = [
        ("upsert", lambda: stale.upsert(make_records(1, dims=dims, prefix="stale"))),
        ("query", lambda: stale.query(probe, k=1)),
        ("get", lambda: stale.get(["fresh0"])),
        ("count", stale.count),
        ("delete by id", lambda: stale.delete(ids=["fresh0"])),
        ("delete by filter", lambda: stale.delete(filter=parse_filter({"i": {"$gte": 0}}))),
    ]
    for what, call in calls:
        with pytest.raises(refused):
            call()
            pytest.fail(f"a stale handle's {what} reached the collection created since")  # pragma: no cover
    with contextlib.suppress(*refused):  # dropping what is gone may be a no-op
        stale.drop()


#: How much of each dimension past the first :data:`MIN_PREFIX_DIMENSIONS` :func:`matryoshka_shaped` keeps.
MATRYOSHKA_TAIL = 0.5


def matryoshka_shaped(records: Sequence[Record], tail: float = MATRYOSHKA_TAIL) -> list[Record]:
    """``records`` with every dimension past the first 128 scaled by ``tail``, then re-normalized.

    Gemini's embeddings are Matryoshka-shaped: their leading dimensions carry most of the meaning, which
    is what a Matryoshka index (``index="mrl:<d>"``, ``d`` >= 128) relies on when it draws candidates from
    a prefix and re-ranks them on the full vector. Isotropic random vectors are not: their prefix ranks
    neighbours no better than chance, so a correct two-stage search misses the exact top k as soon as it
    draws fewer candidates than the collection holds. With ``tail`` 0.5 the last dimensions still carry
    enough that a ranking by the prefix alone gets the order wrong, so the re-ranking is still tested.
    Vectors of 128 dimensions or fewer are returned as they are.
    """
    out = []
    for r in records:
        v = np.array(r.vector, dtype=np.float32)
        if v.shape[0] > MIN_PREFIX_DIMENSIONS:
            v[MIN_PREFIX_DIMENSIONS:] *= tail
            v /= np.linalg.norm(v)
        out.append(dataclasses.replace(r, vector=v))
    return out


class VectorStoreContract:
    """The behaviour every :class:`~gemini_vectors.store.VectorStore` backend must show."""

    #: True where one store holds one spec only (a Pinecone index has one dimension).
    one_spec_per_store: ClassVar[bool] = False
    #: How far a stored vector may drift from the one written (float16 storage needs ~1e-3).
    vector_atol: ClassVar[float] = 1e-5
    #: How far a returned score may drift from the exact cosine similarity.
    score_atol: ClassVar[float] = 1e-3
    #: False where the backend returns every number as a float (Pinecone keeps no int type).
    preserves_int_type: ClassVar[bool] = True
    #: Records in the "large batch" test.
    large_batch: ClassVar[int] = 3000
    #: The dimensions of the suite's spec and of every vector it writes or queries with. Raise it for a
    #: backend option that needs longer vectors (``index="mrl:128"`` needs more than 128).
    dimensions: ClassVar[int] = DIMS

    @property
    def other_dimensions(self) -> int:
        """A dimension that is not the suite's: for another spec, and for vectors that must be refused."""
        return self.dimensions * 2

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        """Override: yield a connected store."""
        raise NotImplementedError("subclasses of VectorStoreContract must override the `store` fixture")

    @pytest.fixture
    def second_store(self) -> Iterator[VectorStore]:
        """Override: a store connected on its own to the database of ``store``, as another process
        connects (its own client or pool). Without it the tests of what another process does are skipped."""
        pytest.skip(f"{type(self).__name__} gives no second_store fixture")
        yield  # pragma: no cover

    @pytest.fixture
    def spec(self) -> EmbeddingSpec:
        return EmbeddingSpec.for_model("gemini-embedding-2", self.dimensions)

    @pytest.fixture
    def name(self, store: VectorStore) -> Iterator[str]:
        name = f"contract-{uuid.uuid4().hex[:12]}"
        yield name
        store.drop_collection(name)

    @pytest.fixture
    def coll(self, store: VectorStore, name: str, spec: EmbeddingSpec) -> StoreCollection:
        return store.open_collection(name, spec)

    @pytest.fixture
    def filtered(self, coll: StoreCollection) -> tuple[StoreCollection, list[Record]]:
        records = matryoshka_shaped(
            make_records(len(FILTER_ROWS), dims=self.dimensions, seed=7, prefix="f", metadata=FILTER_ROWS)
        )
        coll.upsert(records)
        return coll, records

    # -- helpers -----------------------------------------------------------------------------------

    def assert_same_vector(self, got: Vector, want: Vector) -> None:
        assert got.dtype == np.float32
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=self.vector_atol)

    # -- collections and specs ---------------------------------------------------------------------

    def test_create_records_the_spec(self, store: VectorStore, name: str, spec: EmbeddingSpec) -> None:
        assert store.stored_spec(name) is None
        coll = store.open_collection(name, spec)
        assert coll.name == name
        assert coll.spec == spec
        assert store.stored_spec(name) == spec
        assert name in store.list_collections()

    def test_reopen_with_same_spec_and_with_none(
        self, store: VectorStore, name: str, spec: EmbeddingSpec
    ) -> None:
        store.open_collection(name, spec).upsert(make_records(3, dims=self.dimensions))
        again = store.open_collection(name, spec)
        assert again.count() == 3
        stored = store.open_collection(name)
        assert stored.spec == spec
        assert stored.count() == 3

    @pytest.mark.parametrize(
        ("model", "dims"),
        # "same": the suite's own dimension, "other": ``other_dimensions`` (values, not numbers, as the
        # suite's dimension is a class attribute a subclass may change).
        [
            ("gemini-embedding-2", "other"),
            ("gemini-embedding-001", "same"),
            ("gemini-embedding-2-preview", "same"),
        ],
    )
    def test_other_spec_is_refused_and_nothing_written(
        self, store: VectorStore, name: str, spec: EmbeddingSpec, model: str, dims: str
    ) -> None:
        store.open_collection(name, spec).upsert(make_records(2, dims=self.dimensions))
        other = EmbeddingSpec.for_model(model, self.other_dimensions if dims == "other" else self.dimensions)
        with pytest.raises(SpecMismatchError) as info:
            store.open_collection(name, other)
        assert info.value.stored == spec
        assert info.value.requested == other
        assert spec.model in str(info.value) and other.model in str(info.value)
        assert store.stored_spec(name) == spec
        assert store.open_collection(name, spec).count() == 2

    def test_missing_collection(self, store: VectorStore, name: str, spec: EmbeddingSpec) -> None:
        with pytest.raises(CollectionNotFoundError):
            store.open_collection(name)
        with pytest.raises(CollectionNotFoundError):
            store.open_collection(name, spec, create=False)
        assert store.stored_spec(name) is None

    def test_two_specs_side_by_side(self, store: VectorStore, name: str, spec: EmbeddingSpec) -> None:
        if self.one_spec_per_store:
            pytest.skip("this backend holds one spec per store")
        other_name = name + "-b"
        other = EmbeddingSpec.for_model("gemini-embedding-001", self.other_dimensions)
        try:
            a = store.open_collection(name, spec)
            b = store.open_collection(other_name, other)
            a.upsert(make_records(2, dims=self.dimensions))
            b.upsert(make_records(3, dims=self.other_dimensions))
            assert (a.count(), b.count()) == (2, 3)
            assert store.stored_spec(other_name) == other
        finally:
            store.drop_collection(other_name)

    def test_drop(self, store: VectorStore, name: str, spec: EmbeddingSpec) -> None:
        coll = store.open_collection(name, spec)
        coll.upsert(make_records(5, dims=self.dimensions))
        coll.drop()
        assert store.stored_spec(name) is None
        assert name not in store.list_collections()
        fresh = store.open_collection(name, spec)
        assert fresh.count() == 0

    def _drop_and_create_again(
        self, dropper: VectorStore, name: str, spec: EmbeddingSpec, stale_store: VectorStore
    ) -> tuple[StoreCollection, StoreCollection, EmbeddingSpec]:
        """A handle on ``name`` through ``stale_store``, then ``name`` dropped and created again through
        ``dropper`` for another model's spec of the same length, which nothing but the spec tells apart."""
        if self.one_spec_per_store:
            pytest.skip("this backend holds one spec per store: a collection created again has the same")
        stale = stale_store.open_collection(name, spec)
        stale.upsert(make_records(2, dims=self.dimensions))
        dropper.drop_collection(name)
        other = EmbeddingSpec.for_model("gemini-embedding-001", self.dimensions)
        fresh = dropper.open_collection(name, other)
        fresh.upsert(make_records(1, dims=self.dimensions, prefix="fresh"))
        return stale, fresh, other

    def test_a_handle_on_a_collection_dropped_and_created_again_refuses_to_touch_it(
        self, store: VectorStore, name: str, spec: EmbeddingSpec
    ) -> None:
        """Guarantee 2: two specs never meet in one collection, also through a handle opened before.

        A write through the old handle would put one space's vectors among another's, a search would
        rank one space's query against the other's vectors, and a drop would delete a collection the
        handle never opened.
        """
        stale, fresh, other = self._drop_and_create_again(store, name, spec, store)
        assert_out_of_reach(stale, self.dimensions)
        assert store.stored_spec(name) == other
        assert [r.id for r in fresh.get(["fresh0", "stale0"])] == ["fresh0"]
        assert fresh.count() == 1

    def test_a_collection_another_process_dropped_and_created_again_is_out_of_an_old_handles_reach(
        self, store: VectorStore, second_store: VectorStore, name: str, spec: EmbeddingSpec
    ) -> None:
        """The same, with the drop and the creation through a store connected on its own: nothing this
        process holds (a cached plan, a client's name lookup) may carry the old handle over."""
        stale, fresh, other = self._drop_and_create_again(second_store, name, spec, store)
        assert_out_of_reach(stale, self.dimensions)
        assert second_store.stored_spec(name) == other
        assert store.stored_spec(name) == other
        assert [r.id for r in fresh.get(["fresh0", "stale0"])] == ["fresh0"]
        assert store.open_collection(name).count() == 1

    def test_an_open_racing_another_processs_drop_and_creation_never_reaches_the_new_collection(
        self,
        store: VectorStore,
        second_store: VectorStore,
        name: str,
        spec: EmbeddingSpec,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """open_collection reads the stored spec, then attaches: another process's drop and creation
        for another model in between must not give a handle of the checked spec on the new collection.
        The open may refuse, or give a handle that is out of reach like a stale one."""
        if self.one_spec_per_store:
            pytest.skip("this backend holds one spec per store: a collection created again has the same")
        store.open_collection(name, spec).upsert(make_records(2, dims=self.dimensions))
        other = EmbeddingSpec.for_model("gemini-embedding-001", self.dimensions)
        read = type(store).stored_spec

        def then_another_process_drops_and_creates(self_: VectorStore, asked: str) -> EmbeddingSpec | None:
            found = read(self_, asked)
            if self_ is store:
                monkeypatch.setattr(type(store), "stored_spec", read)
                second_store.drop_collection(name)
                second_store.open_collection(name, other).upsert(
                    make_records(1, dims=self.dimensions, prefix="fresh")
                )
            return found

        monkeypatch.setattr(type(store), "stored_spec", then_another_process_drops_and_creates)
        try:
            opened = store.open_collection(name, spec)
        except (CollectionNotFoundError, SpecMismatchError):
            pass
        else:
            assert_out_of_reach(opened, self.dimensions)
        fresh = second_store.open_collection(name, other)
        assert [r.id for r in fresh.get(["fresh0", "stale0"])] == ["fresh0"]
        assert fresh.count() == 1

    def test_creating_a_name_another_store_holds_for_another_spec_is_refused(
        self, store: VectorStore, second_store: VectorStore, name: str, spec: EmbeddingSpec
    ) -> None:
        """create_collection racing another process's: the one that comes second gets the other's
        collection or, for another spec, SpecMismatchError, and nothing of its own is left behind."""
        if self.one_spec_per_store:
            pytest.skip("this backend holds one spec per store")
        store.open_collection(name, spec).upsert(make_records(2, dims=self.dimensions))
        other = EmbeddingSpec.for_model("gemini-embedding-001", self.dimensions)
        with pytest.raises(SpecMismatchError):
            second_store.create_collection(name, other)
        assert second_store.stored_spec(name) == spec
        assert second_store.create_collection(name, spec).count() == 2
        assert store.list_collections().count(name) == 1

    # -- writing and reading -----------------------------------------------------------------------

    def test_upsert_get_round_trip(self, coll: StoreCollection) -> None:
        records = make_records(
            10,
            dims=self.dimensions,
            metadata=[
                {"i": i, "f": i / 4, "b": i % 2 == 0, "s": f"s{i}", "l": ["x", str(i)]} for i in range(10)
            ],
        )
        coll.upsert(records)
        assert coll.count() == 10
        got = coll.get([r.id for r in records])
        assert [r.id for r in got] == [r.id for r in records]
        for g, want in zip(got, records, strict=True):
            self.assert_same_vector(g.vector, want.vector)
            assert dict(g.metadata) == dict(want.metadata)
            for key in ("i", "f", "b") if self.preserves_int_type else ("f", "b"):
                assert type(g.metadata[key]) is type(want.metadata[key]), key
            assert g.content_hash == want.content_hash

    def test_get_keeps_order_and_skips_unknown(self, coll: StoreCollection) -> None:
        coll.upsert(make_records(5, dims=self.dimensions))
        got = coll.get(["r3", "nope", "r0", "r4"])
        assert [r.id for r in got] == ["r3", "r0", "r4"]
        assert coll.get([]) == []

    def test_upsert_is_idempotent_and_replaces(self, coll: StoreCollection) -> None:
        records = make_records(20, dims=self.dimensions)
        coll.upsert(records)
        coll.upsert(records)
        assert coll.count() == 20
        replaced = make_records(5, dims=self.dimensions, seed=99)
        replaced = [Record(r.id, r.vector, {"v": 2}, "new") for r in replaced]
        coll.upsert(replaced)
        assert coll.count() == 20
        got = coll.get(["r0", "r4", "r5"])
        self.assert_same_vector(got[0].vector, replaced[0].vector)
        assert dict(got[1].metadata) == {"v": 2}
        assert got[1].content_hash == "new"
        assert dict(got[2].metadata) == {"i": 5}

    def test_duplicate_ids_in_one_batch_keep_the_last(self, coll: StoreCollection) -> None:
        first, second = make_records(1, dims=self.dimensions), make_records(1, dims=self.dimensions, seed=5)
        coll.upsert([first[0], Record("r0", second[0].vector, {"v": "last"}, "last")])
        assert coll.count() == 1
        (got,) = coll.get(["r0"])
        assert dict(got.metadata) == {"v": "last"}
        self.assert_same_vector(got.vector, second[0].vector)

    def test_empty_upsert_is_a_no_op(self, coll: StoreCollection) -> None:
        coll.upsert([])
        assert coll.count() == 0

    def test_large_batch(self, coll: StoreCollection) -> None:
        records = make_records(self.large_batch, dims=self.dimensions, seed=3)
        coll.upsert(records)
        assert coll.count() == self.large_batch
        assert sorted(coll.iter_ids(batch_size=1000)) == sorted(r.id for r in records)

    def test_unicode_ids_and_metadata(self, coll: StoreCollection) -> None:
        ids = ["ключ", "猫-🐈", "id with spaces/and/slashes", "quote'\"`", "e\u0301"]
        meta: list[dict[str, MetadataValue]] = [
            {"名前": "値", "emoji": "🐈"},
            {"ü": ["ä", "ö"]},
            {"path": "a/b c"},
            {"q": "'\""},
            {"n": 1},
        ]
        records = [
            Record(i, v, m, None)
            for i, v, m in zip(ids, unit_vectors(5, dims=self.dimensions), meta, strict=True)
        ]
        coll.upsert(records)
        got = {r.id: r for r in coll.get(ids)}
        assert set(got) == set(ids)
        for i, m in zip(ids, meta, strict=True):
            assert dict(got[i].metadata) == m
        assert sorted(coll.iter_ids()) == sorted(ids)
        top = coll.query(records[1].vector, k=1)
        assert top[0].id == "猫-🐈"

    def test_wrong_dimensions_are_refused(self, coll: StoreCollection) -> None:
        bad = make_records(1, dims=self.other_dimensions)
        with pytest.raises(ValueError, match="dimension"):
            coll.upsert(bad)
        with pytest.raises(ValueError, match="dimension"):
            coll.query(unit_vectors(1, dims=self.other_dimensions)[0], k=1)
        assert coll.count() == 0

    def test_non_finite_vectors_are_refused(self, coll: StoreCollection) -> None:
        vec = unit_vectors(1, dims=self.dimensions)[0].copy()
        vec[3] = np.nan
        with pytest.raises(ValueError):
            coll.upsert([Record("nan", vec)])
        assert coll.count() == 0

    def test_content_hashes(self, coll: StoreCollection) -> None:
        coll.upsert(make_records(4, dims=self.dimensions))
        assert coll.content_hashes(["r1", "r3", "zz"]) == {"r1": "h0-1", "r3": "h0-3"}

    # -- search ------------------------------------------------------------------------------------

    def test_query_finds_nearest_first(self, coll: StoreCollection) -> None:
        # Matryoshka-shaped beyond 128 dimensions (as Gemini's are), so that a Matryoshka index's candidates
        # hold the exact top k; at 128 dimensions these are the plain random vectors.
        records = matryoshka_shaped(make_records(50, dims=self.dimensions, seed=11))
        coll.upsert(records)
        vectors = np.stack([r.vector for r in records])
        for probe in (0, 17, 49):
            got = coll.query(records[probe].vector, k=5)
            assert len(got) == 5
            assert got[0].id == records[probe].id
            assert math.isclose(got[0].score, 1.0, abs_tol=self.score_atol)
            scores = [m.score for m in got]
            assert scores == sorted(scores, reverse=True)
            exact = vectors @ records[probe].vector
            want = [records[i].id for i in np.argsort(-exact)[:5]]
            assert [m.id for m in got] == want
            for m in got:
                idx = int(m.id[1:])
                assert math.isclose(m.score, float(exact[idx]), abs_tol=self.score_atol)
            assert got[0].vector is None

    def test_query_k_larger_than_collection(self, coll: StoreCollection) -> None:
        coll.upsert(make_records(3, dims=self.dimensions))
        assert len(coll.query(unit_vectors(1, dims=self.dimensions, seed=2)[0], k=10)) == 3

    def test_query_empty_collection(self, coll: StoreCollection) -> None:
        assert coll.query(unit_vectors(1, dims=self.dimensions)[0], k=3) == []

    def test_query_include_vectors_and_metadata(self, coll: StoreCollection) -> None:
        records = make_records(5, dims=self.dimensions)
        coll.upsert(records)
        (top,) = coll.query(records[2].vector, k=1, include_vectors=True)
        assert top.vector is not None
        self.assert_same_vector(top.vector, records[2].vector)
        assert dict(top.metadata) == {"i": 2}

    def test_query_rejects_bad_k(self, coll: StoreCollection) -> None:
        with pytest.raises(ValueError):
            coll.query(unit_vectors(1, dims=self.dimensions)[0], k=0)

    # -- filters -----------------------------------------------------------------------------------

    @pytest.mark.parametrize("raw", FILTERS, ids=[repr(f) for f in FILTERS])
    def test_filter_operator(
        self, filtered: tuple[StoreCollection, list[Record]], raw: dict[str, Any]
    ) -> None:
        coll, records = filtered
        flt = parse_filter(raw)
        want = {r.id for r in records if matches(flt, r.metadata)}
        got = coll.query(unit_vectors(1, dims=self.dimensions, seed=1)[0], k=len(records), filter=flt)
        assert {m.id for m in got} == want
        for m in got:
            assert matches(flt, m.metadata)

    def test_filter_with_small_k_returns_best_matching(
        self, filtered: tuple[StoreCollection, list[Record]]
    ) -> None:
        coll, records = filtered
        flt = parse_filter({"lang": "en"})
        probe = records[6].vector
        got = coll.query(probe, k=2, filter=flt)
        ranked = sorted(
            (r for r in records if matches(flt, r.metadata)), key=lambda r: -float(r.vector @ probe)
        )
        assert [m.id for m in got] == [r.id for r in ranked[:2]]

    # -- deleting ----------------------------------------------------------------------------------

    def test_delete_by_ids(self, coll: StoreCollection) -> None:
        coll.upsert(make_records(10, dims=self.dimensions))
        coll.delete(ids=["r1", "r2", "unknown"])
        assert coll.count() == 8
        assert coll.get(["r1", "r2", "r3"])[0].id == "r3"

    def test_delete_by_filter(self, filtered: tuple[StoreCollection, list[Record]]) -> None:
        coll, records = filtered
        flt = parse_filter({"$or": [{"lang": "en"}, {"year": {"$lt": 2020}}]})
        coll.delete(filter=flt)
        remaining = {r.id for r in records if not matches(flt, r.metadata)}
        assert set(coll.iter_ids()) == remaining
        assert coll.count() == len(remaining)

    def test_delete_with_nothing_deletes_nothing(self, coll: StoreCollection) -> None:
        coll.upsert(make_records(3, dims=self.dimensions))
        coll.delete()
        assert coll.count() == 3

    def test_clear_keeps_the_collection(self, store: VectorStore, name: str, coll: StoreCollection) -> None:
        coll.upsert(make_records(7, dims=self.dimensions))
        coll.clear()
        assert coll.count() == 0
        assert store.stored_spec(name) == coll.spec

    # -- limits: refused before anything is embedded or written --------------------------------------

    @staticmethod
    def incompressible(n: int, seed: int = 0) -> str:
        """``n`` random ASCII letters and digits (one byte each, and nothing a database can compress)."""
        rng = np.random.default_rng(seed)
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
        return "".join(rng.choice(alphabet, n))

    #: The id and name lengths tried on a backend that declares no limit, to hold it to that claim.
    unlimited_probe: ClassVar[int] = 10_000

    def test_an_id_over_the_backends_limit_is_refused_before_anything_is_embedded(
        self, store: VectorStore, name: str, spec: EmbeddingSpec, gemini_emulator: Any
    ) -> None:
        from gemini_vectors.embedder import Embedder

        coll = store.open_collection(name, spec)
        embedder = Embedder(dimensions=spec.dimensions, client=gemini_emulator.client())
        collection = store.collection(name, embedder)
        limit = coll.max_id_length
        if limit is not None:
            too_long = self.incompressible(limit + 1, seed=1)
            with pytest.raises(MetadataError) as info:
                collection.add(["first", "second", "third"], ids=["ok-1", too_long, "ok-2"])
            message = str(info.value)
            assert message.startswith("item 1:"), message
            assert f"{limit + 1:,}" in message and f"{limit:,}" in message
            assert gemini_emulator.stats.embed_calls == 0  # nothing was paid for
            assert coll.count() == 0  # and nothing written: the valid items were not half-stored
            with pytest.raises(MetadataError, match="record 0"):
                collection.upsert_vectors([Record(too_long, unit_vectors(1, dims=self.dimensions)[0])])
        # The declared limit is true: an id exactly that long (or a very long one) is stored and found.
        longest = self.incompressible(limit if limit is not None else self.unlimited_probe)
        collection.add(["first", "third"], ids=["ok-1", longest])
        assert [r.id for r in coll.get([longest, "ok-1"], include_vectors=False)] == [longest, "ok-1"]
        assert longest in set(coll.iter_ids())

    def test_a_collection_name_over_the_backends_limit_is_refused(
        self, store: VectorStore, spec: EmbeddingSpec
    ) -> None:
        limit = store.max_collection_name_length
        if limit is not None:
            too_long = self.incompressible(limit + 1, seed=2)
            with pytest.raises(ArgumentError) as info:
                store.open_collection(too_long, spec)
            assert f"{limit + 1:,}" in str(info.value) and f"{limit:,}" in str(info.value)
        longest = self.incompressible(limit if limit is not None else self.unlimited_probe // 10, seed=3)
        try:
            coll = store.open_collection(longest, spec)
            coll.upsert(make_records(1, dims=self.dimensions))
            assert store.open_collection(longest).count() == 1
            assert longest in store.list_collections()
        finally:
            store.drop_collection(longest)

    # -- raw filters -------------------------------------------------------------------------------

    def test_a_raw_mapping_filter_is_parsed_by_query_and_delete(
        self, filtered: tuple[StoreCollection, list[Record]]
    ) -> None:
        coll, records = filtered
        probe = unit_vectors(1, dims=self.dimensions, seed=1)[0]
        raw = {"lang": "en", "year": {"$gte": 2020}}
        want = {r.id for r in records if matches(parse_filter(raw), r.metadata)}
        got = coll.query(probe, len(records), raw)  # type: ignore[arg-type]  # public: a mapping is fine
        assert {m.id for m in got} == want
        by_name = coll.query(probe, k=len(records), filter=raw)  # type: ignore[arg-type]
        assert [m.id for m in by_name] == [m.id for m in got]
        with pytest.raises(FilterError, match=r"\$regex"):
            coll.query(probe, k=3, filter={"lang": {"$regex": "e.*"}})  # type: ignore[arg-type]
        with pytest.raises(FilterError):
            coll.delete(filter={"$or": "not a list"})  # type: ignore[arg-type]
        assert coll.count() == len(records)  # a refused filter deleted nothing
        coll.delete(filter={"lang": "de"})  # type: ignore[arg-type]
        remaining = {r.id for r in records if r.metadata.get("lang") != "de"}
        assert set(coll.iter_ids()) == remaining
        coll.delete(None, {"lang": "fr"})  # type: ignore[arg-type]
        langs = {r.id: r.metadata.get("lang") for r in records}
        assert set(coll.iter_ids()) == {i for i in remaining if langs[i] != "fr"}

    # -- number types --------------------------------------------------------------------------------

    #: Floats whose usual JSON form has an exponent or no fraction: a backend that keeps numbers as
    #: decimals (PostgreSQL's jsonb numeric) could hand them back as ints.
    AWKWARD_FLOATS: ClassVar[dict[str, float]] = {
        "f0": 0.0,
        "f1": 1.0,
        "f15": 1e15,
        "f16": 1e16,
        "big": 2.5e20,
        "huge": -3.0e300,
        "max": 1.7976931348623157e308,
        "tiny": 1.5e-300,
        "odd": 1.2345678901234567e25,
        "neg": -1e16,
    }

    def test_a_float_reads_back_as_the_same_float(self, coll: StoreCollection) -> None:
        records = make_records(2, dims=self.dimensions, metadata=[self.AWKWARD_FLOATS, {"n": 7, "f": 7.0}])
        coll.upsert(records)
        for got in (coll.get(["r0", "r1"]), [m for m in coll.query(records[0].vector, k=2)]):
            by_id = {r.id: dict(r.metadata) for r in got}
            for key, want in self.AWKWARD_FLOATS.items():
                value = by_id["r0"][key]
                assert type(value) is float and value == want, (key, value)
            assert type(by_id["r1"]["f"]) is float and by_id["r1"]["f"] == 7.0
            if self.preserves_int_type:
                assert type(by_id["r1"]["n"]) is int and by_id["r1"]["n"] == 7
        # A record read back can be written again as it is (the round trip used to refuse a huge "int").
        coll.upsert([Record("r2", records[0].vector, coll.get(["r0"])[0].metadata)])
        assert dict(coll.get(["r2"])[0].metadata) == self.AWKWARD_FLOATS
