"""The Qdrant store is held to the VectorStore contract suite, on qdrant-client's engine (local mode)."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.index_choice import IndexChoice
from gemini_vectors.store import StoreCollection, VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_qdrant import QdrantCollection, QdrantStore


class TestQdrantStore(VectorStoreContract):
    """Against the session's Qdrant: local mode on disk, or GEMINI_VECTORS_TEST_QDRANT_URL."""

    @pytest.fixture
    def store(self, qdrant_store: QdrantStore) -> VectorStore:
        return qdrant_store

    @pytest.fixture
    def second_store(self, qdrant_url: str) -> Iterator[VectorStore]:
        with gv.connect(qdrant_url) as store:
            yield store

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


class TestQdrantStoreMatryoshka(VectorStoreContract):
    """Matryoshka two-stage search (HNSW on a 128-dim prefix named vector, prefetch re-ranked on the full
    256-dim one) must give the same answers as the plain layout: the whole suite on 256-dim vectors.

    The re-rank factor is 2 (Qdrant's default is 4) as on the other backends' Matryoshka runs: a query for 5
    re-ranks 10 of the suite's 50 ranking records, so the answers are right only if the candidates come
    from the prefix and the order from the full vector.
    """

    dimensions = 256

    @pytest.fixture
    def store(self, qdrant_url: str) -> Iterator[VectorStore]:
        with gv.connect(qdrant_url, index="mrl:128", rerank_factor=2) as store:
            assert isinstance(store, QdrantStore)
            yield store

    @pytest.fixture
    def second_store(self, qdrant_url: str) -> Iterator[VectorStore]:
        with gv.connect(qdrant_url, index="mrl:128", rerank_factor=2) as store:
            yield store

    def test_the_suite_runs_on_an_mrl_collection(self, coll: StoreCollection) -> None:
        assert isinstance(coll, QdrantCollection)
        assert (coll.index, coll.stored_plan.rerank_factor) == (IndexChoice("mrl", 128), 2)
