"""ORM embedding columns keep guarantee 1 (a stored vector is the vector of the content stored beside it)
and 2 (two specs never meet in one column) through rollbacks, session.merge(), a failing embedder in the
same flush, title-only edits and a change of the column's embedder.

Every check reads the row back through a fresh session and compares its vector with the one the Gemini
API emulator gives for the row's current content.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from google import genai
from psycopg import sql
from sqlalchemy import Engine, ForeignKey, MetaData, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import FlushError

from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import ArgumentError, PartialEmbeddingError, SpecMismatchError
from gemini_vectors.orm import (
    SPEC_TABLE,
    ColumnSpecMismatchError,
    embedding_column,
    query_vector,
    reembed,
    spec_table,
)
from gemini_vectors.testing.gemini_emulator import GeminiEmulator

DIMS = 768
POISON = "<<rejected by the API>>"


@pytest.fixture
def engine(pg_url: str, schema: str) -> Iterator[Engine]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, connect_args={"options": f"-c search_path={schema},public"})
    yield engine
    engine.dispose()


@pytest.fixture
def emb(gemini_client: genai.Client) -> Embedder:
    return Embedder(model="gemini-embedding-2", dimensions=DIMS, client=gemini_client, progress=False)


@pytest.fixture
def emb_001(gemini_client: genai.Client) -> Embedder:
    return Embedder(model="gemini-embedding-001", dimensions=DIMS, client=gemini_client, progress=False)


def models(emb: Embedder, note_emb: Embedder | None = None) -> Any:
    """Articles (body embedded with a title) and notes (embedded by ``note_emb``), on one Base."""

    class Base(DeclarativeBase):
        pass

    class Article(Base):
        __tablename__ = "articles"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str | None]
        body: Mapped[str | None]
        embedding = embedding_column(source="body", embedder=emb, title="title")

    class Note(Base):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
        text: Mapped[str | None]
        embedding = embedding_column(source="text", embedder=note_emb or emb)

    return Base, Article, Note


def expected(emb: Embedder, body: str | None, title: str | None = None) -> Any:
    """The emulator's vector for this content, or None for no content."""
    if not body:
        return None
    return emb.embed_documents([body], titles=None if title is None else [title])[0]


def assert_articles_fresh(engine: Engine, article: Any, emb: Embedder) -> None:
    with Session(engine) as fresh:
        rows = fresh.execute(select(article.id, article.title, article.body, article.embedding)).all()
    assert rows
    for key, title, body, stored in rows:
        want = expected(emb, body, title)
        if want is None:
            assert stored is None, key
        else:
            assert stored is not None, key
            np.testing.assert_allclose(stored, want, atol=1e-6, err_msg=f"article {key}: {title!r}/{body!r}")


def assert_notes_fresh(engine: Engine, note: Any, emb: Embedder) -> None:
    with Session(engine) as fresh:
        rows = fresh.execute(select(note.id, note.text, note.embedding)).all()
    assert rows
    for key, text, stored in rows:
        want = expected(emb, text)
        assert (stored is None) == (want is None), key
        if want is not None:
            np.testing.assert_allclose(stored, want, atol=1e-6, err_msg=f"note {key}: {text!r}")


def test_orm1_an_edit_after_an_integrity_error_and_rollback_is_embedded(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Article(id=1, title="t", body="already here"))
        session.commit()
    with Session(engine) as session:
        second = Article(id=2, title="t", body="the first draft")
        session.add_all([second, Article(id=1, title="t", body="a duplicate key")])
        with pytest.raises(IntegrityError):
            session.commit()  # embedded on flush, then the INSERT fails
        session.rollback()
        gemini_emulator.stats.reset()
        second.body = "the second draft"
        session.add(second)
        session.commit()
        assert gemini_emulator.stats.embed_requests == 1
    assert_articles_fresh(engine, Article, emb)


def test_an_unchanged_row_re_added_after_a_rollback_is_not_embedded_again(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Article(id=1, body="taken"))
        session.commit()
    with Session(engine) as session:
        kept = Article(id=2, title="t", body="kept as it is")
        session.add_all([kept, Article(id=1, body="clash")])
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        gemini_emulator.stats.reset()
        session.add(kept)
        session.commit()
        assert gemini_emulator.stats.total_calls == 0  # its vector is the one of this very content
    assert_articles_fresh(engine, Article, emb)


