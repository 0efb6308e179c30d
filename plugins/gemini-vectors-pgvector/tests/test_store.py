"""What the pgvector store must show beyond the contract: storage planning, EXPLAIN, spec safety,
injection safety, retries on a killed connection, concurrency."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql

import gemini_vectors as gv
from gemini_vectors.errors import SpecMismatchError, WriteError
from gemini_vectors.filters import parse_filter
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import VectorStoreContract, make_records, unit_vectors
from gemini_vectors_pgvector import REGISTRY_TABLE, PgVectorCollection, PgVectorStore, connect_postgres
from gemini_vectors_pgvector.storage import IndexKind

PgConn = psycopg.Connection[Any]


def spec_of(dims: int, model: str = "gemini-embedding-2") -> gv.EmbeddingSpec:
    return gv.EmbeddingSpec.for_model(model, dims)


def with_option(url: str, option: str) -> str:
    return url + ("&" if "?" in url else "?") + option


def column_type(conn: PgConn, schema: str, table: str) -> str:
    row = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attname = 'embedding'",
        [sql.Identifier(schema, table).as_string(conn)],
    ).fetchone()
    assert row is not None
    return str(row[0])


def index_defs(conn: PgConn, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
        [schema, table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def plan_lines(plan: str) -> list[str]:
    # EXPLAIN prints the query vector inline; the "Order By"/"Sort Key" lines are thousands of numbers.
    return [line for line in plan.splitlines() if "Order By" not in line and "Sort Key" not in line]


# -- storage planning and EXPLAIN --------------------------------------------------------------------


@pytest.fixture
def no_seqscan_store(pg_url: str, schema: str) -> Iterator[PgVectorStore]:
    """A store whose sessions cannot choose sequential scans (libpq ``options``).

    On a table of a few hundred rows an exact scan plus a top-k sort really is cheaper than walking a
    graph, and the planner rightly picks it (3,072-dim halfvecs are TOASTed, so the heap looks tiny).
    With sequential scans disabled, the plan shows whether the HNSW index *can* serve the query the store
    sends: the operator class, the cast and the ORDER BY expression must all match. That is what turns on
    by itself at scale, and what a mismatch would silently break.
    """
    store = connect_postgres(with_option(pg_url, "options=-c%20enable_seqscan%3Doff"), schema=schema)
    yield store
    store.close()


def test_3072_dims_get_halfvec_and_an_hnsw_index_that_top_k_uses(
    no_seqscan_store: PgVectorStore, pg_conn: PgConn, schema: str
) -> None:
    coll = no_seqscan_store.open_collection("big", spec_of(3072))
    assert isinstance(coll, PgVectorCollection)
    assert column_type(pg_conn, schema, coll.table_name) == "halfvec(3072)"
    hnsw = [d for d in index_defs(pg_conn, schema, coll.table_name) if "USING hnsw" in d]
    assert len(hnsw) == 1 and "halfvec_cosine_ops" in hnsw[0], hnsw
    records = make_records(200, dims=3072, seed=4)
    coll.upsert(records)

    for flt in (None, parse_filter({"i": {"$lt": 50}})):
        plan = plan_lines(coll.explain_query(records[7].vector, 10, flt))
        assert any(f"Index Scan using {coll.table_name}_hnsw" in line for line in plan), plan
        assert not any("Seq Scan" in line for line in plan), plan
    got = coll.query(records[7].vector, 10)
    assert got[0].id == "r7"
    assert got[0].score == pytest.approx(1.0, abs=1e-3)  # float16 storage


def test_768_dims_get_vector_and_the_binary_option_a_bit_index(
    pg_url: str, pg_conn: PgConn, schema: str
) -> None:
    with connect_postgres(pg_url, schema=schema) as store:
        coll = store.open_collection("small", spec_of(768))
        assert isinstance(coll, PgVectorCollection)
        assert column_type(pg_conn, schema, coll.table_name) == "vector(768)"
        assert any("vector_cosine_ops" in d for d in index_defs(pg_conn, schema, coll.table_name))
    url = with_option(with_option(pg_url, "index=binary"), "options=-c%20enable_seqscan%3Doff")
    with connect_postgres(url, schema=schema) as store:
        coll = store.open_collection("quantized", spec_of(3072))
        assert isinstance(coll, PgVectorCollection)
        # float32 is kept: the bit index finds candidates, the full vectors re-rank them exactly.
        assert column_type(pg_conn, schema, coll.table_name) == "vector(3072)"
        bq = [d for d in index_defs(pg_conn, schema, coll.table_name) if "USING hnsw" in d]
        assert len(bq) == 1 and "binary_quantize" in bq[0] and "bit_hamming_ops" in bq[0], bq
        records = make_records(100, dims=3072, seed=8)
        coll.upsert(records)
        plan = plan_lines(coll.explain_query(records[3].vector, 5))
        assert any(f"Index Scan using {coll.table_name}_bq" in line for line in plan), plan
        got = coll.query(records[3].vector, 5)
        exact = np.stack([r.vector for r in records]) @ records[3].vector
        assert [m.id for m in got] == [f"r{i}" for i in np.argsort(-exact)[:5]]
        assert got[0].score == pytest.approx(1.0, abs=1e-5)  # exact float32 re-ranking
        # An existing collection keeps its recorded plan whatever the store's option says.
    with connect_postgres(pg_url, schema=schema) as store:
        again = store.open_collection("quantized", spec_of(3072))
        assert isinstance(again, PgVectorCollection)
        assert again.plan.index == "binary"


def test_large_k_with_a_filter_returns_every_match(pg_store: PgVectorStore) -> None:
    # k beyond hnsw.ef_search and a filter that drops half the candidates: the iterative scan must keep
    # walking the graph instead of returning what the first ef_search candidates left over.
    coll = pg_store.open_collection("wide", spec_of(128))
    records = make_records(1500, seed=2)
    coll.upsert(records)
    got = coll.query(records[0].vector, k=1200, filter=parse_filter({"i": {"$lt": 700}}))
    assert {m.id for m in got} == {f"r{i}" for i in range(700)}
    scores = [m.score for m in got]
    assert scores == sorted(scores, reverse=True)


# -- the spec is checked before anything is written ----------------------------------------------------


def snapshot(conn: PgConn, schema: str) -> tuple[Any, ...]:
    """Everything a stray write would change: registry rows with their xmin, tables, row versions."""
    registry = conn.execute(
        sql.SQL(
            "SELECT xmin::text, name, table_name, spec::text, storage::text FROM {} ORDER BY name"
        ).format(sql.Identifier(schema, REGISTRY_TABLE))
    ).fetchall()
    tables = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s ORDER BY 1",
        [schema],
    ).fetchall()
    rows = []
    for _, _, table, _, _ in registry:
        rows.append(
            conn.execute(
                sql.SQL("SELECT xmin::text, id FROM {} ORDER BY id").format(sql.Identifier(schema, table))
            ).fetchall()
        )
    return tuple(registry), tuple(tables), tuple(map(tuple, rows))


def next_xid(conn: PgConn) -> int:
    row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(("model", "dims"), [("gemini-embedding-2", 1536), ("gemini-embedding-001", 768)])
def test_other_model_or_dimension_raises_and_writes_nothing(
    pg_store: PgVectorStore, pg_conn: PgConn, schema: str, model: str, dims: int
) -> None:
    coll = pg_store.open_collection("docs", spec_of(768))
    coll.upsert(make_records(5, dims=768))
    before = snapshot(pg_conn, schema)
    xid = next_xid(pg_conn)
    other = spec_of(dims, model)
    with pytest.raises(SpecMismatchError) as info:
        pg_store.open_collection("docs", other)
    with pytest.raises(SpecMismatchError):
        pg_store.create_collection("docs", other)  # the racing path re-checks under the lock
    assert info.value.stored == spec_of(768) and info.value.requested == other
    assert "re-embed" in str(info.value)
    assert snapshot(pg_conn, schema) == before
    # No transaction that wrote anything was started (xids are only assigned to writers). Another
    # process writing to a shared test server would move it, so only check on our own server.
    import os

    if not os.environ.get("GEMINI_VECTORS_TEST_PG_URL"):
        assert next_xid(pg_conn) == xid


def test_stored_spec_of_a_fresh_schema_creates_nothing(
    pg_store: PgVectorStore, pg_conn: PgConn, schema: str
) -> None:
    assert pg_store.stored_spec("anything") is None
    assert pg_store.list_collections() == []
    row = pg_conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    assert row == (0,)


# -- names and values are data, never SQL ---------------------------------------------------------------

HOSTILE_NAME = 'Robert\'); DROP TABLE t; -- "quoted" name with spaces ✓'
HOSTILE_VALUE = "x'); DROP TABLE t; --"


def test_hostile_collection_name_and_filter_value_are_taken_literally(
    pg_url: str, pg_store: PgVectorStore, pg_conn: PgConn, schema: str
) -> None:
    pg_conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    pg_conn.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(schema, "t")))  # the canary
    coll = pg_store.open_collection(HOSTILE_NAME, spec_of(128))
    assert isinstance(coll, PgVectorCollection)
    assert pg_store.list_collections() == [HOSTILE_NAME]
    assert pg_store.stored_spec(HOSTILE_NAME) == spec_of(128)
    assert coll.table_name.startswith("gv_robert_drop_table_t_quoted_name_")
    assert len(coll.table_name.encode()) <= 63
    odd_key = 'k\'ey "with" quotes'
    vectors = unit_vectors(3)
    coll.upsert(
        [
            Record("a'; DELETE FROM x; --", vectors[0], {"lang": HOSTILE_VALUE, odd_key: 1}),
            Record("b", vectors[1], {"lang": "x"}),
            Record("c", vectors[2], {"lang": "x'"}),
        ]
    )
    for raw in (
        {"lang": HOSTILE_VALUE},
        {"lang": {"$in": [HOSTILE_VALUE]}},
        {odd_key: {"$gte": 1}},
        {odd_key: {"$exists": True}},
    ):
        got = coll.query(vectors[1], k=3, filter=parse_filter(raw))
        assert [m.id for m in got] == ["a'; DELETE FROM x; --"], raw
        assert got[0].metadata["lang"] == HOSTILE_VALUE
    coll.delete(filter=parse_filter({"lang": HOSTILE_VALUE}))
    assert sorted(coll.iter_ids()) == ["b", "c"]
    canary = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "t"))
    assert pg_conn.execute(canary).fetchone() == (0,)
    reopened = connect_postgres(pg_url, schema=schema)
    try:
        assert reopened.open_collection(HOSTILE_NAME).count() == 2
        reopened.drop_collection(HOSTILE_NAME)
        assert reopened.list_collections() == []
    finally:
        reopened.close()


def test_names_that_sanitize_alike_get_different_tables(pg_store: PgVectorStore) -> None:
    a = pg_store.open_collection("a b", spec_of(128))
    b = pg_store.open_collection("a-b", spec_of(128))
    assert isinstance(a, PgVectorCollection) and isinstance(b, PgVectorCollection)
    assert a.table_name != b.table_name
    a.upsert(make_records(2))
    assert (a.count(), b.count()) == (2, 0)


# -- a connection killed during an upsert ---------------------------------------------------------------


def wait_for_blocked_upsert(conn: PgConn, timeout: float = 20.0) -> int:
    """The pid of the store's backend once it waits for our lock inside its merge statement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'gemini-vectors' "
            "AND wait_event_type = 'Lock' AND state = 'active'"
        ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.02)
    raise AssertionError("the upsert never blocked on the lock")


