"""Fixtures: the Milvus the tests run on, and stores connected to it.

``milvus_url`` is ``GEMINI_VECTORS_TEST_MILVUS_URL`` when set (a ``milvus://`` or ``milvuss://`` URL of a
real server; ``MILVUS_TOKEN`` for the token), else Milvus Lite in a fresh temporary file
(``milvus+lite://``): the Milvus engine pymilvus starts in process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import gemini_vectors as gv
import pytest

from gemini_vectors_milvus import MilvusStore

URL_ENV = "GEMINI_VECTORS_TEST_MILVUS_URL"


@pytest.fixture(scope="session")
def milvus_url() -> Iterator[str]:
    """The URL of the Milvus of the session (see the module docstring)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    tmp = tempfile.mkdtemp(prefix="gv-milvustest-")
    try:
        yield f"milvus+lite://{tmp}/milvus.db"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def milvus_store(milvus_url: str) -> Iterator[MilvusStore]:
    """A store opened through ``gv.connect`` and the entry point (tests use collections of their own)."""
    store = gv.connect(milvus_url)
    assert isinstance(store, MilvusStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def on_lite(milvus_url: str) -> None:
    """Skip a test that needs Milvus Lite."""
    if not milvus_url.startswith("milvus+lite"):
        pytest.skip(f"{URL_ENV} points at a real Milvus server")
