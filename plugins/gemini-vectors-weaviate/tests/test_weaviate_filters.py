"""Filters on Weaviate agree with the reference semantics, ``gemini_vectors.filters.matches``.

Hundreds of generated filters (every operator, values of every type including the wrong ones, unknown
fields, nesting) run against data with the awkward cases: empty strings and lists, padded strings, keys
Weaviate cannot take as they are, integers and floats side by side.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import gemini_vectors as gv
import pytest
from gemini_vectors.filters import matches, parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record, StoreCollection
from gemini_vectors.testing.contract import unit_vectors

from gemini_vectors_weaviate import WeaviateStore
from gemini_vectors_weaviate.filters import FALSE, TRUE, translate

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)

ROWS: list[dict[str, Any]] = [
    {"lang": "en", "n": 1, "x": 0.5, "ok": True, "tags": ["a", "b"], "Title": "One", "名前": "値"},
    {"lang": "de", "n": 2, "x": 1.0, "ok": False, "tags": ["b"], "Title": "two"},
    {"lang": "", "n": -3, "x": -2.5, "tags": [], "名前": ""},
    {"lang": " en", "n": 2**40, "x": 1e300, "ok": True, "tags": ["a b", " a"]},
    {"lang": "EN", "x": 2.0, "Title": ""},
    {"n": 0, "ok": False, "tags": ["c"]},
    {},
    {"lang": "en ", "n": 1, "x": 1.0, "tags": ["", "a"], "名前": "値 "},
    {"lang": "fr", "n": 7, "x": 7.25, "ok": True, "Title": "One", "id": "not the id"},
    {"lang": "x'); DROP", "n": 1000, "x": -0.0, "tags": ["日本"]},
]

VALUES: list[Any] = [
    "en", "de", "", " en", "EN", "a", "b", " a", "a b", "One", "値", "nobody", "1",
    0, 1, 2, -3, 7, 1000, 2**40, 2**70,
    0.5, 1.0, 1.5, 2.0, -2.5, 7.25, 1e300, -1e300,
    True, False,
]  # fmt: skip
FIELDS = ["lang", "n", "x", "ok", "tags", "Title", "名前", "id", "missing"]
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and rng.random() < 0.25:
        key = rng.choice(["$and", "$or"])
        return {key: [random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    field = rng.choice(FIELDS)
    op = rng.choice(OPS)
    if op == "$exists":
        return {field: {op: rng.random() < 0.5}}
    if op in ("$in", "$nin"):
        return {field: {op: rng.sample(VALUES, rng.randint(0, 4))}}
    if op in ("$gt", "$gte", "$lt", "$lte"):
        value = rng.choice([v for v in VALUES if isinstance(v, int | float) and not isinstance(v, bool)])
        return {field: {op: value}}
    return {field: {op: rng.choice(VALUES)}}


GENERATED = [random_filter(random.Random(seed)) for seed in range(160)]


@pytest.fixture(scope="module")
def filtered(session_store: WeaviateStore) -> Iterator[tuple[StoreCollection, list[Record]]]:
    name = f"filters-{uuid.uuid4().hex[:8]}"
    coll = session_store.open_collection(name, SPEC)
    vectors = unit_vectors(len(ROWS), seed=3)
    records = [Record(f"f{i}", vectors[i], row, None) for i, row in enumerate(ROWS)]
    coll.upsert(records)
    try:
        yield coll, records
    finally:
        session_store.drop_collection(name)


@pytest.mark.parametrize("raw", GENERATED, ids=[str(i) for i in range(len(GENERATED))])
def test_generated_filters_agree_with_matches(
    filtered: tuple[StoreCollection, list[Record]], raw: Any
) -> None:
    coll, records = filtered
    flt = parse_filter(raw)
    want = {r.id for r in records if matches(flt, r.metadata)}
    got = coll.query(unit_vectors(1, seed=8)[0], k=len(records), filter=flt)
    assert {m.id for m in got} == want, raw
    few = coll.query(unit_vectors(1, seed=8)[0], k=2, filter=flt)
    assert {m.id for m in few} <= want and len(few) == min(2, len(want))


@pytest.mark.parametrize(
    "raw",
    [
        {"lang": {"$ne": "en"}},
        {"lang": ""},
        {"tags": {"$nin": ["a", ""]}},
        {"n": {"$gt": 1.5}},
        {"$or": [{"ok": False}, {"Title": {"$exists": False}}]},
        {"x": {"$lte": 1}},
    ],
)
def test_delete_by_filter_agrees_with_matches(session_store: WeaviateStore, raw: Any) -> None:
    name = f"fdel-{uuid.uuid4().hex[:8]}"
    coll = session_store.open_collection(name, SPEC)
    try:
        vectors = unit_vectors(len(ROWS), seed=4)
        records = [Record(f"f{i}", vectors[i], row, None) for i, row in enumerate(ROWS)]
        coll.upsert(records)
        flt = parse_filter(raw)
        coll.delete(filter=flt)
        assert set(coll.iter_ids()) == {r.id for r in records if not matches(flt, r.metadata)}
    finally:
        session_store.drop_collection(name)


# -- the translation itself, without a server -------------------------------------------------------

TYPES = {
    "n": ("n", "int"),
    "x": ("x", "number"),
    "ok": ("ok", "boolean"),
    "s": ("s", "text"),
    "l": ("l", "text[]"),
}


def resolve(key: str) -> tuple[str, str] | None:
    return TYPES.get(key)


def test_comparisons_that_cannot_hold_are_decided_locally() -> None:
    raw: dict[str, Any]
    for raw in ({"n": True}, {"ok": 1}, {"n": 1.5}, {"s": 5}, {"l": 1}, {"s": {"$gt": 1}}, {"missing": 1},
                {"missing": {"$exists": True}}, {"n": {"$in": ["1", False]}}):  # fmt: skip
        tr = translate(parse_filter(raw), resolve)
        assert tr.matches_nothing and tr.filter is None, raw
    for raw in ({"missing": {"$ne": 1}}, {"n": {"$ne": "1"}}, {"missing": {"$exists": False}}):
        tr = translate(parse_filter(raw), resolve)
        assert not tr.matches_nothing and tr.filter is None, raw
    assert TRUE.value and not FALSE.value


def test_fractional_bounds_on_int_properties_are_rounded_exactly() -> None:
    cases = {"$gt": ("GreaterThan", 1), "$gte": ("GreaterThanEqual", 2), "$lt": ("LessThan", 2),
             "$lte": ("LessThanEqual", 1)}  # fmt: skip
    for op, (name, bound) in cases.items():
        flt: Any = translate(parse_filter({"n": {op: 1.5}}), resolve).filter
        assert flt.operator.value == name and flt.value == bound


def test_negations_also_match_records_without_the_field() -> None:
    tr = translate(parse_filter({"n": {"$ne": 1}}), resolve)
    flt: Any = tr.filter
    assert flt is not None and tr.exact
    parts = {(f.target, f.operator.value) for f in flt.filters}
    assert parts == {("n", "NotEqual"), ("gv_keys", "NotEqual")}  # NotEqual on the value OR lacks the key
    text = translate(parse_filter({"s": {"$ne": "a"}}), resolve)
    flt = text.filter
    assert flt is not None and not text.exact  # trimmed text: results are checked with matches()
    parts = {(f.target, f.operator.value) for f in flt.filters}
    assert parts == {("s", "NotEqual"), ("gv_keys", "NotEqual"), ("gv_padded", "Equal")}


def test_connect_url_filter_round_trip(weaviate_url: str) -> None:
    with gv.connect(weaviate_url) as store:
        assert store.url.split("://")[0] in ("weaviate", "weaviates", "weaviate+cloud")