def run_blocked_upsert(
    pg_url: str, store: PgVectorStore, coll: PgVectorCollection, records: list[Record]
) -> tuple[list[BaseException], int]:
    """Upsert ``records`` while a lock holds the first batch; kill its backend once, then let go."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            coll.upsert(records)
        except BaseException as exc:
            errors.append(exc)

    table = sql.Identifier(store.schema or "public", coll.table_name)
    with psycopg.connect(pg_url) as locker, psycopg.connect(pg_url, autocommit=True) as killer:
        # SHARE mode blocks the INSERT/COPY of the batch after its staging work is done.
        locker.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(table))
        thread = threading.Thread(target=work)
        thread.start()
        pid = wait_for_blocked_upsert(killer)
        assert killer.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        locker.rollback()
    thread.join(60)
    assert not thread.is_alive()
    return errors, pid


def test_connection_killed_during_upsert_is_retried_without_loss_or_duplicates(
    pg_url: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    with connect_postgres(pg_url, schema=schema, batch_size=100) as store:
        coll = store.open_collection("killed", spec_of(128))
        assert isinstance(coll, PgVectorCollection)
        first = make_records(150, seed=1)
        coll.upsert(first[:60])  # some ids exist (merge path), most are new (COPY path)
        records = make_records(350, seed=2)
        with caplog.at_level(logging.WARNING, logger="gemini_vectors_pgvector.store"):
            errors, pid = run_blocked_upsert(pg_url, store, coll, records)
        assert errors == []
        assert any("retrying" in r.getMessage() and "upsert" in r.getMessage() for r in caplog.records)
        with psycopg.connect(pg_url) as conn:
            table = sql.Identifier(schema, coll.table_name)
            dupes = conn.execute(
                sql.SQL("SELECT count(*), count(DISTINCT id) FROM {}").format(table)
            ).fetchone()
            still = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        assert dupes == (350, 350)
        assert still == (0,)
        got = {r.id: r for r in coll.get([r.id for r in records])}
        assert len(got) == 350
        for r in records:
            np.testing.assert_allclose(got[r.id].vector, r.vector, atol=1e-6)
            assert dict(got[r.id].metadata) == dict(r.metadata)


def test_retries_are_bounded_and_failure_names_the_ids(pg_url: str, schema: str) -> None:
    with connect_postgres(pg_url, schema=schema, batch_size=100, max_attempts=1) as store:
        coll = store.open_collection("killed-once", spec_of(128))
        assert isinstance(coll, PgVectorCollection)
        records = make_records(250, seed=3)
        errors, _ = run_blocked_upsert(pg_url, store, coll, records)
        assert len(errors) == 1 and isinstance(errors[0], WriteError)
        failed = errors[0].failed_ids
        # The first batch (sorted ids) died, so it and every later batch are reported, none written.
        assert set(failed) == {r.id for r in records}
        assert coll.count() == 0


# -- concurrency -------------------------------------------------------------------------------------------


def race(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_create_same_spec_and_other_spec(pg_url: str, schema: str) -> None:
    stores = [connect_postgres(pg_url, schema=schema) for _ in range(4)]
    try:
        same = race(4, lambda i: stores[i].open_collection("shared", spec_of(128)).name)
        assert same == ["shared"] * 4
        mixed = race(4, lambda i: stores[i].open_collection("contested", spec_of(128 if i % 2 else 256)))
        winners = [r for r in mixed if isinstance(r, PgVectorCollection)]
        losers = [r for r in mixed if isinstance(r, SpecMismatchError)]
        assert len(winners) == 2 and len(losers) == 2, mixed
        assert len({w.spec for w in winners}) == 1
        assert stores[0].list_collections() == ["contested", "shared"]
    finally:
        for s in stores:
            s.close()


def test_concurrent_upserts_of_overlapping_ids(pg_url: str, schema: str) -> None:
    stores = [connect_postgres(pg_url, schema=schema, batch_size=50) for _ in range(3)]
    try:
        colls = [s.open_collection("busy", spec_of(128)) for s in stores]
        data = [make_records(400, seed=10 + i) for i in range(3)]  # same ids r0..r399, other vectors
        results = race(3, lambda i: colls[i].upsert(data[i]))
        assert results == [None, None, None]
        assert colls[0].count() == 400
        got = colls[0].get(["r0", "r399"])
        for rec in got:
            assert any(np.allclose(rec.vector, d[int(rec.id[1:])].vector) for d in data)
    finally:
        for s in stores:
            s.close()


# -- URLs ---------------------------------------------------------------------------------------------------


def test_url_options_and_schemes(pg_url: str, schema: str) -> None:
    sqlalchemy_style = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    store = gv.connect(with_option(sqlalchemy_style, f"schema={schema}&index=none"))
    try:
        assert isinstance(store, PgVectorStore)
        assert (store.schema, store.index) == (schema, "none")
        coll = store.open_collection("plain", spec_of(128))
        assert isinstance(coll, PgVectorCollection) and coll.plan.index == "none"
    finally:
        store.close()
    with pytest.raises(TypeError, match="unknown option"):
        gv.connect(pg_url, colour="blue")
    with pytest.raises(gv.ConfigurationError, match="index kind"):
        gv.connect(pg_url, index="ivfflat")


def test_a_url_with_an_empty_host_keeps_its_slashes(pg_url: str, schema: str) -> None:
    """``postgresql:///db?host=/socket/dir`` is a libpq URL; it lost its ``//`` and libpq refused it."""
    parts = urlsplit(pg_url)
    socket_dir = dict(parse_qsl(parts.query)).get("host")
    if parts.netloc.split("@")[-1] or not socket_dir:
        pytest.skip("the test server is not reached through a Unix socket")
    user = parts.netloc.split("@")[0].split(":")[0]
    url = f"postgresql://{parts.path}?host={socket_dir}&user={user}&schema={schema}"
    store = gv.connect(url)
    try:
        assert store.open_collection("socket", spec_of(128)).count() == 0
    finally:
        store.close()


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(gv.StoreError) as info:
        gv.connect("postgresql://user:s3cret@127.0.0.1:1/db?connect_timeout=2")
    assert "s3cret" not in str(info.value)
    assert "***" in str(info.value)


