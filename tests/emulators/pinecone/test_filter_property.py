"""Property test: for random metadata and random filters using every operator, a query through the
official SDK returns exactly the records a brute-force evaluation of Pinecone's documented semantics
selects (and delete by filter removes exactly those).

The reference below is written from the reference documentation, independently of the emulator's
evaluator: a bare value is ``$eq``; several keys AND; a list-of-strings field matches ``$eq``/``$in``
when any element does and ``$ne``/``$nin`` when none does; numbers are floats, booleans are not numbers;
a record lacking the field matches only ``$exists: false``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone import Index, Pinecone

from .conftest import dense_schema
from .server import PineconeEmulator

FIELDS = ["a", "b", "c", "tags"]
WORDS = ["x", "y", "z", "ü"]
NUMBERS = [-2, -1.5, 0, 0.0, 1, 1.0, 2.5, 3]

scalars = st.one_of(st.sampled_from(WORDS), st.sampled_from(NUMBERS), st.booleans())
metadata_values = st.one_of(scalars, st.lists(st.sampled_from(WORDS), max_size=3))
metadata = st.dictionaries(st.sampled_from(FIELDS), metadata_values, max_size=4)
in_values = st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(NUMBERS)), max_size=3)


def one_key(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``{key: value}`` with the key drawn from ``keys``."""
    return st.tuples(st.sampled_from(keys), values).map(lambda kv: {kv[0]: kv[1]})


def conditions() -> st.SearchStrategy[Any]:
    return st.one_of(
        scalars,  # bare value: $eq
        one_key(["$eq", "$ne"], scalars),
        one_key(["$gt", "$gte", "$lt", "$lte"], st.sampled_from(NUMBERS)),
        one_key(["$in", "$nin"], in_values),
        one_key(["$exists"], st.booleans()),
        st.fixed_dictionaries({"$gte": st.sampled_from(NUMBERS), "$lt": st.sampled_from(NUMBERS)}),
    )


leaf = st.dictionaries(st.sampled_from(FIELDS), conditions(), min_size=1, max_size=2)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        one_key(["$and", "$or"], st.lists(inner, min_size=1, max_size=3)),
        st.tuples(leaf, inner).map(lambda pair: {**pair[0], "$or": [pair[1]]}),
    ),
    max_leaves=6,
)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(stored: Any, value: Any) -> bool:
    if isinstance(stored, bool) or isinstance(value, bool):
        return type(stored) is bool and type(value) is bool and stored is value
    if _number(stored) and _number(value):
        return float(stored) == float(value)
    return stored == value if isinstance(stored, str) and isinstance(value, str) else False


def _has(stored: Any, value: Any) -> bool:
    return any(_same(s, value) for s in stored) if isinstance(stored, list) else _same(stored, value)


OPS: dict[str, Callable[[float, float], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def reference(f: dict[str, Any], md: dict[str, Any]) -> bool:
    results = []
    for key, cond in f.items():
        if key == "$and":
            results.append(all(reference(sub, md) for sub in cond))
            continue
        if key == "$or":
            results.append(any(reference(sub, md) for sub in cond))
            continue
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, v in ops.items():
            if op == "$exists":
                results.append((key in md) is v)
            elif key not in md:
                results.append(False)
            elif op == "$eq":
                results.append(_has(md[key], v))
            elif op == "$ne":
                results.append(not _has(md[key], v))
            elif op == "$in":
                results.append(any(_has(md[key], x) for x in v))
            elif op == "$nin":
                results.append(not any(_has(md[key], x) for x in v))
            else:
                s = md[key]
                results.append(_number(s) and OPS[op](float(s), float(v)))
    return all(results)


_ns = itertools.count()


@pytest.fixture(scope="module")
def index(emulator: PineconeEmulator) -> Iterator[Index]:
    pc = Pinecone(api_key=emulator.api_key, host=emulator.url)
    model = pc.indexes.create(name="prop-filters", schema=dense_schema(3), timeout=-1)
    idx = pc.index(host=model.host or "")
    yield idx
    idx.close()
    pc.indexes.delete("prop-filters", timeout=-1)


def load(index: Index, rows: list[dict[str, Any]]) -> str:
    namespace = f"p{next(_ns)}"
    rng = np.random.default_rng(len(rows))
    vectors = rng.standard_normal((len(rows), 3)).astype(np.float32) + 5.0
    index.upsert(
        vectors=[{"id": f"r{i}", "values": vectors[i], "metadata": md} for i, md in enumerate(rows)],
        namespace=namespace,
    )
    return namespace


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(metadata, min_size=1, max_size=25), flts=st.lists(filters, min_size=1, max_size=4))
def test_query_filter_matches_brute_force(index: Index, rows: list[dict[str, Any]], flts: list[Any]) -> None:
    namespace = load(index, rows)
    try:
        for f in flts:
            got = index.query(vector=[1.0, 1.0, 1.0], top_k=len(rows), filter=f, namespace=namespace)
            want = {f"r{i}" for i, md in enumerate(rows) if reference(f, md)}
            assert {m.id for m in got.matches} == want, f
    finally:
        index.delete_namespace(name=namespace)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(metadata, min_size=1, max_size=20), f=filters)
def test_delete_by_filter_matches_brute_force(
    index: Index, rows: list[dict[str, Any]], f: dict[str, Any]
) -> None:
    namespace = load(index, rows)
    try:
        index.delete(filter=f, namespace=namespace)
        left = {item.id for page in index.list(namespace=namespace) for item in page.vectors}
        assert left == {f"r{i}" for i, md in enumerate(rows) if not reference(f, md)}
    finally:
        index.delete_namespace(name=namespace)


def test_missing_fields_match_only_exists_false(index: Index) -> None:
    namespace = load(index, [{"a": "x"}, {"a": "y"}, {}, {"a": ["x", "y"]}, {"a": ["z"]}])

    def ids(f: dict[str, Any]) -> set[str]:
        return {
            m.id for m in index.query(vector=[1.0, 1.0, 1.0], top_k=10, filter=f, namespace=namespace).matches
        }

    assert ids({"a": {"$ne": "x"}}) == {"r1", "r4"}  # r2 lacks the field, r3 holds "x"
    assert ids({"a": {"$nin": ["x", "q"]}}) == {"r1", "r4"}
    assert ids({"a": {"$exists": False}}) == {"r2"}
    assert ids({"a": "x"}) == {"r0", "r3"}
    assert ids({"a": {"$in": ["z", "y"]}}) == {"r1", "r3", "r4"}
    index.delete_namespace(name=namespace)
