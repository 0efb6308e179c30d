"""`gemini-vectors search --collection C` follows the alias of the sync job that keeps C: after a reembed
it searches the new collection, and after --drop-old it still works."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from sync_helpers import Pg, create_docs, text_of

from gemini_vectors.cli import main
from gemini_vectors.testing import GeminiEmulator


def _search(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["search", text_of(7), "--collection", "docs", "-k", "1", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _sync_then_reembed(
    pg: Pg, schema: str, store: str, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], list[str]]:
    source = ["--source", pg.sqlalchemy_url, "--state-schema", schema]
    sync = ["sync", *source, "--table", f"{schema}.docs", "--columns", "body", "--collection", "docs",
            "--store", store, "--dimensions", "128", "--quiet"]  # fmt: skip
    assert main(sync) == 0
    capsys.readouterr()
    first = _search(capsys, *source)
    assert first["physical"] == "docs" and first["results"][0]["id"] == "7"
    reembed = ["reembed", *source, "--collection", "docs", "--store", store, "--quiet"]
    assert main([*reembed, "--dimensions", "256"]) == 0
    capsys.readouterr()
    return source, reembed


def test_search_follows_the_sync_alias_through_reembed_and_drop_old(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_docs(pg_conn, schema, 20)
    # named: every main() below opens the same in-process store
    source, reembed = _sync_then_reembed(pg, schema, f"memory://alias-{uuid.uuid4().hex[:8]}", capsys)
    # --source without --store: the store the job recorded
    after = _search(capsys, *source)
    assert after["physical"] == "docs_v2" and after["results"][0]["id"] == "7"
    assert main([*reembed, "--drop-old"]) == 0
    capsys.readouterr()
    assert _search(capsys, *source)["results"][0]["id"] == "7"
    assert main(["search", "x", "--collection", "docs", *source]) == 0
    assert "'docs' is 'docs_v2' (gemini-embedding-2/256" in capsys.readouterr().err


def test_search_finds_the_alias_in_the_store_database_without_source(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """When the table and the vectors share a PostgreSQL database, --store alone finds the sync state."""
    create_docs(pg_conn, schema, 20)
    store = f"{pg.url}&schema={schema}_store"
    _sync_then_reembed(pg, schema, store, capsys)
    assert _search(capsys, "--store", store, "--state-schema", schema)["physical"] == "docs_v2"


def test_a_synced_collection_missing_from_the_store_searched_says_where_it_is(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_docs(pg_conn, schema, 3)
    source = ["--source", pg.sqlalchemy_url, "--state-schema", schema]
    store = f"memory://kept-{uuid.uuid4().hex[:8]}"
    assert main(["sync", *source, "--table", f"{schema}.docs", "--collection", "docs", "--store", store,
                 "--dimensions", "128", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["search", "x", "--collection", "docs", *source, "--store", "memory://elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "sync job 'docs' keeps collection 'docs' as 'docs', which is not in" in err and "--store" in err