@pytest.fixture
def plain_store(pg_url: str, schema: str) -> Iterator[PgVectorStore]:
    """A store without a vector index: these tests compare no vectors, so they run on any CPU."""
    store = connect_postgres(pg_url, schema=schema, index="none")
    try:
        yield store
    finally:
        store.close()


def test_an_id_too_long_for_the_index_fails_once_without_retries(
    plain_store: PgVectorStore, caplog: pytest.LogCaptureFixture
) -> None:
    """ProgramLimitExceeded (an OperationalError to psycopg) is not transient: no retry, a WriteError."""
    coll = plain_store.open_collection("huge-ids", spec_of(128))
    assert coll.max_id_length == 2000
    coll.max_id_length = None  # past the up-front check, to reach the server's own limit
    rng = np.random.default_rng(5)
    huge = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 2800))
    records = make_records(3)
    records[1] = Record(huge, records[1].vector, {}, None)
    with (
        caplog.at_level(logging.WARNING, logger="gemini_vectors_pgvector.store"),
        pytest.raises(WriteError) as info,
    ):
        coll.upsert(records)
    assert isinstance(info.value.__cause__, psycopg.errors.ProgramLimitExceeded)
    assert "retrying" not in caplog.text
    assert coll.count() == 0


def test_the_up_front_check_refuses_what_the_index_cannot_hold(plain_store: PgVectorStore) -> None:
    coll = plain_store.open_collection("long-ids", spec_of(128))
    records = make_records(3)
    records[2] = Record("é" * 1001, records[2].vector, {}, None)  # 1,001 characters, 2,002 bytes
    with pytest.raises(gv.MetadataError, match=r"record 2: .* 2,002 long \(bytes of UTF-8\).* at most 2,000"):
        coll.upsert(records)
    assert coll.count() == 0
    with pytest.raises(gv.ArgumentError, match=r"2,001 long \(bytes of UTF-8\).* at most 2,000"):
        plain_store.open_collection("n" * 2001, spec_of(128))


