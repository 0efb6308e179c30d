"""Stores of every backend for the LangChain tests (the session servers are fixtures in conftest.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

import gemini_vectors as gv

BACKENDS = ["memory", "postgresql", "weaviate", "pinecone"]


def open_store(kind: str, request: pytest.FixtureRequest) -> tuple[gv.VectorStore, str | None]:
    """A connected store of ``kind`` and the PostgreSQL schema to drop afterwards (if any)."""
    if kind == "memory":
        return gv.connect(f"memory://lc-{uuid.uuid4().hex[:8]}"), None
    if kind == "postgresql":
        schema = f"gvlc_{uuid.uuid4().hex[:10]}"
        return gv.connect(request.getfixturevalue("lc_pg_url"), schema=schema), schema
    if kind == "weaviate":
        return gv.connect(request.getfixturevalue("lc_weaviate_url")), None
    emu = request.getfixturevalue("lc_pinecone")
    index = f"gv-lc-{uuid.uuid4().hex[:8]}"
    return gv.connect(f"pinecone://{index}?host={emu.url}", api_key=emu.api_key), None


@contextlib.contextmanager
def store_of(kind: str, request: pytest.FixtureRequest) -> Iterator[gv.VectorStore]:
    """A store of ``kind``; what the test created in it is dropped afterwards."""
    opened, schema = open_store(kind, request)
    before = set(opened.list_collections())
    try:
        yield opened
    finally:
        for name in set(opened.list_collections()) - before:
            with contextlib.suppress(Exception):
                opened.drop_collection(name)
        opened.close()
        if schema is not None:
            import psycopg
            from psycopg import sql

            with psycopg.connect(request.getfixturevalue("lc_pg_url"), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
