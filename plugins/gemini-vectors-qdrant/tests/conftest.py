"""Fixtures: the Qdrant the tests run on, and stores connected to it.

``qdrant_url`` is ``GEMINI_VECTORS_TEST_QDRANT_URL`` when set (a ``qdrant://`` or ``qdrants://`` URL of a
real server; ``QDRANT_API_KEY`` for the key), else qdrant-client's local mode persisted in a fresh
temporary directory (``qdrant+local://``): the same engine code qdrant-client ships, in process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import gemini_vectors as gv
import pytest

from gemini_vectors_qdrant import QdrantStore

URL_ENV = "GEMINI_VECTORS_TEST_QDRANT_URL"


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str]:
    """The URL of the Qdrant of the session (see the module docstring)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    tmp = tempfile.mkdtemp(prefix="gv-qdranttest-")
    try:
        yield f"qdrant+local://{tmp}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def qdrant_store(qdrant_url: str) -> Iterator[QdrantStore]:
    """A store opened through ``gv.connect`` and the entry point (tests use collections of their own)."""
    store = gv.connect(qdrant_url)
    assert isinstance(store, QdrantStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def on_local_mode(qdrant_url: str) -> None:
    """Skip a test that needs local mode (it inspects what a server would not show)."""
    if not qdrant_url.startswith("qdrant+"):
        pytest.skip(f"{URL_ENV} points at a real Qdrant server")