def test_floats_read_back_from_jsonb_as_floats(plain_store: PgVectorStore) -> None:
    """jsonb prints 1e16 as 10000000000000000; the store writes it so that it reads back as a float."""
    awkward = VectorStoreContract.AWKWARD_FLOATS
    coll = plain_store.open_collection("floats", spec_of(128))
    records = make_records(2, metadata=[awkward, {"n": 10**17, "f": 1e17}])
    coll.upsert(records)
    got = {r.id: dict(r.metadata) for r in coll.get(["r0", "r1"])}
    for key, want in awkward.items():
        assert type(got["r0"][key]) is float and got["r0"][key] == want, key
    assert type(got["r1"]["n"]) is int and type(got["r1"]["f"]) is float
    coll.upsert([Record("r2", records[0].vector, got["r0"])])  # a read record writes back as it is
    # Filters still compare them as numbers, and a raw mapping filter is accepted.
    coll.delete(filter={"big": {"$gt": 2e20}, "f16": 1e16})  # type: ignore[arg-type]
    assert set(coll.iter_ids()) == {"r1"}


# -- a filtered top-k returns k rows whenever k rows match -----------------------------------------------


def index_scan_rows(plan: str) -> int:
    """The rows the vector index scan (HNSW or bit index) of an EXPLAIN ANALYZE plan returned."""
    found = re.search(r"Index Scan using \S+_(?:hnsw|bq) on .*\(actual time=\S+ rows=([\d.]+)", plan)
    assert found is not None, plan_lines(plan)
    return int(float(found.group(1)))


