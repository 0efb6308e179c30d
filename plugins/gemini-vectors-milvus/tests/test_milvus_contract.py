"""The Milvus store is held to the VectorStore contract suite, on Milvus Lite (the Milvus engine)."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_milvus import MilvusStore


class TestMilvusStore(VectorStoreContract):
    """Against the session's Milvus: Milvus Lite in a file, or GEMINI_VECTORS_TEST_MILVUS_URL."""

    @pytest.fixture
    def store(self, milvus_store: MilvusStore) -> VectorStore:
        return milvus_store

    @pytest.fixture
    def second_store(self, milvus_url: str) -> Iterator[VectorStore]:
        with gv.connect(milvus_url) as store:
            yield store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        # the URL reaches the plugin through its entry point; never the memory:// reference store
        assert isinstance(store, MilvusStore)
