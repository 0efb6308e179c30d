"""The Qdrant store is held to the VectorStore contract suite, on qdrant-client's engine (local mode)."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_qdrant import QdrantStore


class TestQdrantStore(VectorStoreContract):
    """Against the session's Qdrant: local mode on disk, or GEMINI_VECTORS_TEST_QDRANT_URL."""

    @pytest.fixture
    def store(self, qdrant_store: QdrantStore) -> VectorStore:
        return qdrant_store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        # the URL reaches the plugin through its entry point; never the memory:// reference store
        assert isinstance(store, QdrantStore)


class TestQdrantMemoryStore(VectorStoreContract):
    """The same suite on ``qdrant+memory://`` (local mode without a directory)."""

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        with gv.connect("qdrant+memory://") as store:
            assert isinstance(store, QdrantStore)
            yield store