@pytest.mark.parametrize("index", ["hnsw", "binary"])
def test_filtered_top_k_past_max_scan_tuples_returns_the_exact_top_k(
    pg_url: str, schema: str, index: IndexKind
) -> None:
    # pgvector's iterative scan gives up after hnsw.max_scan_tuples (20,000 by default) with whatever
    # passed the filter by then: on 30,000 rows a range filter returned 6 of 10. The limit is lowered for
    # these sessions so that 3,000 rows show it; seq scans are off so that the planner takes the vector
    # index on a table this small, as it does by itself at scale.
    options = "options=-c%20hnsw.max_scan_tuples%3D100%20-c%20enable_seqscan%3Doff"
    records = make_records(3000, seed=7)
    flt = parse_filter({"i": {"$gte": 2985}})  # 15 of 3,000 rows match
    matching = [r for r in records if r.metadata["i"] >= 2985]
    vectors = np.stack([r.vector for r in matching]).astype(np.float64)
    queries = unit_vectors(16, 128, seed=8)
    short = 0
    with connect_postgres(with_option(pg_url, options), schema=schema, index=index) as store:
        coll = store.open_collection("sparse", spec_of(128))
        assert isinstance(coll, PgVectorCollection)
        coll.upsert(records)
        for query in queries:
            got = coll.query(query, 10, flt)
            assert len(got) == 10
            assert {m.id for m in got} <= {r.id for r in matching}
            # The index scan alone (the statement query() sends first, deterministic on one graph)
            # came back short: the rows returned must then be the exact top 10 of the matching rows,
            # ranked by numpy on the same vectors. (A full index scan is approximate by design.)
            if index_scan_rows(coll.explain_query(query, 10, flt, analyze=True)) < 10:
                short += 1
                similarity = vectors @ query.astype(np.float64)  # unit vectors: cosine similarity
                best = np.argsort(-similarity, kind="stable")[:10]
                assert [m.id for m in got] == [matching[i].id for i in best]
                assert [m.score for m in got] == pytest.approx([float(similarity[i]) for i in best], abs=1e-5)
    assert short > 0  # the case happened: some index scans stopped before 10 matching rows


