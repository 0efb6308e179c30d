"""Rows into items: text, bytea sniffed into media parts, file paths, interleaved items, keys, dry runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sync_helpers import Pg, fast_embedder

import gemini_vectors as gv
from gemini_vectors.cli import main
from gemini_vectors.content import part_from_bytes
from gemini_vectors.spec import Modality
from gemini_vectors.sync import Vectorizer
from gemini_vectors.sync.pricing import PRICES_AS_OF, estimate_cost, price_for
from gemini_vectors.sync.source import ColumnSpec, SourceTable
from gemini_vectors.testing import GeminiEmulator
from tests import media


def test_column_specs() -> None:
    assert ColumnSpec.parse("body") == ColumnSpec("body", "auto")
    assert ColumnSpec.parse("photo:bytes") == ColumnSpec("photo", "bytes")
    assert ColumnSpec.parse("scan:path") == ColumnSpec("scan", "path")
    assert str(ColumnSpec("scan", "path")) == "scan:path"
    with pytest.raises(gv.ConfigurationError, match="kind must be one of"):
        ColumnSpec.parse("photo:jpeg")
    with pytest.raises(gv.ConfigurationError, match="no column name"):
        ColumnSpec.parse(":text")


def test_bytes_are_sniffed_into_parts() -> None:
    assert isinstance(part_from_bytes(media.png()), gv.Image)
    assert isinstance(part_from_bytes(media.pdf(1)), gv.PDF)
    assert isinstance(part_from_bytes(media.wav(1.0)), gv.Audio)
    assert part_from_bytes(b"plain words") == gv.Text("plain words")
    # a GIF is an image the model refuses: check_item names it; bytes of no medium fail at once
    assert part_from_bytes(media.gif()).mime_type == "image/gif"
    with pytest.raises(gv.UnsupportedMediaError, match="column 'sheet' holds application/vnd"):
        part_from_bytes(media.docx(), where="column 'sheet'")


def test_bytea_rows_become_interleaved_items(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    table = sql.Identifier(schema, "products")
    pg_conn.execute(
        sql.SQL("CREATE TABLE {} (sku text PRIMARY KEY, caption text, photo bytea, sheet bytea)").format(
            table
        )
    )
    red = media.png(rgb=(220, 10, 10))
    sheet = media.pdf(2)
    rows = [
        ("a-1", "a red square", red, None),  # text + image: one interleaved item
        ("b-2", None, None, sheet),  # a PDF alone
        ("c-3", "  ", None, None),  # nothing to embed
        ("d-4", "an animation", media.gif(), None),  # unsupported media: the row fails, others go on
        ("e-5", "caption only", None, None),
    ]
    with pg_conn.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(table), rows)
    emb = fast_embedder(gemini_emulator)
    vec = Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.products",
        id_column="sku",
        columns=["caption", "photo", "sheet"],
        store="memory://",
        embedder=emb,
        state_schema=schema,
        page_size=2,
        progress=False,
    )
    assert [str(c) for c in vec.source.columns] == ["caption:text", "photo:bytes", "sheet:bytes"]

    estimate = vec.estimate()
    assert (estimate.to_embed, estimate.failed, estimate.skipped) == (3, 1, 1)
    assert set(estimate.cost.tokens_by_modality) == {"text", "image", "pdf"}
    assert estimate.cost.tokens_by_modality["pdf"] == 2 * 258
    expected = sum(n * price_for(emb.model, m) / 1e6 for m, n in estimate.cost.tokens_by_modality.items())
    assert estimate.cost.cost == pytest.approx(expected)

    summary = vec.sync()
    assert (summary.embedded, summary.failed, summary.skipped) == (3, 1, 1)
    assert gemini_emulator.stats.embed_requests == 3  # one request per row, media and all
    coll = vec.collection()
    assert set(coll.ids()) == {"a-1", "b-2", "e-5"}
    together = emb.embed_documents([gv.Item(["a red square", gv.Image(red)])])[0]
    assert float(coll.get(["a-1"])[0].vector @ together) > 0.99999
    errors = vec.state.list_errors(vec.job)
    assert [e.row_id for e in errors] == ["d-4"] and "image/gif" in errors[0].reason

    # a row whose content columns all become empty keeps no vector
    pg_conn.execute(sql.SQL("UPDATE {} SET caption = NULL, photo = NULL WHERE sku = 'a-1'").format(table))
    again = vec.sync()
    assert (again.embedded, again.deleted, again.skipped) == (0, 1, 2)
    assert set(coll.ids()) == {"b-2", "e-5"}


def test_path_columns_read_files_and_follow_their_content(
    tmp_path: Path, gemini_emulator: GeminiEmulator
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    media.write(files, "one.png", media.png(rgb=(1, 2, 3)))
    media.write(files, "two.pdf", media.pdf(1))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scans (id INTEGER PRIMARY KEY, title TEXT, file TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO scans VALUES (1, 'first', 'one.png'), (2, 'second', 'two.pdf'), "
            "(3, 'third', 'missing.png')"
        )
    vec = Vectorizer(
        engine,
        "scans",
        columns=["title", "file:path"],
        store="memory://",
        embedder=fast_embedder(gemini_emulator),
        path_root=files,
        progress=False,
    )
    first = vec.sync()
    assert (first.embedded, first.failed) == (2, 1)
    assert "missing.png" in vec.state.list_errors(vec.job)[0].reason
    # the file's bytes are the content: a changed file is embedded again, an unchanged one is not
    media.write(files, "one.png", media.png(rgb=(9, 9, 9)))
    gemini_emulator.stats.reset()
    second = vec.sync()
    assert (second.embedded, second.unchanged, second.failed) == (1, 1, 1)
    assert gemini_emulator.stats.embed_requests == 1  # the missing file never reaches the API


def test_metadata_changes_alone_update_without_embedding(
    tmp_path: Path, gemini_emulator: GeminiEmulator
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, price NUMERIC, tags TEXT)"
        )
        conn.exec_driver_sql("INSERT INTO docs VALUES (1, 'a', 1.5, 'x'), (2, 'b', 2.5, NULL)")
    vec = Vectorizer(
        engine,
        "docs",
        columns=["body"],
        metadata_columns=["price", "tags"],
        store="memory://",
        embedder=fast_embedder(gemini_emulator),
        progress=False,
    )
    vec.sync()
    assert dict(vec.collection().get(["2"])[0].metadata) == {"price": 2.5}  # NULL leaves the key out
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE docs SET price = 3.0 WHERE id = 2")
    gemini_emulator.stats.reset()
    summary = vec.sync()
    assert (summary.embedded, summary.unchanged) == (0, 2)
    assert gemini_emulator.stats.total_calls == 0
    assert dict(vec.collection().get(["2"])[0].metadata) == {"price": 3.0}


@pytest.mark.parametrize("key_type", ["uuid", "text"])
def test_uuid_and_text_keys_page_and_delete(
    key_type: str, pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    table = sql.Identifier(schema, "notes")
    pg_conn.execute(sql.SQL("CREATE TABLE {} (k {} PRIMARY KEY, body text)").format(table, sql.SQL(key_type)))
    keys = [str(uuid.uuid4()) if key_type == "uuid" else f"note/{i:03d} é" for i in range(11)]
    with pg_conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(table),
            [(k, f"note {i}") for i, k in enumerate(keys)],
        )
    vec = Vectorizer(
        pg.sqlalchemy_url,
        f"{schema}.notes",
        id_column="k",
        store="memory://",
        embedder=fast_embedder(gemini_emulator),
        state_schema=schema,
        page_size=3,
        progress=False,
    )
    assert vec.sync().embedded == 11
    assert set(vec.collection().ids()) == set(keys)
    pg_conn.execute(sql.SQL("DELETE FROM {} WHERE k = %s").format(table), [keys[4]])
    assert vec.sync().deleted == 1


def test_prices() -> None:
    assert price_for("gemini-embedding-2", "text") == 0.20
    assert price_for("gemini-embedding-2", "text", batch=True) == 0.10
    assert price_for("gemini-embedding-2", "video") == 12.00
    assert price_for("models/gemini-embedding-001", "text") == 0.15
    tokens: dict[Modality, int] = {"text": 2_000_000, "audio": 1_000_000}
    est = estimate_cost(tokens, "gemini-embedding-2", items=3, batch=True)
    assert est.cost == pytest.approx(2 * 0.10 + 6.50 / 2)
    assert any(PRICES_AS_OF in line for line in est.lines())
    with pytest.raises(gv.ConfigurationError, match="no price for image"):
        price_for("gemini-embedding-001", "image")


def test_cli_dry_run_then_sync(
    tmp_path: Path, gemini_env: GeminiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute(
            sa.text("INSERT INTO docs VALUES (:i, :b)"), [{"i": i, "b": f"text {i}"} for i in range(20)]
        )
    args = ["sync", "--source", url, "--table", "docs", "--store", f"memory://cli-{uuid.uuid4().hex[:6]}",
            "--model", "gemini-embedding-2", "--dimensions", "128", "--quiet"]  # fmt: skip
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would embed 20" in out and "text" in out and "USD" in out
    assert gemini_env.stats.total_calls == 0
    assert main(args) == 0
    assert "embedded 20, unchanged 0, deleted 0, failed 0" in capsys.readouterr().out
    assert main(args) == 0
    assert "embedded 0, unchanged 20" in capsys.readouterr().out


def _job_row(url: str, job: str = "docs") -> tuple[Any, ...]:
    with sa.create_engine(url).connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT source_table, config, fingerprint, store_url "
                "FROM gemini_vectors_sync_jobs WHERE job = :j"
            ),
            {"j": job},
        ).one()
    return tuple(row)


def test_cli_options_left_out_come_from_the_recorded_job(
    tmp_path: Path, gemini_env: GeminiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, note TEXT, tag TEXT)")
        conn.execute(
            sa.text("INSERT INTO docs VALUES (:i, :b, :n, :t)"),
            [{"i": i, "b": f"text {i}", "n": f"note {i}", "t": f"tag{i % 3}"} for i in range(20)],
        )
    store = f"memory://recorded-{uuid.uuid4().hex[:6]}"
    source = ["--source", url, "--quiet"]
    first = ["sync", *source, "--table", "docs", "--columns", "body", "--metadata-columns", "tag",
             "--store", store, "--model", "gemini-embedding-2", "--dimensions", "128"]  # fmt: skip
    assert main(first) == 0
    assert "embedded 20" in capsys.readouterr().out
    recorded = _job_row(url)
    assert recorded[3] == store

    # --status and --retry-errors with only the source and the table: they read the job, never rewrite it
    assert main(["sync", *source, "--table", "docs", "--status"]) == 0
    assert main(["sync", *source, "--table", "docs", "--retry-errors"]) == 0
    capsys.readouterr()
    assert _job_row(url) == recorded
    # a plain sync takes the recorded store, columns and metadata: nothing to embed, no full re-read
    assert main(["sync", *source, "--table", "main.docs"]) == 0  # the default schema spelled out
    assert "embedded 0, unchanged 20, deleted 0, failed 0" in capsys.readouterr().out
    assert _job_row(url)[1:] == recorded[1:]
    coll = gv.connect(store).collection("docs", create=False)
    assert coll.get(["3"], include_vectors=False)[0].metadata == {"tag": "tag0"}

    # reembed without --store rebuilds in the job's store, and the alias there follows
    assert main(["reembed", *source, "--collection", "docs", "--dimensions", "256"]) == 0
    capsys.readouterr()
    with Vectorizer(url, "docs", store=store) as vec:
        assert vec.collection().spec.dimensions == 256 and vec.collection().count() == 20


def test_a_redacted_store_url_must_be_given_again() -> None:
    import argparse

    from gemini_vectors.cli.sync import store_for_job
    from gemini_vectors.spec import EmbeddingSpec
    from gemini_vectors.sync.state import JobRecord

    def record(store_url: str) -> JobRecord:
        spec = EmbeddingSpec.for_model("gemini-embedding-2", 128)
        return JobRecord("docs", "public.docs", {}, "f", store_url, "docs", "docs", spec, None, None, None)

    none = argparse.Namespace(store=None)
    with pytest.raises(gv.ConfigurationError, match="password is not recorded: pass that store with --store"):
        store_for_job(none, record("postgresql://app:***@db/shop"))
    assert store_for_job(none, record("postgresql://app@db/shop")) == "postgresql://app@db/shop"
    assert store_for_job(none, record("postgresql+embedded:// (/home/me/.local/share/pg)")) is None
    given = argparse.Namespace(store="postgresql://app:secret@db/shop")
    assert store_for_job(given, record("postgresql://app:***@db/shop")) == "postgresql://app:secret@db/shop"


def test_the_id_column_must_be_a_unique_key(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pairs (a INTEGER, b INTEGER, body TEXT, PRIMARY KEY (a, b))")
        conn.exec_driver_sql("CREATE TABLE coded (id INTEGER PRIMARY KEY, code TEXT UNIQUE, body TEXT)")
        conn.exec_driver_sql("CREATE TABLE indexed (id INTEGER PRIMARY KEY, code TEXT, body TEXT)")
        conn.exec_driver_sql("CREATE UNIQUE INDEX indexed_code ON indexed (code)")
        conn.exec_driver_sql("CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, body TEXT)")
        conn.exec_driver_sql("CREATE VIEW v AS SELECT code, body FROM coded")
    # paging by a column that repeats would skip the rows that share a value across a page boundary
    with pytest.raises(
        gv.ConfigurationError, match=r"'a' of 'pairs' is not unique: the primary key is \(a, b\)"
    ):
        SourceTable(engine, "pairs", "a", ["body"])
    with pytest.raises(gv.ConfigurationError, match="'code' of 'loose' is not unique"):
        SourceTable(engine, "loose", "code", ["body"])
    for table in (
        "coded",
        "indexed",
        "v",
    ):  # a unique constraint or index; a view cannot tell, and is trusted
        assert SourceTable(engine, table, "code", ["body"]).id_column == "code"


def test_cli_reports_a_database_it_cannot_open_without_a_traceback(
    tmp_path: Path, gemini_env: GeminiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
    assert main(["sync", "--source", url, "--table", "docs", "--store", "memory://", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gemini-vectors: error: ") and "unable to open database file" in err
