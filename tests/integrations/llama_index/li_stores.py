"""Stores of every backend for the LlamaIndex tests (the session servers are fixtures in conftest.py).

Each store comes with the URL and options that open it again, so a test can reopen it in another process.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import gemini_vectors as gv

BACKENDS = ["memory", "postgresql", "weaviate", "pinecone"]


@dataclass
class StoreAt:
    """An open store, and how to connect to it again (``gv.connect(url, **options)``)."""

    kind: str
    store: gv.VectorStore
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """Whether another process can reach it (memory:// lives in this process only)."""
        return self.kind != "memory"


def open_store(kind: str, request: pytest.FixtureRequest) -> tuple[StoreAt, str | None]:
    """A connected store of ``kind`` and the PostgreSQL schema to drop afterwards (if any)."""
    if kind == "memory":
        url = f"memory://li-{uuid.uuid4().hex[:8]}"
        return StoreAt(kind, gv.connect(url), url), None
    if kind == "postgresql":
        schema = f"gvli_{uuid.uuid4().hex[:10]}"
        url = request.getfixturevalue("li_pg_url")
        return StoreAt(kind, gv.connect(url, schema=schema), url, {"schema": schema}), schema
    if kind == "weaviate":
        url = request.getfixturevalue("li_weaviate_url")
        return StoreAt(kind, gv.connect(url), url), None
    emu = request.getfixturevalue("li_pinecone")
    url = f"pinecone://gv-li-{uuid.uuid4().hex[:8]}?host={emu.url}"
    options = {"api_key": emu.api_key}
    return StoreAt(kind, gv.connect(url, **options), url, options), None


@contextlib.contextmanager
def store_of(kind: str, request: pytest.FixtureRequest) -> Iterator[StoreAt]:
    """A store of ``kind``; what the test created in it is dropped afterwards."""
    opened, schema = open_store(kind, request)
    before = set(opened.store.list_collections())
    try:
        yield opened
    finally:
        for name in set(opened.store.list_collections()) - before:
            with contextlib.suppress(Exception):
                opened.store.drop_collection(name)
        opened.store.close()
        if schema is not None:
            import psycopg
            from psycopg import sql

            with psycopg.connect(request.getfixturevalue("li_pg_url"), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
