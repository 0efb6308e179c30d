"""Fixtures: the Chroma the tests run on, and stores connected to it.

``chroma_url`` is ``GEMINI_VECTORS_TEST_CHROMA_URL`` when set (a ``chroma+http://`` or ``chroma+https://``
URL of a real server; ``CHROMA_API_KEY`` for the token), else Chroma's embedded engine
(``PersistentClient``) on a fresh temporary directory (``chroma://``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import gemini_vectors as gv
import pytest

from gemini_vectors_chroma import ChromaStore

URL_ENV = "GEMINI_VECTORS_TEST_CHROMA_URL"


@pytest.fixture(scope="session")
def chroma_url() -> Iterator[str]:
    """The URL of the Chroma of the session (see the module docstring)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    tmp = tempfile.mkdtemp(prefix="gv-chromatest-")
    try:
        yield f"chroma://{tmp}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def chroma_store(chroma_url: str) -> Iterator[ChromaStore]:
    """A store opened through ``gv.connect`` and the entry point (tests use collections of their own)."""
    store = gv.connect(chroma_url)
    assert isinstance(store, ChromaStore)
    try:
        yield store
    finally:
        store.close()
