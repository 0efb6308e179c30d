"""The search path of the pgvector store: round trips, ef_search, Matryoshka prefix search.

Round trips are counted from libpq's own protocol trace of the pooled connection (one ``Sync`` or
simple ``Query`` message from the client per round trip), so the test sees what goes over the wire.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import pq, sql

import gemini_vectors as gv
from gemini_vectors.errors import ArgumentError, ConfigurationError
from gemini_vectors.store import Record
from gemini_vectors_pgvector import PgVectorCollection, PgVectorStore, connect_postgres

DIMS = 256


def spec_of(dims: int) -> gv.EmbeddingSpec:
    return gv.EmbeddingSpec.for_model("gemini-embedding-2", dims)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def store(pg_url: str, schema: str) -> Iterator[PgVectorStore]:
    # one pooled connection, so every unit of work runs on the connection the test traces
    s = connect_postgres(pg_url, schema=schema, pool_size=1)
    try:
        yield s
    finally:
        s.close()


def round_trips(store: PgVectorStore, action: Callable[[], Any]) -> int:
    """How many round trips ``action`` costs on the store's (single) pooled connection."""
    conn = store._pool.getconn()
    store._pool.putconn(conn)
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    # F = frontend (client) messages; a round trip ends with Sync (extended protocol) or is a Query
    return sum(1 for line in lines if re.match(r"^F\s+\d+\s+(Sync|Query)\b", line))


def filled(store: PgVectorStore, n: int = 300, dims: int = DIMS) -> tuple[PgVectorCollection, np.ndarray]:
    coll = store.open_collection("docs", spec_of(dims))
    assert isinstance(coll, PgVectorCollection)
    vectors = unit(np.random.default_rng(1).standard_normal((n, dims)))
    coll.upsert([Record(f"r{i}", vectors[i], {"b": i % 4}, f"h{i}") for i in range(n)])
    return coll, vectors


# -- round trips ----------------------------------------------------------------------------------------


def test_a_search_on_a_warm_connection_is_one_round_trip(store: PgVectorStore) -> None:
    coll, vectors = filled(store)
    coll.query(vectors[0], 5)  # the connection learns the search settings once
    assert round_trips(store, lambda: coll.query(vectors[1], 5)) == 1
    assert round_trips(store, lambda: coll.query(vectors[2], 5, {"b": 1})) == 1


def test_changed_search_settings_cost_one_more_round_trip_once(store: PgVectorStore) -> None:
    coll, vectors = filled(store)
    coll.query(vectors[0], 5)
    assert round_trips(store, lambda: coll.query(vectors[1], 5, ef_search=300)) == 2
    assert round_trips(store, lambda: coll.query(vectors[1], 5, ef_search=300)) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get(["r1", "r2"]),
        lambda c: c.count(),
        lambda c: c.delete(["r3"]),
        lambda c: c.content_hashes(["r1"]),
        lambda c: list(c.iter_ids(batch_size=1000)),
    ],
    ids=["get", "count", "delete", "content_hashes", "iter_ids"],
)
def test_reads_and_single_statement_writes_are_one_round_trip(
    store: PgVectorStore, call: Callable[[PgVectorCollection], Any]
) -> None:
    coll, _ = filled(store)
    assert round_trips(store, lambda: call(coll)) == 1


def test_an_upsert_batch_costs_a_fixed_number_of_round_trips(store: PgVectorStore) -> None:
    coll, vectors = filled(store)
    fresh = [Record(f"n{i}", vectors[i], {}, None) for i in range(200)]
    known = [Record(f"r{i}", vectors[i], {"b": 9}, None) for i in range(200)]
    # BEGIN, which ids exist, SAVEPOINT, COPY, RELEASE, COMMIT: not one per row
    assert round_trips(store, lambda: coll.upsert(fresh)) <= 7
    # BEGIN, which ids exist, stage table, COPY, merge, COMMIT
    assert round_trips(store, lambda: coll.upsert(known)) <= 7


