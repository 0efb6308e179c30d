"""The table vectorizer's guarantees, each against the finding that broke it (issue 12).

1. A stored vector is the vector of the content stored beside it, whatever races it.
2. A writer changes only what it owns.
3. A request-level failure is never an item failure.
5. Bad input is refused before anything is paid for or written.

Every check of a stored vector compares it with the emulator's vector for the row's current content,
computed afresh, never with a number written down here.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sync_helpers import DIMS, Pg, create_docs, fast_embedder, text_of

import gemini_vectors as gv
from gemini_vectors.errors import ArgumentError, ConfigurationError
from gemini_vectors.sync import Vectorizer
from gemini_vectors.testing import GeminiEmulator


def vectorizer(
    pg: Pg,
    schema: str,
    emulator: GeminiEmulator,
    store: gv.VectorStore | str,
    *,
    table: str = "docs",
    collection: str = "docs",
    **options: Any,
) -> Vectorizer:
    options.setdefault("embedder", fast_embedder(emulator))
    return Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.{table}",
        columns=["body"],
        store=store,
        collection=collection,
        state_schema=schema,
        progress=False,
        **options,
    )


def assert_vectors_match_rows(
    pg_conn: psycopg.Connection[Any],
    schema: str,
    vec: Vectorizer,
    emulator: GeminiEmulator,
    *,
    dims: int = DIMS,
) -> None:
    """Every row has the vector of its current body, and no vector outlives its row."""
    query = sql.SQL("SELECT id::text, body FROM {}").format(sql.Identifier(schema, "docs"))
    rows = dict(pg_conn.execute(query).fetchall())
    coll = vec.collection()
    stored = {r.id: r.vector for r in coll.get(list(coll.ids()))}
    assert set(stored) == set(rows), (sorted(set(stored) - set(rows)), sorted(set(rows) - set(stored)))
    assert np.isfinite(np.stack(list(stored.values()))).all() if stored else True
    fresh = fast_embedder(emulator, dims=dims)
    ids = sorted(rows)
    expected = fresh.embed_documents([rows[i] for i in ids])
    stale = [i for i, want in zip(ids, expected, strict=True) if float(stored[i] @ want) < 0.99999]
    assert not stale, f"rows whose stored vector is not that of their current content: {stale}"


# -- guarantee 1: races --------------------------------------------------------------------------------


def open_store(kind: str, pg: Pg, schema: str) -> gv.VectorStore:
    """A store that every thread of the test shares: in-process memory, or the embedded pgvector."""
    if kind == "memory":
        return gv.connect(f"memory://integrity-{uuid.uuid4().hex[:8]}")
    return gv.connect(pg.url, schema=f"{schema}_store")


STORES = ["memory", "postgresql"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", STORES)
def test_a_pass_racing_watch_workers_and_writers_ends_with_every_vector_current(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    seed: int,
    kind: str,
) -> None:
    """N3: a pass embeds v1 slowly, a worker stores v2 meanwhile; the pass must not store v1 after it.

    The pass embeds on a slow API, the workers on a fast one (two emulators, the same vectors). While a
    pass is embedding, rows of its pages change or vanish at random moments and the workers drain the
    queue at once; then no pass runs again: only the triggers' queue may bring the collection up to date.
    A pass that stored the vector of content older than what a worker stored meanwhile leaves it stale
    for good (the worker consumed the entry), and a pass that stored the vector of a deleted row brings
    it back.
    """
    n = 12
    create_docs(pg_conn, schema, n)
    rng = random.Random(seed)
    store = open_store(kind, pg, schema)
    try:
        with GeminiEmulator() as fast_api:
            passes_vec = vectorizer(pg, schema, gemini_emulator, store, page_size=n)
            passes_vec.sync()
            workers_vec = vectorizer(pg, schema, fast_api, store, embedder=fast_embedder(fast_api))
            watcher = workers_vec.watcher(batch_size=3, poll_interval=0.005)
            watcher.install()
            docs = sql.Identifier(schema, "docs")
            update = sql.SQL("UPDATE {} SET body = %s WHERE id = %s").format(docs)
            # every row changed, so the pass embeds all of them, in one slow call
            for i in range(n):
                pg_conn.execute(update, [text_of(i, 1), i])
            gemini_emulator.faults.latency = 0.6
            errors: list[BaseException] = []

            def one_pass() -> None:
                try:
                    passes_vec.sync(full=True)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            stop = threading.Event()
            workers = threading.Thread(target=lambda: watcher.run(workers=2, stop=stop))
            running = threading.Thread(target=one_pass)
            running.start()
            workers.start()
            deadline = time.monotonic() + 0.5  # writers and workers act while the pass embeds
            step = 1
            while time.monotonic() < deadline:
                step += 1
                i = rng.randrange(n)
                if rng.random() < 0.8:
                    pg_conn.execute(update, [text_of(i, step), i])
                else:
                    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(docs), [i])
                time.sleep(rng.uniform(0.0, 0.06))
            running.join()
            stop.set()
            workers.join()
            assert not errors, errors
            watcher.run(workers=1, drain=True)  # the triggers' entries only: no pass repairs anything
        gemini_emulator.faults.latency = 0.0
        assert_vectors_match_rows(pg_conn, schema, passes_vec, gemini_emulator)
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", STORES)
def test_two_passes_of_one_job_at_once_embed_each_row_once(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    seed: int,
    kind: str,
) -> None:
    """CLI6 / N12: two concurrent sync() of one job both embedded everything; two first syncs crashed."""
    n = 120
    create_docs(pg_conn, schema, n)
    rng = random.Random(seed)
    gemini_emulator.faults.latency = 0.005
    results: list[Any] = []

    def one_pass(delay: float) -> None:
        time.sleep(delay)
        store = open_store(kind, pg, schema) if kind == "postgresql" else shared
        try:
            with vectorizer(pg, schema, gemini_emulator, store, page_size=20) as vec:
                results.append(vec.sync())
        except BaseException as exc:
            results.append(exc)
        finally:
            if store is not shared:
                store.close()

    shared = open_store(kind, pg, schema)  # memory:// names one store per process
    threads = [threading.Thread(target=one_pass, args=(rng.uniform(0, 0.05),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, gv.sync.SyncSummary) for r in results), results
    assert gemini_emulator.stats.embed_requests == n  # each row once, whichever pass took it
    assert sorted(r.embedded for r in results) == [0, n]
    try:
        assert_vectors_match_rows(
            pg_conn, schema, vectorizer(pg, schema, gemini_emulator, shared), gemini_emulator
        )
    finally:
        shared.close()


def test_batch_mode_results_skip_rows_changed_since_they_were_sent(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """Batch Mode answers come long after the rows were read: only unchanged rows take them."""
    create_docs(pg_conn, schema, 6)
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    vec.sync()
    docs = sql.Identifier(schema, "docs")
    from gemini_vectors.sync.reembed import Reembedder

    class ChangeWhileWaiting(Reembedder):
        def _collect(self, coll: gv.Collection, target: str) -> None:
            pg_conn.execute(sql.SQL("UPDATE {} SET body = %s WHERE id = 1").format(docs), [text_of(1, 5)])
            pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = 2").format(docs))
            super()._collect(coll, target)

    gemini_emulator.faults.batch_seconds = 0.05
    new = fast_embedder(gemini_emulator, dims=256)
    summary = ChangeWhileWaiting(vec, new, batch_mode=True, poll_interval=0.02).run()
    assert summary.batch_embedded == 4
    assert_vectors_match_rows(pg_conn, schema, vec, gemini_emulator, dims=256)


# -- guarantee 2: ownership ----------------------------------------------------------------------------


def test_a_second_table_cannot_feed_a_collection_another_job_keeps(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N1: following the old error's advice (another name=), two tables fed one collection."""
    create_docs(pg_conn, schema, 3)
    create_docs(pg_conn, schema, 3, table="other")
    store = "memory://" + uuid.uuid4().hex[:8]
    a = vectorizer(pg, schema, gemini_emulator, store)
    a.sync()
    b = vectorizer(pg, schema, gemini_emulator, a.store, table="other", name="b")
    before = gemini_emulator.stats.embed_requests
    with pytest.raises(ConfigurationError, match=r"kept in step with table .* by sync job 'docs'"):
        b.sync()
    with pytest.raises(ConfigurationError, match="collection of its own"):
        vectorizer(pg, schema, gemini_emulator, a.store, table="other").sync()  # same job name
    assert gemini_emulator.stats.embed_requests == before
    assert a.collection().count() == 3


