"""Vectorizer.sync against an embedded PostgreSQL source, the Gemini emulator, and every store plugin."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sync_helpers import Pg, create_docs, fast_embedder, text_of

import gemini_vectors as gv
from gemini_vectors.sync import Vectorizer
from gemini_vectors.sync.state import LogCounts
from gemini_vectors.sync.writer import RowWriter
from gemini_vectors.testing import GeminiEmulator


def make_vectorizer(
    pg: Pg, schema: str, store: gv.VectorStore | str, emulator: GeminiEmulator, **options: Any
) -> Vectorizer:
    options.setdefault("columns", ["body"])
    options.setdefault("collection", f"docs_{uuid.uuid4().hex[:6]}")
    options.setdefault("embedder", fast_embedder(emulator))
    return Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.docs",
        store=store,
        state_schema=schema,
        progress=False,
        **options,
    )


def test_5000_rows_then_nothing_then_exactly_the_changes(
    store: gv.VectorStore,
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
) -> None:
    create_docs(pg_conn, schema, 5000)
    vec = make_vectorizer(pg, schema, store, gemini_emulator, metadata_columns=["lang"])

    first = vec.sync()
    assert (first.embedded, first.unchanged, first.deleted, first.failed) == (5000, 0, 0, 0)
    assert gemini_emulator.stats.embedded == 5000
    coll = vec.collection()
    assert coll.count() == 5000

    gemini_emulator.stats.reset()
    second = vec.sync()
    assert (second.embedded, second.unchanged, second.deleted, second.failed) == (0, 5000, 0, 0)
    assert gemini_emulator.stats.total_calls == 0

    docs = sql.Identifier(schema, "docs")
    for i in range(100, 110):
        pg_conn.execute(sql.SQL("UPDATE {} SET body = %s WHERE id = %s").format(docs), [text_of(i, 1), i])
    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id BETWEEN 4000 AND 4004").format(docs))
    third = vec.sync()
    assert (third.embedded, third.unchanged, third.deleted, third.failed) == (10, 4985, 5, 0)
    assert gemini_emulator.stats.embed_requests == 10
    assert coll.count() == 4995
    assert not coll.get([str(i) for i in range(4000, 4005)])
    # the changed row is found by its new text, with its metadata
    top = coll.search(text_of(105, 1), k=1)[0]
    assert top.id == "105" and dict(top.metadata) == {"lang": "en"}


def test_rejected_rows_go_to_the_errors_table_and_faults_lose_nothing(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    create_docs(pg_conn, schema, 1000)
    docs = sql.Identifier(schema, "docs")
    poisoned = [7, 333, 901]
    for i in poisoned:
        pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' POISON' WHERE id = %s").format(docs), [i])
    faults = gemini_emulator.faults
    faults.rate_503, faults.rate_429, faults.rate_short = 0.15, 0.15, 0.1
    faults.retry_after = 0.01
    faults.reject_texts_containing = "POISON"
    vec = make_vectorizer(pg, schema, "memory://", gemini_emulator, max_attempts=2, page_size=200)

    first = vec.sync()
    assert (first.embedded, first.failed) == (997, 3)
    statuses = gemini_emulator.stats.statuses
    assert statuses.get(503, 0) > 0 and statuses.get(429, 0) > 0  # the faults did happen
    coll = vec.collection()
    assert set(coll.ids()) == {str(i) for i in range(1000)} - {str(i) for i in poisoned}
    errors = {e.row_id: e for e in vec.state.list_errors(vec.job)}
    assert set(errors) == {str(i) for i in poisoned}
    assert all("400" in e.reason and e.attempts == 1 for e in errors.values())

    # tried once more (attempt 2 of 2), then held back: no more calls for the same content
    faults.reset()
    faults.reject_texts_containing = "POISON"
    second = vec.sync()
    assert (second.embedded, second.failed) == (0, 3)
    assert {e.attempts for e in vec.state.list_errors(vec.job)} == {2}
    gemini_emulator.stats.reset()
    third = vec.sync()
    assert (third.embedded, third.failed) == (0, 3)
    assert gemini_emulator.stats.total_calls == 0

    # fixed content is embedded and its error forgotten
    pg_conn.execute(sql.SQL("UPDATE {} SET body = replace(body, ' POISON', '')").format(docs))
    fourth = vec.sync()
    assert (fourth.embedded, fourth.failed) == (3, 0)
    assert vec.state.count_errors(vec.job) == 0
    assert coll.count() == 1000


def test_an_interrupted_pass_resumes_after_its_checkpoint(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass stopped by an error resumes where it stopped and re-embeds nothing it stored."""
    create_docs(pg_conn, schema, 1000)
    vec = make_vectorizer(pg, schema, "memory://", gemini_emulator, page_size=100)
    calls = 0

    original = RowWriter.write

    def failing_after_three_pages(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:  # the API goes down for good (after the embedder's retries)
            gemini_emulator.faults.rate_503 = 1.0
            gemini_emulator.faults.retry_after = 0.0
        return original(*args, **kwargs)

    monkeypatch.setattr(RowWriter, "write", failing_after_three_pages)
    with pytest.raises(gv.EmbeddingError):
        vec.sync()
    assert vec.collection().count() == 300
    progress = vec.state.get_progress(vec.job, vec.collection_name)
    assert progress is not None and progress.status == "running" and progress.checkpoint == "299"

    gemini_emulator.faults.rate_503 = 0.0
    gemini_emulator.stats.reset()
    monkeypatch.setattr(RowWriter, "write", original)
    resumed = vec.sync()
    assert resumed.resumed and resumed.rows == 700 and resumed.embedded == 700
    assert gemini_emulator.stats.embedded == 700
    assert vec.collection().count() == 1000
    done = vec.state.get_progress(vec.job, vec.collection_name)
    assert done is not None and done.status == "done"


def test_a_job_keeps_its_table_and_store(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    create_docs(pg_conn, schema, 10)
    create_docs(pg_conn, schema, 10, table="other")
    vec = make_vectorizer(pg, schema, "memory://a", gemini_emulator, collection="docs")
    vec.sync()
    with pytest.raises(gv.ConfigurationError, match="reads table"):
        Vectorizer(
            pg.sqlalchemy_url,
            f"{schema}.other",
            columns=["body"],
            store="memory://a",
            collection="docs",
            state_schema=schema,
            embedder=fast_embedder(gemini_emulator),
        ).sync()
    # another store: a checkpoint taken in the first one must not make the second skip rows
    state = vec.state
    state.start_pass(vec.job, "docs")
    state.advance(vec.job, "docs", "5", LogCounts(rows=6), worker="test", seconds=0.0)
    moved = make_vectorizer(pg, schema, "memory://b", gemini_emulator, collection="docs").sync()
    assert (moved.embedded, moved.resumed) == (10, False)
    job = state.get_job(vec.job)
    assert job is not None and job.store_url == "memory://b"
    with pytest.raises(gv.SpecMismatchError):
        make_vectorizer(
            pg,
            schema,
            "memory://a",
            gemini_emulator,
            collection="docs",
            embedder=fast_embedder(gemini_emulator, dims=256),
        ).sync()