def test_orm2_merge_of_a_detached_row_with_new_text_is_embedded(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=1, title="t", body="old text"), Article(id=2, title="t", body="old two")])
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        detached = [session.get(Article, 1), session.get(Article, 2)]
    assert detached[0] is not None and detached[1] is not None
    detached[0].body = "new text"
    detached[1].body = "new two"
    # Meanwhile another session changes row 2: its stored vector differs from the detached copy's.
    with Session(engine) as session:
        other = session.get(Article, 2)
        assert other is not None
        other.body = "changed meanwhile"
        session.commit()
    gemini_emulator.stats.reset()
    with Session(engine) as session:
        for row in detached:
            session.merge(row)
        session.commit()
    assert gemini_emulator.stats.embed_requests == 2
    assert_articles_fresh(engine, Article, emb)


def test_a_vector_set_by_hand_is_kept_through_merge_and_new_rows(engine: Engine, emb: Embedder) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    mine = np.zeros(DIMS, dtype=np.float32)
    mine[3] = 1.0
    with Session(engine) as session:
        session.add_all([Article(id=1, body="one"), Article(id=2, body="two", embedding=mine)])
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        detached = session.get(Article, 1)
    assert detached is not None
    detached.embedding = mine.copy()
    with Session(engine) as session:
        session.merge(detached)
        session.commit()
    with Session(engine) as fresh:
        stored = {key: vector for key, vector in fresh.execute(select(Article.id, Article.embedding))}
    np.testing.assert_array_equal(stored[1], mine)
    np.testing.assert_array_equal(stored[2], mine)


def test_a_zero_vector_set_by_hand_is_refused_naming_the_row(engine: Engine, emb: Embedder) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Article(id=7, body="x", embedding=np.zeros(DIMS, dtype=np.float32)))
        with pytest.raises(ArgumentError, match=r"Article\(id=7\)\.embedding was set to a zero vector"):
            session.commit()


