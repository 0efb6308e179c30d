"""Filters through the plugin select exactly what ``gemini_vectors.filters.matches`` selects.

The emulator answers with Pinecone's semantics ($ne/$nin do not match records lacking the field, $in takes
no booleans); the translation has to close those gaps, which the property test checks on random metadata
and random filters that use every operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from gemini_vectors.filters import Comparison, matches, parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record, StoreCollection
from gemini_vectors.testing.contract import unit_vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemini_vectors_pinecone.filters import to_pinecone
from gemini_vectors_pinecone.store import PineconeStore

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)
# Small pools, so that stored values and filter operands often coincide.
FIELDS = ["a", "b", "tags"]
WORDS = ["x", "y", "ü"]
NUMBERS = [-1.5, 0, 1, 1.0, 2.5]

scalars = st.one_of(st.sampled_from(WORDS), st.sampled_from(NUMBERS), st.booleans())
metadata = st.dictionaries(
    st.sampled_from(FIELDS), st.one_of(scalars, st.lists(st.sampled_from(WORDS), max_size=3)), max_size=4
)


def one_key(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(st.sampled_from(keys), values).map(lambda kv: {kv[0]: kv[1]})


conditions = st.one_of(
    scalars,
    one_key(["$eq", "$ne"], scalars),
    one_key(["$gt", "$gte", "$lt", "$lte"], st.sampled_from(NUMBERS)),
    one_key(["$in", "$nin"], st.lists(scalars, max_size=4)),  # booleans and empty lists included
    one_key(["$exists"], st.booleans()),
    st.fixed_dictionaries({"$gt": st.sampled_from(NUMBERS), "$ne": scalars}),
)
leaf = st.dictionaries(st.sampled_from(FIELDS), conditions, min_size=1, max_size=2)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        one_key(["$and", "$or"], st.lists(inner, min_size=1, max_size=3)),
        st.tuples(leaf, inner).map(lambda pair: {**pair[0], "$and": [pair[1]]}),
    ),
    max_leaves=6,
)

_names = itertools.count()


@pytest.fixture(scope="module")
def store(pinecone_target: Any) -> Iterator[PineconeStore]:
    s = PineconeStore(pinecone_target.url(pinecone_target.index_name("filters")), **pinecone_target.options())
    yield s
    s.close()


def load(store: PineconeStore, rows: list[dict[str, Any]]) -> StoreCollection:
    coll = store.open_collection(f"prop-{next(_names)}", SPEC)
    vectors = unit_vectors(len(rows), seed=len(rows))
    coll.upsert([Record(f"r{i}", vectors[i], md) for i, md in enumerate(rows)])
    return coll


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(metadata, min_size=1, max_size=20), raws=st.lists(filters, min_size=1, max_size=4))
def test_query_matches_the_reference_semantics(
    store: PineconeStore, rows: list[dict[str, Any]], raws: list[dict[str, Any]]
) -> None:
    coll = load(store, rows)
    try:
        for raw in raws:
            flt = parse_filter(raw)
            want = {f"r{i}" for i, md in enumerate(rows) if matches(flt, md)}
            got = coll.query(unit_vectors(1, seed=99)[0], k=len(rows), filter=flt)
            assert {m.id for m in got} == want, raw
    finally:
        coll.drop()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(metadata, min_size=1, max_size=15), raw=filters)
def test_delete_by_filter_matches_the_reference_semantics(
    store: PineconeStore, rows: list[dict[str, Any]], raw: dict[str, Any]
) -> None:
    coll = load(store, rows)
    try:
        flt = parse_filter(raw)
        coll.delete(filter=flt)
        assert set(coll.iter_ids()) == {f"r{i}" for i, md in enumerate(rows) if not matches(flt, md)}
    finally:
        coll.drop()


def test_booleans_and_mixed_types_in_in_and_nin(store: PineconeStore) -> None:
    rows: list[dict[str, Any]] = [{"a": True}, {"a": False}, {"a": 1}, {"a": "x"}, {"a": ["x", "y"]}, {}]
    coll = load(store, rows)
    try:
        for raw in (
            {"a": {"$in": [True]}},
            {"a": {"$in": [True, "x", 1]}},
            {"a": {"$nin": [True, "y"]}},
            {"a": {"$nin": [False, 1.0]}},
            {"a": {"$in": []}},
            {"a": {"$nin": []}},
            {"a": {"$ne": True}},
            {"a": 1},
        ):
            flt = parse_filter(raw)
            want = {f"r{i}" for i, md in enumerate(rows) if matches(flt, md)}
            got = {m.id for m in coll.query(unit_vectors(1, seed=5)[0], k=10, filter=flt)}
            assert got == want, raw
    finally:
        coll.drop()


def test_translation_of_each_operator() -> None:
    def t(raw: dict[str, Any]) -> dict[str, Any]:
        flt = parse_filter(raw)
        assert flt is not None
        return to_pinecone(flt)

    assert t({"a": "x"}) == {"a": {"$eq": "x"}}
    assert t({"a": {"$ne": 1}}) == {"$or": [{"a": {"$ne": 1}}, {"a": {"$exists": False}}]}
    assert t({"a": {"$in": ["x", 1, True]}}) == {
        "$or": [{"a": {"$in": ["x"]}}, {"a": {"$in": [1]}}, {"a": {"$eq": True}}]
    }
    assert t({"a": {"$nin": ["x"]}}) == {"$or": [{"a": {"$nin": ["x"]}}, {"a": {"$exists": False}}]}
    assert t({"a": {"$in": []}}) == {"$and": [{"a": {"$exists": True}}, {"a": {"$exists": False}}]}
    assert t({"a": {"$nin": []}}) == {"$or": [{"a": {"$exists": True}}, {"a": {"$exists": False}}]}
    assert t({"a": {"$gte": 2}, "b": {"$exists": False}}) == {
        "$and": [{"a": {"$gte": 2}}, {"b": {"$exists": False}}]
    }
    big = t({"a": {"$in": [f"v{i}" for i in range(25_000)]}})
    assert [len(part["a"]["$in"]) for part in big["$or"]] == [10_000, 10_000, 5_000]


def test_non_finite_numbers_cannot_be_sent() -> None:
    from gemini_vectors.errors import FilterError

    with pytest.raises(FilterError, match="inf"):
        to_pinecone(Comparison("a", "$lt", float("inf")))
