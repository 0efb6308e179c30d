"""Bulk loads defer the vector index and build it once: alone, with an error, concurrently, when killed."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

import gemini_vectors as gv
from gemini_vectors.store import Record
from gemini_vectors_pgvector import PgVectorCollection, PgVectorStore, connect_postgres

DIMS = 128
ROWS = 600


def spec() -> gv.EmbeddingSpec:
    return gv.EmbeddingSpec.for_model("gemini-embedding-2", DIMS)


def vectors(n: int = ROWS, seed: int = 0) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def records(m: np.ndarray, start: int = 0, stop: int | None = None) -> list[Record]:
    stop = len(m) if stop is None else stop
    return [Record(f"r{i}", m[i], {"b": i % 4}, None) for i in range(start, stop)]


@pytest.fixture
def store(pg_url: str, schema: str) -> Iterator[PgVectorStore]:
    s = connect_postgres(pg_url, schema=schema, defer_index_min_rows=100)
    try:
        yield s
    finally:
        s.close()


def open_docs(store: PgVectorStore) -> PgVectorCollection:
    coll = store.open_collection("docs", spec())
    assert isinstance(coll, PgVectorCollection)
    return coll


def exact_top(m: np.ndarray, q: np.ndarray, k: int, upto: int) -> list[str]:
    return [f"r{i}" for i in np.argsort(-(m[:upto] @ q), kind="stable")[:k]]


def test_a_first_load_runs_without_the_index_and_builds_it_at_the_end(store: PgVectorStore) -> None:
    coll = open_docs(store)
    m = vectors()
    assert coll.index_ready()  # an empty collection gets its index at creation
    with coll.bulk_load(expected=ROWS):
        assert not coll.index_ready()
        coll.upsert(records(m, 0, 300))
        # searches during the load answer, by exact scan
        assert [r.id for r in coll.query(m[5], 3)] == exact_top(m, m[5], 3, 300)
        coll.upsert(records(m, 300))
    assert coll.index_ready()
    assert coll.count() == ROWS
    assert [r.id for r in coll.query(m[400], 1)] == ["r400"]
    # and the planner has statistics for filtered searches at once (not after autovacuum's visit)
    stats = store._run(
        "stats",
        lambda conn: conn.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s",
            [store.schema, coll.table_name],
        ).fetchone(),
        single_statement=True,
    )
    assert stats is not None and stats[0] > 0


def test_an_error_inside_the_load_still_builds_the_index(store: PgVectorStore) -> None:
    coll = open_docs(store)
    m = vectors()
    with pytest.raises(RuntimeError, match="embedding failed"), coll.bulk_load(expected=ROWS):
        coll.upsert(records(m, 0, 200))
        raise RuntimeError("embedding failed")
    assert coll.index_ready()
    assert coll.count() == 200


@pytest.mark.parametrize(
    ("expected", "held"),
    [(None, 0), (50, 0), (ROWS, ROWS // 4 + 1)],
    ids=["size-unknown", "below-the-threshold", "collection-not-small"],
)
def test_the_index_stays_live_unless_the_load_pays_for_a_rebuild(
    store: PgVectorStore, expected: int | None, held: int
) -> None:
    coll = open_docs(store)
    m = vectors(ROWS + held)
    if held:
        coll.upsert(records(m, ROWS, ROWS + held))
    with coll.bulk_load(expected=expected):
        coll.upsert(records(m, 0, 10))
        assert coll.index_ready()


def test_two_loads_at_once_build_the_index_once_after_both(pg_url: str, schema: str) -> None:
    m = vectors()
    with (
        connect_postgres(pg_url, schema=schema, defer_index_min_rows=100) as first,
        connect_postgres(pg_url, schema=schema, defer_index_min_rows=100) as second,
    ):
        a, b = open_docs(first), open_docs(second)
        b_loading = threading.Event()
        a_done = threading.Event()
        errors: list[BaseException] = []

        def load_b() -> None:
            try:
                with b.bulk_load(expected=ROWS):
                    b.upsert(records(m, 300))
                    b_loading.set()
                    a_done.wait(30)
                    # a finished first: it left the build to this load, which is still running
                    assert not b.index_ready()
                    b.upsert(records(m, 0, 10))
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=load_b)
        worker.start()
        assert b_loading.wait(30)
        with a.bulk_load(expected=ROWS):
            a.upsert(records(m, 0, 300))
        a_done.set()
        worker.join(30)
        assert not errors, errors
        assert a.index_ready() and a.count() == ROWS


def test_a_killed_load_leaves_the_index_to_the_next_open(pg_url: str, schema: str) -> None:
    loader = textwrap.dedent(
        f"""
        import os, sys, numpy as np
        import gemini_vectors as gv
        from gemini_vectors.store import Record
        from gemini_vectors_pgvector import connect_postgres
        store = connect_postgres({pg_url!r}, schema={schema!r}, defer_index_min_rows=100)
        coll = store.open_collection("docs", gv.EmbeddingSpec.for_model("gemini-embedding-2", {DIMS}))
        m = np.random.default_rng(0).standard_normal((300, {DIMS})).astype(np.float32)
        with coll.bulk_load(expected=10_000):
            coll.upsert([Record(f"r{{i}}", m[i] / np.linalg.norm(m[i]), {{}}, None) for i in range(300)])
            print("loaded", flush=True)
            sys.stdin.read()  # wait to be killed
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", loader], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "loaded"
        with connect_postgres(pg_url, schema=schema) as other:
            during = open_docs(other)  # the load still holds its lock: no build from here
            assert not during.index_ready()
            assert during.count() == 300
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    with connect_postgres(pg_url, schema=schema) as after:
        coll = open_docs(after)  # the killed session's lock is gone: this open builds the index
        while not coll.index_ready() and time.monotonic() < deadline:  # the server notices the kill
            coll = open_docs(after)
        assert coll.index_ready()