def test_orm3_one_failing_embedder_leaves_no_fresh_looking_vector_of_the_other(
    engine: Engine, emb: Embedder, emb_001: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, Note = models(emb, note_emb=emb_001)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        gemini_emulator.faults.reject_texts_containing = POISON
        # New rows: the session keeps them in the order added, so the articles' embedder answers first
        # and the notes' embedder is then rejected, in the same flush.
        articles = [Article(id=i, title="t", body=f"v1 {i}") for i in range(3)]
        session.add_all([*articles, Note(id=1, text=f"note v1 {POISON}")])
        with pytest.raises(PartialEmbeddingError):
            session.commit()
        assert all(a.embedding is None for a in articles)  # nothing of the failed flush is kept
        gemini_emulator.faults.reject_texts_containing = None
        next(iter(n for n in session.new if isinstance(n, Note))).text = "note v2"
        articles[0].body = "v2 0"
        session.commit()
    assert_articles_fresh(engine, Article, emb)
    assert_notes_fresh(engine, Note, emb_001)
    # The same with stored rows: the edits of the failed flush are embedded by the next one.
    with Session(engine) as session:
        article = session.get(Article, 1)
        note = session.get(Note, 1)
        assert article is not None and note is not None
        stored_before = article.embedding
        gemini_emulator.faults.reject_texts_containing = POISON
        article.body = "v3 1"
        note.text = f"note v3 {POISON}"
        with pytest.raises(PartialEmbeddingError):
            session.commit()
        assert article.embedding is stored_before
        gemini_emulator.faults.reject_texts_containing = None
        note.text = "note v4"
        article.body = "v4 1"
        session.commit()
    assert_articles_fresh(engine, Article, emb)
    assert_notes_fresh(engine, Note, emb_001)


def test_orm4_changing_only_the_title_embeds_again(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Article(id=1, title="Old title", body="the same body"))
        session.commit()
        first = session.execute(select(Article.embedding)).scalar_one()
        gemini_emulator.stats.reset()
        found = session.get(Article, 1)
        assert found is not None
        found.title = "A new title"
        session.commit()
        assert gemini_emulator.stats.embed_requests == 1
    assert_articles_fresh(engine, Article, emb)
    with Session(engine) as fresh:
        assert not np.allclose(fresh.execute(select(Article.embedding)).scalar_one(), first)


def test_orm7_nearest_refuses_a_zero_query_vector_and_scales_others(emb: Embedder) -> None:
    _, Article, _ = models(emb)
    with pytest.raises(ArgumentError, match="zero query vector"):
        Article.embedding.nearest(np.zeros(DIMS, dtype=np.float32))
    with pytest.raises(ArgumentError, match="NaN or infinite"):
        Article.embedding.nearest(np.full(DIMS, np.inf, dtype=np.float32))
    # Huge and tiny (subnormal) vectors would overflow or underflow float4 norms in the database.
    direction = np.random.default_rng(7).standard_normal(DIMS).astype(np.float32)
    for scale in (1e30, 1e-40):
        scaled = query_vector(direction * np.float32(scale), DIMS)
        assert np.isfinite(scaled).all()
        np.testing.assert_allclose(np.linalg.norm(scaled), 1.0, rtol=1e-5)
        np.testing.assert_allclose(scaled, direction / np.linalg.norm(direction), atol=1e-3)


def test_n7_a_new_embedder_on_the_same_column_is_refused_until_reembedded(
    engine: Engine, emb: Embedder, emb_001: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=i, title=f"t{i}", body=f"body {i}") for i in range(5)])
        session.add(Article(id=9))  # no content: NULL
        session.commit()
    # The same table, now declared with gemini-embedding-001 at the same 768 dimensions.
    _, Article001, _ = models(emb_001)
    gemini_emulator.stats.reset()
    with Session(engine) as session:
        session.add(Article001(id=5, body="a new row"))
        with pytest.raises(ColumnSpecMismatchError) as info:
            session.commit()
        assert isinstance(info.value, SpecMismatchError)
        message = str(info.value)
        assert "articles.embedding" in message and "gemini-embedding-2/768" in message
        assert "gemini-embedding-001/768" in message and "reembed(session, Article.embedding)" in message
        assert gemini_emulator.stats.total_calls == 0  # refused before anything was paid for
    with Session(engine) as session:
        assert reembed(session, Article001.embedding, batch_size=2) == 5
        session.commit()
    assert_articles_fresh(engine, Article001, emb_001)
    with Session(engine) as session:
        one = session.get(Article, 1)
        assert one is not None
        one.body = "written under the old spec"
        with pytest.raises(ColumnSpecMismatchError, match="gemini-embedding-001/768"):
            session.commit()
        session.rollback()
        # A query of the column with the old embedder would compare two spaces: refused before the
        # query text is embedded.
        gemini_emulator.stats.reset()
        for query in ("shoes", np.ones(DIMS, dtype=np.float32)):
            with pytest.raises(ColumnSpecMismatchError, match="holds vectors of gemini-embedding-001/768"):
                session.scalars(select(Article.id).order_by(Article.embedding.nearest(query)).limit(3)).all()
        assert gemini_emulator.stats.total_calls == 0
    with engine.connect() as conn:
        recorded = conn.exec_driver_sql(f"SELECT table_name, column_name FROM {SPEC_TABLE}").all()
    assert recorded == [("articles", "embedding")]  # one row per column written, with the new spec


def test_reembed_refuses_what_is_not_an_embedding_column(engine: Engine, emb: Embedder) -> None:
    _, Article, _ = models(emb)
    with Session(engine) as session:
        with pytest.raises(ArgumentError, match="mapped embedding column"):
            reembed(session, Article.body)
        with pytest.raises(ArgumentError, match="batch_size"):
            reembed(session, Article.embedding, batch_size=0)