def test_a_first_sync_does_not_take_over_a_collection_it_did_not_create(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N2: a first sync into a collection built by Collection.add deleted all its records."""
    create_docs(pg_conn, schema, 2)
    store = gv.connect("memory://" + uuid.uuid4().hex[:8])
    emb = fast_embedder(gemini_emulator)
    theirs = store.collection("docs", embedder=emb)
    theirs.add(["a note", "another note", "a third"], ids=["n1", "n2", "n3"])
    with pytest.raises(ConfigurationError, match=r"no sync job created it.*adopt"):
        vectorizer(pg, schema, gemini_emulator, store).sync()
    assert theirs.count() == 3

    adopted = vectorizer(pg, schema, gemini_emulator, store, adopt=True)
    first = adopted.sync()
    assert (first.embedded, first.deleted) == (2, 0)
    assert sorted(theirs.ids()) == ["0", "1", "n1", "n2", "n3"]
    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE id = 0").format(sql.Identifier(schema, "docs")))
    again = adopted.sync()
    assert again.deleted == 1  # its own row's vector goes; the notes it never wrote stay
    assert sorted(theirs.ids()) == ["1", "n1", "n2", "n3"]


# -- guarantee 5 and the source's shape --------------------------------------------------------------


def test_a_null_id_neither_loops_nor_becomes_the_id_none(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """CLI2: a lone NULL row at page size 1 looped forever; elsewhere it was embedded as id "None"."""
    t = sql.Identifier(schema, "docs")
    pg_conn.execute(sql.SQL("CREATE TABLE {} (id text UNIQUE, body text, lang text)").format(t))
    pg_conn.execute(sql.SQL("INSERT INTO {} (id, body) VALUES (NULL, 'no key'), ('k1', 'one')").format(t))
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8], page_size=1)
    done = threading.Event()
    result: list[Any] = []
    worker = threading.Thread(target=lambda: (result.append(vec.sync()), done.set()), daemon=True)
    worker.start()
    assert done.wait(60), "the sync did not end"
    summary = result[0]
    assert (summary.embedded, summary.unkeyed) == (1, 1)
    assert "NULL id" in str(summary)
    assert sorted(vec.collection().ids()) == ["k1"]
    # with the triggers installed, the application can still insert a row without an id
    watcher = vec.watcher(poll_interval=0.01)
    watcher.install()
    pg_conn.execute(sql.SQL("INSERT INTO {} (id, body) VALUES (NULL, 'no key either')").format(t))
    assert watcher.run(drain=True).rows == 0


def test_a_repeated_id_on_a_table_without_a_key_is_refused_by_name(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """CLI3: 1,001 rows with one id twice gave exit 0 and 1,000 vectors."""
    t = sql.Identifier(schema, "docs")
    pg_conn.execute(sql.SQL("CREATE TABLE {} (id bigint, body text, lang text)").format(t))
    pg_conn.execute(
        sql.SQL("INSERT INTO {} (id, body) SELECT g, 'row ' || g FROM generate_series(0, 999) g").format(t)
    )
    pg_conn.execute(sql.SQL("INSERT INTO {} (id, body) VALUES (500, 'another row 500')").format(t))
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8], page_size=100)
    with pytest.raises(ConfigurationError, match=r"not unique: '500' occur"):
        vec.sync()
    assert gemini_emulator.stats.embed_requests == 0


def test_columns_given_as_one_string_are_refused() -> None:
    """CLI5: columns="name" was split into the columns n, a, m, e."""
    for option in ("columns", "metadata_columns"):
        with pytest.raises(ArgumentError, match=f"{option} takes a list of column names"):
            Vectorizer("sqlite://", "docs", **{option: "name"})  # type: ignore[arg-type]


def test_a_first_sync_that_failed_does_not_fix_the_spec(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """CLI1: a first sync that failed recorded its size, and every later size was refused forever."""
    create_docs(pg_conn, schema, 3)
    store = "memory://" + uuid.uuid4().hex[:8]
    gemini_emulator.faults.reject_texts_containing = "row"  # the first sync stores nothing
    first = vectorizer(
        pg, schema, gemini_emulator, store, embedder=fast_embedder(gemini_emulator, dims=3072)
    ).sync()
    assert first.failed == 3 and first.embedded == 0
    gemini_emulator.faults.reject_texts_containing = None
    vec = vectorizer(pg, schema, gemini_emulator, store, embedder=fast_embedder(gemini_emulator, dims=768))
    again = vec.sync()
    assert again.embedded == 3
    assert vec.collection().spec.dimensions == 768
    assert_vectors_match_rows(pg_conn, schema, vec, gemini_emulator, dims=768)


# -- guarantee 3: request-level failures ---------------------------------------------------------------


def test_a_wrong_key_stops_a_sync_and_a_watch_without_blaming_a_row(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N4: an invalid key was bisected into 2N-1 calls and recorded as a failure of every row."""
    create_docs(pg_conn, schema, 50)
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8], page_size=10)
    gemini_emulator.api_keys = {"the-right-key"}  # the embedder's key is wrong now
    with pytest.raises(gv.RequestRejectedError, match="API_KEY_INVALID"):
        vec.sync()
    assert gemini_emulator.stats.embed_requests <= 10  # one call, not a bisection of every page
    assert vec.state.count_errors(vec.job) == 0
    progress = vec.state.get_progress(vec.job, "docs")
    assert progress is not None and progress.checkpoint is None  # nothing counts as done

    watcher = vec.watcher(poll_interval=0.01)
    watcher.install()
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' again'").format(sql.Identifier(schema, "docs")))
    with pytest.raises(gv.RequestRejectedError):
        watcher.run(workers=2, drain=True)
    status = watcher.status()
    assert (status.queue_depth, status.retrying, status.errors) == (50, 0, 0)

    gemini_emulator.reset()  # the key is right again: everything goes through, nothing was set aside
    assert vec.sync().embedded == 50
    assert watcher.run(drain=True).failed == 0
    assert_vectors_match_rows(pg_conn, schema, vec, gemini_emulator)