def test_a_connection_killed_between_searches_is_replaced(store: PgVectorStore, pg_url: str) -> None:
    coll, vectors = filled(store)
    coll.query(vectors[0], 5)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'gemini-vectors' AND pid <> pg_backend_pid()"
        )
    # the pool hands out the connection unpinged (it was used a moment ago); the query retries
    assert [m.id for m in coll.query(vectors[0], 1)] == ["r0"]


# -- ef_search ------------------------------------------------------------------------------------------


def current_ef_search(store: PgVectorStore) -> str:
    row = store._run(
        "show", lambda conn: conn.execute("SHOW hnsw.ef_search").fetchone(), single_statement=True
    )
    assert row is not None
    return str(row[0])


def test_ef_search_reaches_the_server_per_query_and_per_collection(
    store: PgVectorStore, pg_url: str, schema: str
) -> None:
    coll, vectors = filled(store)
    coll.query(vectors[0], 5)
    assert current_ef_search(store) == str(coll.ef_search) == "100"
    coll.query(vectors[0], 5, ef_search=250)
    assert current_ef_search(store) == "250"
    coll.query(vectors[0], 500)  # a k beyond ef_search widens the candidate list to k
    assert current_ef_search(store) == "500"
    gv_coll = gv.Collection(coll)
    gv_coll.ef_search = 180
    coll.query(vectors[0], 5)
    assert current_ef_search(store) == "180"
    with connect_postgres(pg_url, schema=schema) as other:  # kept in the registry
        assert other.open_collection("docs").ef_search == 180


def test_the_store_option_sets_ef_search_for_new_collections_only(pg_url: str, schema: str) -> None:
    with connect_postgres(pg_url, schema=schema) as first:
        first.open_collection("old", spec_of(DIMS))
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}ef_search=60"
    with gv.connect(url, schema=schema) as second:
        assert second.open_collection("new", spec_of(DIMS)).ef_search == 60
        assert second.open_collection("old").ef_search == 100


@pytest.mark.parametrize("bad", [0, -1, 1001, True, 2.5, "100"])
def test_a_bad_ef_search_is_refused_before_anything_is_sent(store: PgVectorStore, bad: object) -> None:
    coll, vectors = filled(store)

    def attempt() -> None:
        with pytest.raises(ArgumentError, match="ef_search"):
            coll.query(vectors[0], 5, ef_search=bad)  # type: ignore[arg-type]

    assert round_trips(store, attempt) == 0
    with pytest.raises(ArgumentError, match="ef_search"):
        gv.Collection(coll).ef_search = bad  # type: ignore[assignment]
    assert coll.ef_search == 100


def test_a_bad_ef_search_store_option_is_refused_before_connecting() -> None:
    with pytest.raises(ConfigurationError, match="ef_search"):
        PgVectorStore("host=/nonexistent dbname=x", ef_search=5000)


