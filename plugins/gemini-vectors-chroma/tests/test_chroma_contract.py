"""The Chroma store is held to the VectorStore contract suite, on Chroma's own engine (PersistentClient)."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_chroma import ChromaStore


class TestChromaStore(VectorStoreContract):
    """Against the session's Chroma: the embedded engine on disk, or GEMINI_VECTORS_TEST_CHROMA_URL."""

    @pytest.fixture
    def store(self, chroma_store: ChromaStore) -> VectorStore:
        return chroma_store

    @pytest.fixture
    def second_store(self, chroma_url: str) -> Iterator[VectorStore]:
        with gv.connect(chroma_url) as store:
            yield store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        # the URL reaches the plugin through its entry point; never the memory:// reference store
        assert isinstance(store, ChromaStore)
        assert isinstance(gv.connect(store.url), ChromaStore)