@pytest.mark.filterwarnings("ignore:New instance .* conflicts with persistent instance")  # the clash we make
@pytest.mark.parametrize("seed", range(3))
def test_random_sessions_end_with_every_vector_fresh(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator, seed: int
) -> None:
    """Random edits of bodies and titles, failed flushes (a rejected text, a duplicate key) with and
    without rollback, merges of detached copies: at the end every stored vector is the one of its row.
    """
    rng = random.Random(seed)
    Base, Article, _ = models(emb)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=i, title=f"t{i}", body=f"b{i}") for i in range(6)])
        session.commit()
    detached: list[Any] = []
    for step in range(25):
        with Session(engine, expire_on_commit=False) as session:
            rows = list(session.scalars(select(Article).order_by(Article.id)))
            for row in rng.sample(rows, 2):
                if rng.random() < 0.5:
                    row.body = None if rng.random() < 0.1 else f"body {step} {rng.random():.3f}"
                else:
                    row.title = f"title {step}"
            for copy in detached:
                copy.body = f"merged {step}"
                session.merge(copy)
            detached = []
            fault = rng.choice(["none", "poison", "duplicate"])
            if fault == "poison":
                gemini_emulator.faults.reject_texts_containing = POISON
                session.add(Article(id=100 + step, body=f"x {POISON}"))
            elif fault == "duplicate":
                session.add(Article(id=rng.randrange(6), body=f"clash {step}"))
            try:
                session.commit()
            except (PartialEmbeddingError, IntegrityError, FlushError):
                gemini_emulator.faults.reject_texts_containing = None
                if rng.random() < 0.5:
                    session.rollback()
                else:  # keep going in the same session: drop the bad row, touch another, commit
                    for bad in list(session.new):
                        session.expunge(bad)
                    failed = session.get_transaction()
                    if failed is not None and not failed.is_active:  # the flush itself failed
                        session.rollback()
                    rows[0].body = f"after failure {step}"
                    session.commit()
            if rng.random() < 0.3:
                detached = [rows[rng.randrange(len(rows))]]
                session.expunge(detached[0])
    assert_articles_fresh(engine, Article, emb)


# -- the spec registry under concurrency and failure (guarantee 2) ------------------------------------------