def test_a_collection_dropped_and_created_again_by_another_store_is_not_the_old_handle_s(
    pg_url: str, schema: str
) -> None:
    """Two stores, two pools, as two processes: the second drops the collection and creates it again
    for another model at the same length; nothing the first one's handle does reaches the new table."""
    first = PgVectorStore(pg_url, schema=schema)
    second = PgVectorStore(pg_url, schema=schema)
    try:
        stale = first.open_collection("docs", spec_of(128))
        stale.upsert(make_records(3, dims=128))
        assert isinstance(stale, PgVectorCollection)
        second.drop_collection("docs")
        fresh = second.open_collection("docs", spec_of(128, "gemini-embedding-001"))
        fresh.upsert(make_records(2, dims=128, prefix="fresh"))
        assert isinstance(fresh, PgVectorCollection)
        assert fresh.table_name != stale.table_name
        probe = unit_vectors(1, dims=128, seed=5)[0]
        for call in (
            lambda: stale.upsert(make_records(1, dims=128, prefix="stale")),
            lambda: stale.query(probe, 3),
            lambda: stale.delete(["fresh0"]),
            stale.count,
            lambda: stale.get(["fresh0"]),
            lambda: list(stale.iter_ids()),
            lambda: stale.set_ef_search(50),
            stale.build_index,
            lambda: stale.bulk_load(expected=50_000).__enter__(),
        ):
            with pytest.raises(gv.errors.CollectionNotFoundError, match="open it again"):
                call()
        stale.drop()  # its own table is gone already: nothing of the new collection goes with it
        assert second.stored_spec("docs") == spec_of(128, "gemini-embedding-001")
        assert sorted(r.id for r in fresh.get(["fresh0", "fresh1", "stale0"])) == ["fresh0", "fresh1"]
        assert first.open_collection("docs").count() == 2
    finally:
        first.close()
        second.close()