def test_search_sql_is_the_statement_query_runs(store: PgVectorStore, pg_url: str) -> None:
    coll, vectors = filled(store)
    search = coll.search_sql(vectors[7], 5, {"b": 3})
    with psycopg.connect(pg_url, autocommit=True) as raw:
        from pgvector.psycopg import register_vector

        register_vector(raw)
        for name, value in search.settings.items():
            raw.execute(sql.SQL("SET {} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(value)))
        rows = raw.execute(search.text, search.params).fetchall()  # type: ignore[call-overload]
    ours = coll.query(vectors[7], 5, {"b": 3})
    assert [r[0] for r in rows] == [m.id for m in ours]


# -- Matryoshka prefix search ---------------------------------------------------------------------------


def decoy_data(dims: int, prefix: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Vectors whose prefix ranks decoys first, while their full vectors rank the true neighbours first."""
    rng = np.random.default_rng(7)
    query = unit(rng.standard_normal(dims))
    rows: list[np.ndarray] = []
    ids: list[str] = []
    head = unit(query[:prefix])
    for i in range(10):  # true neighbours: close overall, only roughly alike in the prefix
        v = query.copy()
        v[:prefix] = unit(head + unit(rng.standard_normal(prefix))) * np.linalg.norm(query[:prefix])
        v[prefix:] = query[prefix:]
        rows.append(v)
        ids.append(f"true{i}")
    for i in range(30):  # decoys: the query's prefix exactly, the rest unrelated
        v = np.zeros(dims, np.float32)
        v[:prefix] = query[:prefix]
        v[prefix:] = unit(rng.standard_normal(dims - prefix)) * np.linalg.norm(query[prefix:]) * 3
        rows.append(v)
        ids.append(f"decoy{i}")
    for i in range(200):
        rows.append(rng.standard_normal(dims).astype(np.float32))
        ids.append(f"other{i}")
    return query, unit(np.stack(rows)), ids


def test_mrl_reranks_prefix_candidates_on_the_full_vector(pg_url: str, schema: str) -> None:
    dims, prefix = 512, 128
    query, matrix, ids = decoy_data(dims, prefix)
    exact = [ids[i] for i in np.argsort(-(matrix @ query), kind="stable")[:5]]
    by_prefix = np.argsort(-(unit(matrix[:, :prefix]) @ unit(query[:prefix])))[:5]
    assert not set(exact) & {ids[i] for i in by_prefix}, "the data must fool a prefix-only ranking"
    with connect_postgres(pg_url, schema=schema, index="mrl:128", rerank_factor=10) as store:
        coll = store.open_collection("m", spec_of(dims))
        assert isinstance(coll, PgVectorCollection)
        assert (coll.plan.index, coll.plan.prefix_dimensions) == ("mrl", 128)
        coll.upsert([Record(rid, matrix[i], {"odd": i % 2}, None) for i, rid in enumerate(ids)])
        found = coll.query(query, 5, include_vectors=True)
        assert [m.id for m in found] == exact
        scores = matrix[[ids.index(m.id) for m in found]] @ query
        assert np.allclose([m.score for m in found], scores, atol=1e-5)
        assert found[0].vector is not None and found[0].vector.shape == (dims,)
        odd = coll.query(query, 3, {"odd": 1})
        expected_odd = [ids[i] for i in np.argsort(-(matrix @ query)) if i % 2 == 1][:3]
        assert [m.id for m in odd] == expected_odd
        plan = coll.explain_query(query, 5)
        assert coll.table_name + "_mrl" in plan or "Seq Scan" in plan


def test_mrl_index_is_smaller_than_the_full_one_and_the_plan_survives_reopening(
    pg_url: str, schema: str
) -> None:
    dims = 1024
    vectors = unit(np.random.default_rng(3).standard_normal((400, dims)))
    sizes: dict[str, int] = {}
    for index in ("hnsw", "mrl:256"):
        with connect_postgres(pg_url, schema=schema, index=index) as store:
            coll = store.open_collection(f"c_{index.replace(':', '_')}", spec_of(dims))
            assert isinstance(coll, PgVectorCollection)
            coll.upsert([Record(f"r{i}", vectors[i], {}, None) for i in range(len(vectors))])
            sizes[index] = store._run(
                "size",
                lambda conn, c=coll: conn.execute(
                    "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index "
                    "WHERE indrelid = to_regclass(%s) AND indexrelid::regclass::text LIKE %s",
                    [f'{schema}."{c.table_name}"', "%hnsw%" if c.plan.index == "hnsw" else "%mrl%"],
                ).fetchone()[0],
                single_statement=True,
            )
    assert sizes["mrl:256"] * 3 < sizes["hnsw"]
    with connect_postgres(pg_url, schema=schema) as store:  # default index=hnsw: the stored plan wins
        reopened = store.open_collection("c_mrl_256")
        assert isinstance(reopened, PgVectorCollection)
        assert (reopened.plan.index, reopened.plan.prefix_dimensions) == ("mrl", 256)
        assert [m.id for m in reopened.query(vectors[9], 1)] == ["r9"]


@pytest.mark.parametrize(
    ("index", "dims", "message"),
    [
        ("mrl:256", 256, "shorter than 256"),
        ("mrl:64", 768, "at least 128"),
        ("mrl", 768, "prefix length"),
        ("mrl:3072", 3072, "shorter than 3072"),
    ],
)
def test_a_bad_prefix_is_refused_before_anything_is_created(
    pg_url: str, schema: str, index: str, dims: int, message: str
) -> None:
    try:
        store = connect_postgres(pg_url, schema=schema, index=index)
    except ConfigurationError as exc:
        assert message in str(exc)
        return
    with store, pytest.raises(ConfigurationError, match=message):
        store.open_collection("bad", spec_of(dims))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", [schema]).fetchone()
    assert left == (0,)


def test_mrl_in_the_url(pg_url: str, schema: str) -> None:
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}index=mrl:256&schema={schema}"
    with gv.connect(url) as store:
        assert isinstance(store, PgVectorStore) and store.index == "mrl:256"
        coll = store.open_collection("u", spec_of(768))
        assert isinstance(coll, PgVectorCollection) and coll.plan.prefix_dimensions == 256


# -- found by the audit of issue 16 -------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "flt"), [(100, {"b": 1}), (50, {"b": {"$in": [1, 2]}}), (1500, None)])
def test_matches_come_best_first_under_the_relaxed_iterative_scan(
    store: PgVectorStore, k: int, flt: dict[str, Any] | None
) -> None:
    # PostgreSQL 17+ drops a CTE's "ORDER BY distance" as redundant after an ordered index scan, and
    # relaxed_order does not keep that order: "ORDER BY distance + 0" keeps the sort
    coll, _ = filled(store, n=3000)
    queries = unit(np.random.default_rng(9).standard_normal((8, DIMS)))
    for q in queries:
        scores = np.array([m.score for m in coll.query(q, k, flt)])
        assert len(scores) == k
        assert (np.diff(scores) <= 1e-6).all(), "matches out of order"


def test_a_pool_of_dead_connections_is_replaced_within_one_call(store: PgVectorStore, pg_url: str) -> None:
    with connect_postgres(pg_url, schema=store.schema, pool_size=4) as wide:
        coll, vectors = filled(wide)
        # four connections, all used a moment ago (so they would be handed out without a ping)
        together = threading.Barrier(4)

        def hold() -> None:
            wide._run("hold", lambda conn: together.wait(10), single_statement=True)

        threads = [threading.Thread(target=hold) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wide._pool.get_stats()["pool_size"] == 4
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'gemini-vectors' AND pid <> pg_backend_pid()"
            )
        assert [m.id for m in coll.query(vectors[3], 1)] == ["r3"]
        coll.upsert([Record("after", vectors[4], {}, None)])
        assert coll.count() == 301


def test_setting_ef_search_on_a_stale_handle_does_not_overwrite_the_new_plan(
    pg_url: str, schema: str
) -> None:
    with connect_postgres(pg_url, schema=schema) as first:
        stale = first.open_collection("docs", spec_of(DIMS))
        with connect_postgres(pg_url, schema=schema, index="binary") as second:
            second.drop_collection("docs")
            second.open_collection("docs", spec_of(DIMS))
            with pytest.raises(gv.StoreError, match="open it again"):
                stale.set_ef_search(200)
            fresh = second.open_collection("docs")
            assert isinstance(fresh, PgVectorCollection)
            assert (fresh.plan.index, fresh.ef_search) == ("binary", 100)
            fresh.set_ef_search(150)  # a current handle changes only that key
        with connect_postgres(pg_url, schema=schema) as third:
            again = third.open_collection("docs")
            assert isinstance(again, PgVectorCollection)
            assert (again.plan.index, again.ef_search) == ("binary", 150)


def test_a_non_ascii_digit_prefix_is_a_configuration_error(pg_url: str) -> None:
    with pytest.raises(ConfigurationError, match="prefix length"):
        connect_postgres(pg_url, index="mrl:\u00b2")


def test_a_repeated_filtered_search_keeps_a_custom_plan(store: PgVectorStore) -> None:
    # psycopg prepares a statement after 5 runs; a generic plan for a filtered search sorts every
    # matching row instead of walking the graph (found by bench/search_latency.py)
    coll, vectors = filled(store)
    for i in range(12):
        coll.query(vectors[i], 5, {"b": i % 4})
    row = store._run(
        "plans",
        lambda conn: conn.execute(
            "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
            "FROM pg_prepared_statements"
        ).fetchone(),
        single_statement=True,
    )
    assert row is not None and row[1] > 0  # the search statement was prepared
    assert row[0] == 0


@pytest.mark.parametrize(
    "raw",
    [
        {"b": 1},
        {"b": {"$ne": 2}},
        {"b": {"$in": [1, 2, 3]}},
        {"b": {"$nin": []}},
        {"$or": [{"b": {"$gte": 2}}, {"lang": {"$exists": False}}]},
        {"$and": [{"b": {"$lt": 3.5}}, {"tags": "x"}, {"$or": [{"x": True}, {"y": {"$exists": True}}]}]},
    ],
)
def test_filter_parameters_without_the_condition_match_the_condition(raw: dict[str, Any]) -> None:
    from gemini_vectors.filters import parse_filter
    from gemini_vectors_pgvector.filter_sql import filter_params, filter_shape, filter_to_sql

    flt = parse_filter(raw)
    assert flt is not None
    cond, params = filter_to_sql(flt)
    assert [repr(p.obj) if hasattr(p, "obj") else p for p in filter_params(flt)] == [
        repr(p.obj) if hasattr(p, "obj") else p for p in params
    ]
    assert cond.as_string(None).count("%s") == len(params)
    # one shape, one text: another filter of the same shape composes the same condition
    other = parse_filter(_revalued(raw))
    assert other is not None and filter_shape(other) == filter_shape(flt)
    assert filter_to_sql(other)[0].as_string(None) == cond.as_string(None)


def _revalued(raw: Any) -> Any:
    """``raw`` with other field names and values, the same operators and sizes."""
    if isinstance(raw, dict):
        return {(k if k.startswith("$") else k + "_other"): _revalued(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_revalued(v) for v in raw]
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return raw + 7
    return raw + "_other" if isinstance(raw, str) else raw


@pytest.mark.parametrize(("index", "widened"), [("binary", True), ("mrl:128", False)])
def test_ef_search_widens_the_candidates_of_the_binary_plan_only(
    pg_url: str, schema: str, index: str, widened: bool
) -> None:
    with connect_postgres(pg_url, schema=schema, index=index, rerank_factor=10) as store:
        coll = store.open_collection("two", spec_of(DIMS))
        assert isinstance(coll, PgVectorCollection)
        q = unit(np.ones(DIMS))
        # candidates are the third parameter from the end: k * rerank_factor, or (binary) ef_search
        assert coll.search_sql(q, 10).params[-3] == 100
        assert coll.search_sql(q, 10, ef_search=400).params[-3] == (400 if widened else 100)
        assert coll.search_sql(q, 50, ef_search=400).params[-3] == 500
        # the first stage's graph walk always covers its candidates
        assert coll.search_sql(q, 10, ef_search=400).settings["hnsw.ef_search"] == "400"


def test_the_rerank_factor_defaults_to_10_for_binary_and_4_for_mrl(pg_url: str, schema: str) -> None:
    for index, factor in (("binary", 10), ("mrl:128", 4)):
        with connect_postgres(pg_url, schema=schema, index=index) as store:
            coll = store.open_collection(f"f_{factor}", spec_of(DIMS))
            assert isinstance(coll, PgVectorCollection) and coll.plan.rerank_factor == factor


def test_a_one_thread_caller_is_served_by_one_connection(pg_url: str, schema: str) -> None:
    # a pool of two would hand its connections out in turn: two backends with colder caches
    with connect_postgres(pg_url, schema=schema, pool_size=4) as store:
        coll, vectors = filled(store)
        for i in range(30):
            coll.query(vectors[i], 5)
        assert store._pool.get_stats()["pool_size"] == 1