def test_a_big_add_defers_the_index(
    store: PgVectorStore, caplog: pytest.LogCaptureFixture, gemini_client: Any
) -> None:
    embedder = gv.Embedder(model="gemini-embedding-2", dimensions=DIMS, client=gemini_client, progress=False)
    coll = store.collection("docs", embedder)
    with caplog.at_level(logging.INFO, logger="gemini_vectors_pgvector.store"):
        coll.add([f"text {i}" for i in range(150)])
    assert any("deferred for a load of 150" in r.getMessage() for r in caplog.records)
    assert any("built the hnsw index" in r.getMessage() for r in caplog.records)
    backend = coll.backend
    assert isinstance(backend, PgVectorCollection) and backend.index_ready()


# -- roles without DDL rights (found by the audit of issue 16) -----------------------------------------------


@pytest.fixture
def role_url(pg_url: str, schema: str) -> Iterator[Callable[[str], str]]:
    """Make login roles on the test server; give a URL that connects as one."""
    made: list[str] = []

    def make(rights: str) -> str:
        role = f"gv_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            admin.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(role))
            )
            admin.execute(
                sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(
                    sql.SQL(rights), sql.Identifier(schema), sql.Identifier(role)
                )
            )
        made.append(role)
        return psycopg.conninfo.make_conninfo(pg_url, user=role)

    yield make
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for role in made:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_writer_that_does_not_own_the_table_loads_with_the_index_live(
    store: PgVectorStore, schema: str, role_url: Callable[[str], str]
) -> None:
    open_docs(store)  # the owner creates the collection
    m = vectors()
    writer_url = role_url("SELECT, INSERT, UPDATE, DELETE")
    with PgVectorStore(writer_url, schema=schema, defer_index_min_rows=100, create_extension=False) as writer:
        coll = open_docs(writer)
        with coll.bulk_load(expected=ROWS):
            coll.upsert(records(m))
            assert coll.index_ready()  # not dropped: this role may not
        assert coll.count() == ROWS and coll.index_ready()


def test_a_read_only_role_opens_a_collection_whose_index_a_killed_load_left_unbuilt(
    store: PgVectorStore, schema: str, role_url: Callable[[str], str]
) -> None:
    coll = open_docs(store)
    m = vectors()
    coll.upsert(records(m))
    with psycopg.connect(store._conninfo, autocommit=True) as admin:  # what a killed load leaves
        admin.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, coll.table_name + "_hnsw")))
    reader_url = role_url("SELECT")
    with PgVectorStore(reader_url, schema=schema, create_extension=False) as reader:
        seen = open_docs(reader)  # must not need the rights to build it
        assert not seen.index_ready()
        assert [r.id for r in seen.query(m[17], 3)] == exact_top(m, m[17], 3, ROWS)


def test_upsert_vectors_of_many_records_defers_the_index(
    store: PgVectorStore, caplog: pytest.LogCaptureFixture
) -> None:
    coll = gv.Collection(open_docs(store))
    with caplog.at_level(logging.INFO, logger="gemini_vectors_pgvector.store"):
        coll.upsert_vectors(records(vectors()))  # the path of LangChain's and LlamaIndex's own embeddings
    assert any(f"deferred for a load of {ROWS}" in r.getMessage() for r in caplog.records)
    assert coll.count() == ROWS
    backend = coll.backend
    assert isinstance(backend, PgVectorCollection) and backend.index_ready()
