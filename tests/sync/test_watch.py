"""Continuous sync: triggers queue changed keys, FOR UPDATE SKIP LOCKED workers drain the queue."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sync_helpers import Pg, create_docs, fast_embedder, text_of

import gemini_vectors as gv
from gemini_vectors.cli import main
from gemini_vectors.sync import Vectorizer
from gemini_vectors.sync.source import item_hash
from gemini_vectors.testing import GeminiEmulator


def watched(
    pg: Pg, schema: str, emulator: GeminiEmulator, store: gv.VectorStore | str, **options: Any
) -> Vectorizer:
    return Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.docs",
        columns=["body"],
        store=store,
        collection=f"w_{uuid.uuid4().hex[:6]}",
        embedder=fast_embedder(emulator),
        state_schema=schema,
        progress=False,
        **options,
    )


def queue_depth(vec: Vectorizer) -> int:
    q = vec.state.t("queue")
    with vec.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(q.c.job == vec.job)).scalar_one())


def test_two_workers_drain_2000_changes_without_embedding_a_row_twice(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    create_docs(pg_conn, schema, 0)
    store = gv.connect(pg.url, schema=f"{schema}_store")
    try:
        vec = watched(pg, schema, gemini_emulator, store)
        watcher = vec.watcher(batch_size=50, poll_interval=0.05)
        watcher.install()
        watcher.install()  # idempotent
        docs = sql.Identifier(schema, "docs")
        insert = sql.SQL("INSERT INTO {} (id, body, lang) VALUES (%s, %s, 'en')").format(docs)
        update = sql.SQL("UPDATE {} SET body = %s WHERE id = %s").format(docs)
        for start in range(0, 1600, 50):
            with pg_conn.cursor() as cur:
                cur.executemany(insert, [(i, text_of(i)) for i in range(start, start + 50)])
                if start < 300:
                    # the same rows again, right behind: two workers take the two halves at once, and
                    # only the per-row lock keeps them from embedding a row twice
                    cur.executemany(update, [(text_of(i, 2), i) for i in range(start, start + 50)])
        pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id >= 1500").format(docs))  # queued and gone
        pg_conn.execute(sql.SQL("UPDATE {} SET lang = 'de' WHERE id < 50").format(docs))  # not watched
        assert queue_depth(vec) == 2000

        gemini_emulator.faults.latency = 0.03  # calls overlap, so both workers hold batches at once
        total = watcher.run(workers=2, drain=True)

        assert queue_depth(vec) == 0
        assert gemini_emulator.stats.embed_requests == 1500  # each live row exactly once
        assert total.embedded == 1500 and total.failed == 0
        by_worker = vec.state.work_by_worker(vec.job)
        assert len(by_worker) == 2 and all(n > 0 for n in by_worker.values()), by_worker
        coll = vec.collection()
        assert coll.count() == 1500
        rows = vec.source.fetch([str(i) for i in range(1500)])
        stored = coll.backend.content_hashes([r.id for r in rows])
        assert all(r.item is not None and stored[r.id] == item_hash(r.item) for r in rows)

        status = watcher.status()
        assert status.installed and status.queue_depth == 0 and status.errors == 0
        assert status.last_hour["rows"] >= 1500 and status.last_hour["workers"] == 2
    finally:
        store.close()


def test_a_row_that_keeps_failing_goes_to_the_errors_table(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_docs(pg_conn, schema, 20)
    vec = watched(pg, schema, gemini_emulator, "memory://", max_attempts=3)
    watcher = vec.watcher(batch_size=10, backoff=0.0)
    watcher.install()
    assert vec.sync().embedded == 20
    docs = sql.Identifier(schema, "docs")
    gemini_emulator.faults.reject_texts_containing = "POISON"
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' POISON' WHERE id = 4").format(docs))
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' new' WHERE id IN (5, 6)").format(docs))
    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = 7").format(docs))

    total = watcher.run(drain=True)

    assert queue_depth(vec) == 0
    assert total.embedded == 2 and total.deleted == 1
    errors = vec.state.list_errors(vec.job)
    assert [(e.row_id, e.attempts) for e in errors] == [("4", 3)]
    assert "400" in errors[0].reason
    coll = vec.collection()
    assert coll.count() == 19
    # the rejected row keeps its last good vector; the others moved on
    assert coll.search(text_of(5) + " new", k=1)[0].id == "5"

    # --status from the command line shows the queue and the error
    code = main(
        ["sync", "--source", pg.sqlalchemy_url, "--table", f"{schema}.docs", "--columns", "body",
         "--store", "memory://", "--collection", vec.collection_name, "--state-schema", schema, "--status"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "triggers: installed" in out and "queue: 0 entries" in out and "errors: 1" in out
    assert "4: 3 attempts" in out

    # put back on the queue with --retry-errors; fixed content goes through
    gemini_emulator.faults.reject_texts_containing = None
    assert watcher.requeue_errors() == 1
    assert watcher.run(drain=True).embedded == 1
    assert vec.state.count_errors(vec.job) == 0


def test_a_switch_waits_for_a_batch_in_flight(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """A worker holds the alias FOR SHARE while it writes, so the switch cannot land mid-batch."""
    create_docs(pg_conn, schema, 5)
    vec = watched(pg, schema, gemini_emulator, "memory://")
    watcher = vec.watcher()
    watcher.install()
    vec.sync()
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' again'").format(sql.Identifier(schema, "docs")))
    gemini_emulator.faults.latency = 1.0
    worker = threading.Thread(target=watcher.process_batch)
    worker.start()
    try:
        # the worker is inside its transaction, waiting for the API, when the switch arrives
        threading.Event().wait(0.4)
        with vec.engine.connect() as conn:
            conn.execute(sa.text("SET lock_timeout = '100ms'"))
            jobs = vec.state.t("jobs")
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                conn.execute(sa.select(jobs).where(jobs.c.job == vec.job).with_for_update())
    finally:
        worker.join()
    assert queue_depth(vec) == 0


def test_watch_needs_postgres(tmp_path: Any, gemini_emulator: GeminiEmulator) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)")
    vec = Vectorizer(engine, "docs", store="memory://", embedder=fast_embedder(gemini_emulator))
    with pytest.raises(gv.ConfigurationError, match="PostgreSQL"):
        vec.watcher().install()


def test_cli_watch_drain_status_and_unwatch(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_docs(pg_conn, schema, 30)
    args = ["sync", "--source", pg.sqlalchemy_url, "--table", f"{schema}.docs", "--columns", "body",
            "--store", f"memory://watch-{uuid.uuid4().hex[:6]}", "--collection", "docs",
            "--state-schema", schema, "--model", "gemini-embedding-2", "--dimensions", "128",
            "--quiet"]  # fmt: skip
    assert main([*args, "--watch", "--drain", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "initial sync: embedded 30" in out and "watch: embedded 0" in out
    docs = sql.Identifier(schema, "docs")
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' edited' WHERE id < 3").format(docs))
    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = 29").format(docs))
    assert main([*args, "--watch", "--drain", "--no-initial-sync"]) == 0
    assert "watch: embedded 3, unchanged 0, deleted 1, failed 0" in capsys.readouterr().out
    assert main([*args, "--unwatch"]) == 0
    assert main([*args, "--status"]) == 0
    assert "triggers: not installed" in capsys.readouterr().out
    pg_conn.execute(sql.SQL("UPDATE {} SET body = 'unqueued'").format(docs))
    with psycopg.connect(pg.url) as conn:
        queued = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "gemini_vectors_queue"))
        ).fetchone()
    assert queued == (0,)
