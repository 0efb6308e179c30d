"""Blue/green re-embedding through the emulator's Batch Mode endpoints, switched through the alias."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sync_helpers import Pg, create_docs, fast_embedder, text_of

import gemini_vectors as gv
from gemini_vectors.cli import main
from gemini_vectors.collection import Collection
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.sync import Vectorizer
from gemini_vectors.sync.reembed import Reembedder, abort_reembed
from gemini_vectors.testing import GeminiEmulator

OLD = EmbeddingSpec.for_model("gemini-embedding-001", 768)


def synced(
    pg: Pg, schema: str, emulator: GeminiEmulator, store: str | gv.VectorStore, rows: int, conn: Any
) -> Vectorizer:
    create_docs(conn, schema, rows)
    vec = Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.docs",
        columns=["body"],
        metadata_columns=["lang"],
        store=store,
        collection="docs",
        embedder=fast_embedder(emulator, OLD.model, OLD.dimensions),
        state_schema=schema,
        page_size=500,
        progress=False,
    )
    assert vec.sync().embedded == rows
    return vec


def test_reembed_5000_rows_with_batch_mode_while_searches_go_on(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = f"memory://reembed-{uuid.uuid4().hex[:8]}"  # named: the CLI below opens the same store
    vec = synced(pg, schema, gemini_env, store, 5000, pg_conn)
    gemini_env.stats.reset()
    gemini_env.faults.batch_seconds = 1.0

    seen: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def search_all_along() -> None:
        while not stop.is_set():
            try:
                coll = vec.collection()  # resolved through the alias on every search
                top = coll.search(text_of(1234), k=1)
                seen.append((coll.spec.model, top[0].id))
            except BaseException as exc:  # any failure is a finding
                failures.append(exc)
                return
            time.sleep(0.05)

    searcher = threading.Thread(target=search_all_along)
    searcher.start()
    try:
        code = main(
            ["reembed", "--source", pg.sqlalchemy_url, "--collection", "docs", "--store", store,
             "--state-schema", schema, "--model", "gemini-embedding-2", "--dimensions", "3072",
             "--batch-mode", "--poll-interval", "0.2", "--quiet"]
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not seen or seen[-1][0] != "gemini-embedding-2":
            assert time.monotonic() < deadline and not failures
            time.sleep(0.05)
    finally:
        stop.set()
        searcher.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert not failures, failures
    assert "docs -> docs_v2" not in out and "docs_v2 (gemini-embedding-2/3072" in out

    # all 5,000 went through Batch Mode, in jobs split to stay well under the inline limits
    assert gemini_env.stats.batch_requests == 5000
    assert gemini_env.stats.batch_jobs == 10
    assert gemini_env.stats.calls.get("batches.get", 0) >= 10
    # searches answered from the old collection until the switch and from the new one after it
    models = [m for m, _ in seen]
    switch = models.index("gemini-embedding-2")
    assert switch > 0 and set(models[:switch]) == {"gemini-embedding-001"}
    assert set(models[switch:]) == {"gemini-embedding-2"}
    assert {top for _, top in seen} == {"1234"}

    new = vec.collection()
    assert new.name == "docs_v2" and new.spec == EmbeddingSpec.for_model("gemini-embedding-2", 3072)
    assert new.count() == 5000
    assert dict(new.get(["7"])[0].metadata) == {"lang": "en"}
    # the old collection is kept until told to drop it
    connected = vec.store
    assert connected.stored_spec("docs") == OLD and connected.open_collection("docs").count() == 5000
    code = main(
        ["reembed", "--source", pg.sqlalchemy_url, "--collection", "docs", "--store", store,
         "--state-schema", schema, "--drop-old"]
    )  # fmt: skip
    assert code == 0 and "dropped docs" in capsys.readouterr().out
    assert connected.stored_spec("docs") is None


class _Interrupted(Reembedder):
    """Ctrl-C while waiting for the Batch Mode jobs."""

    def _collect(self, coll: Collection, target: str) -> None:
        raise KeyboardInterrupt


class _CrashAfterCreate(Reembedder):
    """Killed right after the API created a job, before its name was saved."""

    def _create(self, token: str, items: Any) -> str:
        super()._create(token, items)
        raise KeyboardInterrupt


NEW = EmbeddingSpec.for_model("gemini-embedding-2", 256)


def test_an_interrupted_reembed_resumes_polling_instead_of_paying_twice(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    vec = synced(pg, schema, gemini_emulator, "memory://", 300, pg_conn)
    gemini_emulator.faults.batch_seconds = 0.2
    with pytest.raises(KeyboardInterrupt):
        _Interrupted(vec, vec.embedder_for(NEW), batch_mode=True, batch_items=100).run()
    assert gemini_emulator.stats.batch_jobs == 3
    assert vec.state.count_batches(vec.job, "docs_v2") == {"submitted": 3}
    assert vec.collection().spec == OLD  # nothing switched

    gemini_emulator.stats.reset()
    summary = Reembedder(vec, vec.embedder_for(NEW), batch_mode=True, poll_interval=0.1).run()
    assert summary.resumed and summary.switched
    assert gemini_emulator.stats.batch_jobs == 0  # polled the three it had, created none
    assert (summary.batch_embedded, summary.online.embedded) == (300, 0)
    assert vec.collection().spec == NEW and vec.collection().count() == 300


def test_a_job_created_just_before_a_crash_is_found_by_its_display_name(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    vec = synced(pg, schema, gemini_emulator, "memory://", 300, pg_conn)
    gemini_emulator.faults.batch_seconds = 0.2
    with pytest.raises(KeyboardInterrupt):
        _CrashAfterCreate(vec, vec.embedder_for(NEW), batch_mode=True, batch_items=100).run()
    assert gemini_emulator.stats.batch_jobs == 1
    assert vec.state.count_batches(vec.job, "docs_v2") == {"creating": 1}

    summary = Reembedder(
        vec, vec.embedder_for(NEW), batch_mode=True, batch_items=100, poll_interval=0.1
    ).run()
    assert gemini_emulator.stats.batch_jobs == 3  # the first one adopted, two more for the rest
    assert gemini_emulator.stats.batch_requests == 300
    assert (summary.batch_embedded, summary.online.embedded) == (300, 0)
    assert vec.collection().count() == 300


def test_batch_results_match_online_vectors_and_changes_meanwhile_go_online(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    vec = synced(pg, schema, gemini_emulator, "memory://", 50, pg_conn)
    docs = sql.Identifier(schema, "docs")

    def change_rows() -> None:  # after the jobs were sent, before the switch
        pg_conn.execute(sql.SQL("UPDATE {} SET body = %s WHERE id = 3").format(docs), [text_of(3, 9)])
        pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = 4").format(docs))

    class ChangeWhileWaiting(Reembedder):
        def _collect(self, coll: Collection, target: str) -> None:
            change_rows()
            super()._collect(coll, target)

    gemini_emulator.faults.batch_seconds = 0.1
    summary = ChangeWhileWaiting(vec, vec.embedder_for(NEW), batch_mode=True, poll_interval=0.05).run()
    # guarantee 1: a Batch Mode result is stored only for a row whose content is still what was sent;
    # row 3 (changed) is embedded online, row 4 (deleted) never gets a vector in the new collection
    assert summary.batch_embedded == 48
    assert summary.online.embedded == 1 and summary.online.deleted == 0
    new = vec.collection()
    assert new.count() == 49 and new.get(["4"]) == []
    online = fast_embedder(gemini_emulator, NEW.model, NEW.dimensions)
    expected = online.embed_documents([text_of(7), text_of(3, 9)])
    got = {r.id: r.vector for r in new.get(["7", "3"])}
    assert float(got["7"] @ expected[0]) > 0.99999  # Batch Mode request shaped as the Embedder's
    assert float(got["3"] @ expected[1]) > 0.99999


def test_a_batch_whose_items_all_fail_goes_online_and_to_the_errors_table(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    vec = synced(pg, schema, gemini_emulator, "memory://", 3, pg_conn)
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' POISON'").format(sql.Identifier(schema, "docs")))
    gemini_emulator.faults.reject_texts_containing = "POISON"
    gemini_emulator.faults.batch_seconds = 0.1
    summary = Reembedder(vec, vec.embedder_for(NEW), batch_mode=True, poll_interval=0.05).run()
    # every item failed, so the SDK filed the answers under dest.inlined_responses
    assert (summary.batch_jobs, summary.batch_embedded, summary.batch_failed) == (1, 0, 3)
    assert summary.online.failed == 3 and summary.after_switch.failed == 3
    assert {e.row_id for e in vec.state.list_errors(vec.job)} == {"0", "1", "2"}


def test_dry_run_and_abort(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = f"memory://dry-{uuid.uuid4().hex[:8]}"
    vec = synced(pg, schema, gemini_env, store, 100, pg_conn)
    gemini_env.stats.reset()
    args = ["reembed", "--source", pg.sqlalchemy_url, "--collection", "docs", "--store", store,
            "--state-schema", schema, "--model", "gemini-embedding-2", "--dimensions", "1536"]  # fmt: skip
    assert main([*args, "--dry-run", "--batch-mode"]) == 0
    out = capsys.readouterr().out
    assert "would embed 100" in out and "Batch Mode" in out and "gemini-embedding-2/1536" in out
    assert gemini_env.stats.total_calls == 0 and vec.store.stored_spec("docs_v2") is None

    gemini_env.faults.batch_seconds = 0.1
    with pytest.raises(KeyboardInterrupt):
        _Interrupted(
            vec, vec.embedder_for(EmbeddingSpec.for_model("gemini-embedding-2", 1536)), batch_mode=True
        ).run()
    with pytest.raises(gv.ConfigurationError, match="unfinished"):
        vec.reembed("gemini-embedding-2", 3072)
    assert main([*args, "--abort"]) == 0
    assert "dropped docs_v2" in capsys.readouterr().out
    assert vec.store.stored_spec("docs_v2") is None
    assert abort_reembed(vec) is None
    summary = vec.reembed("gemini-embedding-2", 3072, drop_old=True)
    assert summary.new == "docs_v3" and summary.dropped == "docs"
    assert vec.collection().count() == 100


def test_a_store_of_one_spec_per_index_says_how_to_re_embed(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    pinecone_server: Any,
) -> None:
    index = f"gv-reembed-{uuid.uuid4().hex[:8]}"
    store = gv.connect(f"pinecone://{index}?host={pinecone_server.url}", api_key=pinecone_server.api_key)
    try:
        vec = synced(pg, schema, gemini_emulator, store, 5, pg_conn)
        with pytest.raises(gv.ConfigurationError, match="new index"):
            vec.reembed(NEW.model, NEW.dimensions)
        assert vec.state.get_reembed(vec.job) is None  # nothing left half-done
        assert vec.collection().spec == OLD and vec.collection().count() == 5
    finally:
        store.close()