def test_the_cli_says_a_wrong_key_in_one_line_with_exit_2(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gemini_vectors.cli import main

    create_docs(pg_conn, schema, 5)
    gemini_env.api_keys = {"the-right-key"}
    store = "memory://" + uuid.uuid4().hex[:8]
    args = ["sync", "--source", pg.sqlalchemy_url, "--table", f"{schema}.docs", "--columns", "body",
            "--store", store, "--state-schema", schema, "--dimensions", "128"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gemini-vectors: error: the Gemini API refused the request as a whole")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


# -- ids, secrets and old collections ----------------------------------------------------------------


def test_a_failing_row_with_a_long_id_is_recorded_and_does_not_block_the_sync(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N6: sync_errors.row_id was varchar(512), so a failing row with a longer id failed every run."""
    t = sql.Identifier(schema, "docs")
    pg_conn.execute(sql.SQL("CREATE TABLE {} (id text PRIMARY KEY, body text, lang text)").format(t))
    long_id = "k" * 700
    pg_conn.execute(
        sql.SQL("INSERT INTO {} (id, body) VALUES (%s, 'POISON'), ('short', 'fine')").format(t), [long_id]
    )
    gemini_emulator.faults.reject_texts_containing = "POISON"
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    first = vec.sync()
    assert (first.embedded, first.failed) == (1, 1)
    assert [e.row_id for e in vec.state.list_errors(vec.job)] == [long_id]
    pg_conn.execute(sql.SQL("UPDATE {} SET body = 'cured' WHERE id = %s").format(t), [long_id])
    assert vec.sync().embedded == 1
    assert vec.state.count_errors(vec.job) == 0


def test_a_password_given_as_a_url_parameter_never_reaches_the_state_tables(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N5: ?password=... showed in clear text in gemini_vectors_sync_jobs.store_url."""
    create_docs(pg_conn, schema, 2)
    url = f"{pg.url}{'&' if '?' in pg.url else '?'}password=hunter2-secret"
    store = gv.connect(url, schema=f"{schema}_store")
    try:
        vec = vectorizer(pg, schema, gemini_emulator, store)
        vec.sync()
        recorded = pg_conn.execute(
            sql.SQL("SELECT store_url FROM {}").format(sql.Identifier(schema, "gemini_vectors_sync_jobs"))
        ).fetchall()
        assert recorded and all("hunter2" not in r[0] for r in recorded), recorded
        assert "hunter2" not in repr(vec) and "hunter2" not in repr(store)
    finally:
        store.close()


def test_a_second_reembed_before_drop_old_leaves_no_collection_behind(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """CLI8: the second re-embed forgot the first old collection, which nothing could drop any more."""
    create_docs(pg_conn, schema, 4)
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    vec.sync()
    vec.reembed("gemini-embedding-2", 256)
    vec.reembed("gemini-embedding-2", 512)
    assert sorted(vec.store.list_collections()) == ["docs", "docs_v2", "docs_v3"]
    dropped = vec.drop_previous()
    assert dropped is not None and sorted(dropped.split(", ")) == ["docs", "docs_v2"]
    assert vec.store.list_collections() == ["docs_v3"]
    assert vec.collection().count() == 4


def test_watch_follows_a_truncate(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N9: after TRUNCATE the table was empty and its vectors stayed searchable."""
    create_docs(pg_conn, schema, 20)
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    vec.sync()
    watcher = vec.watcher(poll_interval=0.01)
    watcher.install()
    pg_conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, "docs")))
    summary = watcher.run(workers=2, drain=True)
    assert summary.deleted == 20
    assert vec.collection().count() == 0
    assert watcher.status().queue_depth == 0


def test_watch_refuses_no_workers(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """CLI7 in the library: run(workers=0) was accepted and did nothing."""
    create_docs(pg_conn, schema, 1)
    watcher = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8]).watcher()
    for bad in (0, -1):
        with pytest.raises(ConfigurationError, match="workers must be at least 1"):
            watcher.run(workers=bad)


def test_the_cli_refuses_to_take_over_a_collection_unless_told_to_adopt_it(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gemini_vectors.cli import main

    create_docs(pg_conn, schema, 2)
    store = "memory://" + uuid.uuid4().hex[:8]
    theirs = gv.connect(store).collection("docs", embedder=fast_embedder(gemini_env))
    theirs.add(["a note"], ids=["n1"])
    args = ["sync", "--source", pg.sqlalchemy_url, "--table", f"{schema}.docs", "--columns", "body",
            "--store", store, "--state-schema", schema]  # fmt: skip
    assert main(args) == 2
    assert "--adopt" in capsys.readouterr().err
    assert main([*args, "--adopt"]) == 0
    assert sorted(theirs.ids()) == ["0", "1", "n1"]


def test_status_changes_nothing_in_the_job(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """A report with other columns or another store must not rewrite what the job reads or where it writes."""
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, body text, lang text)").format(
            sql.Identifier(schema, "docs")
        )
    )
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    vec.sync()
    before = vec.state.get_job(vec.job)
    other = Vectorizer(
        pg.sqlalchemy_url, f"{schema}.docs", columns=["lang"], store="memory://elsewhere",
        collection="docs", state_schema=schema, progress=False,
    )  # fmt: skip
    other.watcher().status()
    assert vec.state.get_job(vec.job) == before


# -- found by the audit of the new write path -----------------------------------------------------------


def test_a_reembed_of_an_adopted_collection_never_drops_it(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """drop_previous dropped the whole adopted collection, records the job never wrote included."""
    create_docs(pg_conn, schema, 3)
    store = gv.connect("memory://" + uuid.uuid4().hex[:8])
    theirs = store.collection("docs", embedder=fast_embedder(gemini_emulator))
    theirs.add(["a note", "another"], ids=["f1", "f2"])
    vec = vectorizer(pg, schema, gemini_emulator, store, adopt=True)
    vec.sync()
    summary = vec.reembed("gemini-embedding-2", 256, drop_old=True)
    assert summary.switched and summary.dropped is None
    assert sorted(store.open_collection("docs").iter_ids()) == ["f1", "f2"]  # only the job's rows went
    assert vec.collection().count() == 3


def test_a_spec_change_waits_for_the_running_first_pass_and_is_then_refused(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """A second sync with another size dropped the collection under a first pass that was still embedding."""
    create_docs(pg_conn, schema, 20)
    store = gv.connect("memory://" + uuid.uuid4().hex[:8])
    first = vectorizer(pg, schema, gemini_emulator, store)
    gemini_emulator.faults.latency = 0.5
    outcome: list[Any] = []
    running = threading.Thread(target=lambda: outcome.append(first.sync()))
    running.start()
    time.sleep(0.2)  # the first pass is embedding now
    other = vectorizer(pg, schema, gemini_emulator, store, embedder=fast_embedder(gemini_emulator, dims=256))
    with pytest.raises(gv.SpecMismatchError):
        other.sync()
    running.join()
    assert outcome[0].embedded == 20
    assert first.collection().spec.dimensions == DIMS and first.collection().count() == 20


def test_two_new_jobs_naming_one_collection_at_once_cannot_both_have_it(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """N1 under concurrency: two first syncs of two tables into one collection were both recorded."""
    create_docs(pg_conn, schema, 10)
    create_docs(pg_conn, schema, 10, table="other")
    store = gv.connect("memory://" + uuid.uuid4().hex[:8])
    gemini_emulator.faults.latency = 0.05
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def first_sync(table: str, name: str) -> None:
        vec = vectorizer(pg, schema, gemini_emulator, store, table=table, collection="shared", name=name)
        barrier.wait()
        try:
            results.append(vec.sync())
        except ConfigurationError as exc:
            results.append(exc)

    threads = [threading.Thread(target=first_sync, args=a) for a in (("docs", "a"), ("other", "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(r).__name__ for r in results) == ["ConfigurationError", "SyncSummary"], results
    assert store.open_collection("shared").count() == 10


def test_a_pass_neither_waits_for_nor_deadlocks_with_an_application_transaction(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    """The write path's FOR SHARE waited on rows the application held, and could deadlock with it."""
    create_docs(pg_conn, schema, 20)
    vec = vectorizer(pg, schema, gemini_emulator, "memory://" + uuid.uuid4().hex[:8])
    vec.sync()
    docs = sql.Identifier(schema, "docs")
    pg_conn.execute(sql.SQL("UPDATE {} SET body = body || ' changed'").format(docs))
    with psycopg.connect(pg.url) as app:  # one transaction, held open while the pass runs
        app.execute(sql.SQL("UPDATE {} SET body = %s WHERE id = 15").format(docs), [text_of(15, 7)])
        done = threading.Event()
        outcome: list[Any] = []
        running = threading.Thread(target=lambda: (outcome.append(vec.sync(full=True)), done.set()))
        running.start()
        assert done.wait(60), "the pass waited for the application's transaction"
        app.execute(sql.SQL("UPDATE {} SET body = %s WHERE id = 3").format(docs), [text_of(3, 7)])
        app.commit()
    running.join()
    assert outcome[0].embedded == 19 and outcome[0].moved == 1  # row 15 was being written: left to it
    vec.sync()
    assert_vectors_match_rows(pg_conn, schema, vec, gemini_emulator)
