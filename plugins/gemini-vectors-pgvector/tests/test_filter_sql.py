"""The SQL translation of the filter language agrees with the reference semantics, matches(), exactly.

Hypothesis draws filters over a fixed set of rows built to hit the edges of the language: True next to
1, 1 next to 1.0, "1" next to 1, lists (empty too), missing keys, ints beyond float precision, floats
that repr() shortens, quotes in strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from gemini_vectors.filters import And, Comparison, Filter, Or, matches, parse_filter
from gemini_vectors.store import Record, StoreCollection
from gemini_vectors.testing.contract import unit_vectors
from gemini_vectors_pgvector import PgVectorStore, filter_to_sql

KEYS = ("a", "b", "c")
SCALARS: list[Any] = [
    True,
    False,
    0,
    1,
    1.0,
    -0.0,
    0.1,
    0.30000000000000004,
    2.5,
    -3,
    2**53 + 1,
    9007199254740992.0,
    1e16,
    "1",
    "a",
    "b",
    "",
    "x'y",
    'q"',
    "日本",
]
LISTS: list[list[str]] = [[], ["a"], ["a", "b"], ["1"], ["x'y", "日本"]]
VALUES: list[Any] = SCALARS + LISTS


def build_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{}]
    for i, value in enumerate(VALUES):
        rows.append({KEYS[i % 3]: value})
        rows.append({KEYS[i % 3]: value, KEYS[(i + 1) % 3]: VALUES[(i * 7 + 3) % len(VALUES)]})
    return rows


ROWS = build_rows()

scalar = st.sampled_from(SCALARS)
number = st.sampled_from([v for v in SCALARS if isinstance(v, int | float) and not isinstance(v, bool)])
key = st.sampled_from(KEYS)
comparison = st.one_of(
    st.builds(Comparison, key, st.sampled_from(["$eq", "$ne"]), scalar),
    st.builds(Comparison, key, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), number),
    st.builds(Comparison, key, st.sampled_from(["$in", "$nin"]), st.lists(scalar, max_size=3).map(tuple)),
    st.builds(Comparison, key, st.just("$exists"), st.booleans()),
)
filters: st.SearchStrategy[Filter] = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: Or(tuple(c))),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def rows_coll(pg_url: str) -> Iterator[StoreCollection]:
    import uuid

    from gemini_vectors.spec import EmbeddingSpec

    schema = f"gvt_{uuid.uuid4().hex[:10]}"
    store = PgVectorStore(pg_url, schema=schema)
    coll = store.open_collection("rows", EmbeddingSpec.for_model("gemini-embedding-2", 128))
    vectors = unit_vectors(len(ROWS), seed=3)
    coll.upsert([Record(f"row{i}", vectors[i], meta) for i, meta in enumerate(ROWS)])
    yield coll
    store.drop_collection("rows")
    store.close()
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters)
def test_sql_filters_match_the_reference_semantics(rows_coll: StoreCollection, flt: Filter) -> None:
    want = {f"row{i}" for i, meta in enumerate(ROWS) if matches(flt, meta)}
    got = {m.id for m in rows_coll.query(unit_vectors(1, seed=9)[0], k=len(ROWS), filter=flt)}
    assert got == want, flt


EDGE_CASES: list[dict[str, Any]] = [
    {"a": True},
    {"a": 1},
    {"a": 1.0},
    {"a": "1"},
    {"b": {"$gt": 9007199254740992.0}},
    {"b": {"$gte": 9007199254740992.0}},
    {"b": 9007199254740992.0},
    {"a": {"$lte": 0.1}},
    {"c": {"$ne": "a"}},
    {"a": {"$nin": []}},
    {"a": {"$in": []}},
    {"b": {"$exists": False}},
    {"c": "日本"},
]


def test_edge_cases_one_by_one(rows_coll: StoreCollection) -> None:
    probe = unit_vectors(1, seed=9)[0]
    answers = []
    for raw in EDGE_CASES:
        flt = parse_filter(raw)
        want = {f"row{i}" for i, meta in enumerate(ROWS) if matches(flt, meta)}
        assert {m.id for m in rows_coll.query(probe, k=len(ROWS), filter=flt)} == want, raw
        answers.append(want)
    # The rows do tell these apart: True from 1, "1" from 1, 1 and 1.0 alike.
    assert answers[0] and answers[1] and answers[3]
    assert answers[0] != answers[1] and answers[1] != answers[3] and answers[1] == answers[2]


def sql_text(node: Any) -> str:
    """The SQL text of a composed statement, placeholders included, values excluded."""
    if isinstance(node, sql.Composed):
        return "".join(sql_text(part) for part in node)
    return node.as_string() if isinstance(node, sql.SQL) else f"<{type(node).__name__}>"


def test_every_value_and_field_name_is_a_bound_parameter() -> None:
    hostile = "x'); DROP TABLE t; --"
    flt = parse_filter({"$or": [{hostile: hostile}, {hostile: {"$gt": 1}}, {hostile: {"$exists": True}}]})
    assert flt is not None
    cond, params = filter_to_sql(flt)
    text = sql_text(cond)
    assert "DROP" not in text and "x'" not in text
    assert text.count("%s") == len(params) == 2 + 3 + 2
    assert sum(hostile in str(getattr(p, "obj", p)) for p in params) == len(params) - 1  # all but the 1
