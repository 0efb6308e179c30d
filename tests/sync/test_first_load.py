"""A first sync pass into an empty pgvector collection defers the vector index; later passes do not."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from sync_helpers import Pg, create_docs
from test_sync import make_vectorizer

import gemini_vectors as gv
from gemini_vectors.plugins import store_schemes
from gemini_vectors.testing import GeminiEmulator

pytestmark = pytest.mark.skipif("postgresql" not in store_schemes(), reason="needs the pgvector plugin")


def test_the_first_pass_builds_the_index_once_and_incremental_passes_keep_it(
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_docs(pg_conn, schema, 1200)
    store = gv.connect(pg.url, schema=f"{schema}_store", defer_index_min_rows=1000)
    try:
        vec = make_vectorizer(pg, schema, store, gemini_emulator)
        with caplog.at_level(logging.INFO, logger="gemini_vectors_pgvector.store"):
            assert vec.sync().embedded == 1200
        said = [r.getMessage() for r in caplog.records]
        assert any("deferred for a load of 1200" in m for m in said), said
        assert sum("built the hnsw index" in m for m in said) == 1, said
        backend = vec.collection().backend
        assert backend.index_ready()  # type: ignore[attr-defined]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gemini_vectors_pgvector.store"):
            assert vec.sync().unchanged == 1200
        assert not any("deferred" in r.getMessage() for r in caplog.records)
        assert backend.index_ready()  # type: ignore[attr-defined]
    finally:
        store.close()