def wait_until_blocked_or_done(pg_url: str, worker: threading.Thread) -> None:
    """Return once ``worker`` waits on a lock in the database, or has finished (a sync point, no timing)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while worker.is_alive():
            waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            if waiting is not None and waiting[0] > 0:
                return
            assert time.monotonic() < deadline, "the worker neither finished nor waited on a lock"
            time.sleep(0.02)


def in_thread(work: Callable[[], None]) -> tuple[threading.Thread, dict[str, BaseException | None]]:
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            work()
            outcome["error"] = None
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def recorded_model(engine: Engine) -> str:
    with engine.connect() as conn:
        spec = conn.exec_driver_sql(f"SELECT spec FROM {SPEC_TABLE}").scalar_one()
    return str(json.loads(spec)["model"])


def test_a_writer_of_the_old_spec_waits_for_a_running_reembed_and_is_then_refused(
    engine: Engine, pg_url: str, emb: Embedder, emb_001: Embedder
) -> None:
    Base, Article001, _ = models(emb_001)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article001(id=i, title="t", body=f"doc {i}") for i in range(1, 4)])
        session.commit()
    _, Article, _ = models(emb)
    reembedding = Session(engine)
    try:
        assert reembed(reembedding, Article.embedding) == 3  # not committed yet

        def old_app_writes() -> None:  # a process still running the old embedder
            with Session(engine) as session:
                session.add(Article001(id=0, title="t", body="written by the old app during the reembed"))
                session.commit()

        writer, outcome = in_thread(old_app_writes)
        wait_until_blocked_or_done(pg_url, writer)
        reembedding.commit()
    finally:
        reembedding.close()
    writer.join(60)
    assert isinstance(outcome["error"], ColumnSpecMismatchError), outcome
    assert "gemini-embedding-2/768" in str(outcome["error"])
    assert recorded_model(engine) == "gemini-embedding-2"
    assert_articles_fresh(engine, Article, emb)  # every row of the new spec, none of the old


def test_a_failed_reembed_leaves_the_column_and_its_spec_as_they_were(
    engine: Engine, emb: Embedder, emb_001: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Base, Article001, _ = models(emb_001)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [Article001(id=i, body=(f"{POISON} " if i == 4 else "") + f"doc {i}") for i in range(1, 5)]
        )
        session.commit()
    _, Article, _ = models(emb)
    gemini_emulator.faults.reject_texts_containing = POISON
    with Session(engine) as session:
        with pytest.raises(PartialEmbeddingError):
            reembed(session, Article.embedding, batch_size=2)  # page 1 flushed, page 2 rejected
        session.commit()  # the app commits its other work
    gemini_emulator.faults.reject_texts_containing = None
    assert recorded_model(engine) == "gemini-embedding-001"
    assert_articles_fresh(engine, Article001, emb_001)  # wholly old
    with Session(engine) as session:
        assert reembed(session, Article.embedding, batch_size=2) == 4
        session.commit()
    assert recorded_model(engine) == "gemini-embedding-2"
    assert_articles_fresh(engine, Article, emb)


def test_one_apps_drop_all_keeps_the_registry_another_apps_column_relies_on(
    engine: Engine, emb: Embedder, emb_001: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    BaseA, Article, _ = models(emb_001)

    def other_app(embedder: Embedder) -> Any:
        class Base(DeclarativeBase):
            pass

        class Page(Base):
            __tablename__ = "pages"
            id: Mapped[int] = mapped_column(primary_key=True)
            body: Mapped[str | None]
            embedding = embedding_column(source="body", embedder=embedder)

        return Base, Page

    BaseB, Page001 = other_app(emb_001)
    BaseA.metadata.create_all(engine)
    BaseB.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=1, body="a"), Page001(id=1, body="b")])
        session.commit()
    BaseA.metadata.drop_all(engine)  # app A's reset
    _, Page = other_app(emb)  # app B switches model at the same dimensions
    gemini_emulator.stats.reset()
    with Session(engine) as session:
        session.add(Page(id=2, body="b two"))
        with pytest.raises(ColumnSpecMismatchError, match="gemini-embedding-001/768"):
            session.commit()
    assert gemini_emulator.stats.total_calls == 0


@pytest.mark.parametrize("registry", ["missing", "present without the row"])
@pytest.mark.parametrize("second", ["same spec", "other spec"])
def test_two_first_writes_at_once_both_land_or_the_second_is_refused_by_spec(
    engine: Engine, pg_url: str, emb: Embedder, emb_001: Embedder, registry: str, second: str
) -> None:
    _, Article, _ = models(emb)
    Article.__table__.create(engine)  # the app made its table alone (a hand-written migration)
    if registry != "missing":
        spec_table(MetaData()).create(engine)
    _, Article001, _ = models(emb_001)
    model = Article if second == "same spec" else Article001
    first = Session(engine)
    try:
        first.add(Article(id=1, body="from the first process"))
        first.flush()  # its first write, not committed yet

        def second_process() -> None:
            with Session(engine) as session:
                session.add(model(id=2, body="from the second process"))
                session.commit()

        writer, outcome = in_thread(second_process)
        wait_until_blocked_or_done(pg_url, writer)
        first.commit()
    finally:
        first.close()
    writer.join(60)
    if second == "same spec":
        assert outcome["error"] is None, outcome
    else:
        assert isinstance(outcome["error"], ColumnSpecMismatchError), outcome
    assert recorded_model(engine) == "gemini-embedding-2"
    assert_articles_fresh(engine, Article, emb)


HALF = 2048  # above 2,000 dims: HALFVEC


def test_a_hand_set_vector_is_stored_at_unit_length_and_odd_arrays_are_refused(
    engine: Engine, gemini_client: genai.Client
) -> None:
    wide = Embedder(model="gemini-embedding-2", dimensions=HALF, client=gemini_client, progress=False)

    class Base(DeclarativeBase):
        pass

    class Doc(Base):
        __tablename__ = "docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        body: Mapped[str | None]
        embedding = embedding_column(source="body", embedder=wide)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        # float32 keeps 1e-9 but half precision rounds it to 0; 1e6 overflows half precision.
        session.add_all(
            [
                Doc(id=1, body="tiny", embedding=np.full(HALF, 1e-9, dtype=np.float32)),
                Doc(id=2, body="huge", embedding=np.full(HALF, 1e6, dtype=np.float32)),
            ]
        )
        session.commit()
    with Session(engine) as session:
        distances: dict[int, float] = dict(
            session.execute(select(Doc.id, Doc.embedding.nearest(np.ones(HALF)))).tuples().all()
        )
        for stored in session.scalars(select(Doc.embedding)):
            np.testing.assert_allclose(np.linalg.norm(stored.astype(np.float64)), 1.0, rtol=1e-3)
    assert set(distances) == {1, 2}
    assert all(np.isfinite(d) and abs(d) < 1e-3 for d in distances.values()), distances
    for odd, kind in [
        (np.ones(HALF, dtype=np.complex64), "complex"),
        (np.array(["1"] * HALF), "<U1"),
        (["1"] * HALF, "str"),
        ([True] * HALF, "bool"),
    ]:
        with Session(engine) as session:
            session.add(Doc(id=3, body="odd", embedding=odd))
            with pytest.raises(
                ArgumentError, match=rf"Doc\(id=3\)\.embedding must hold real numbers, not {kind}"
            ):
                session.commit()
        with pytest.raises(ArgumentError, match=f"query vector must hold real numbers, not {kind}"):
            Doc.embedding.nearest(odd)
