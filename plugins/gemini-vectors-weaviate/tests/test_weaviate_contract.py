"""The Weaviate store is held to the VectorStore contract suite, through the unmodified weaviate-client."""

from __future__ import annotations

import pytest
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_weaviate import WeaviateStore


class TestWeaviateStore(VectorStoreContract):
    """Against the session's Weaviate: the emulator, a testcontainer, or GEMINI_VECTORS_TEST_WEAVIATE_URL."""

    @pytest.fixture
    def store(self, weaviate_store: WeaviateStore) -> VectorStore:
        return weaviate_store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        assert isinstance(store, WeaviateStore)
