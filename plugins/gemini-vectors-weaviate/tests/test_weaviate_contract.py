"""The Weaviate store is held to the VectorStore contract suite, through the unmodified weaviate-client."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.index_choice import IndexChoice
from gemini_vectors.store import StoreCollection, VectorStore
from gemini_vectors.testing.contract import VectorStoreContract

from gemini_vectors_weaviate import WeaviateCollection, WeaviateStore


class TestWeaviateStore(VectorStoreContract):
    """Against the session's Weaviate: the emulator, a testcontainer, or GEMINI_VECTORS_TEST_WEAVIATE_URL."""

    @pytest.fixture
    def store(self, weaviate_store: WeaviateStore) -> VectorStore:
        return weaviate_store

    @pytest.fixture
    def second_store(self, weaviate_url: str) -> Iterator[VectorStore]:
        with gv.connect(weaviate_url) as store:
            yield store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        assert isinstance(store, WeaviateStore)


class TestWeaviateStoreMatryoshka(VectorStoreContract):
    """Matryoshka two-stage search (HNSW on a 128-dim prefix named vector, re-ranked on the full 256-dim
    one) must give the same answers as the plain layout: the whole suite on 256-dim vectors.

    With the default re-rank factor (10) the suite's 50-record ranking test would re-rank the whole
    collection and never depend on the prefix; with 2, a query for 5 re-ranks 10 prefix candidates, so
    the answers are right only if the candidates come from the prefix and the order from the full vector.
    """

    dimensions = 256

    @pytest.fixture
    def store(self, weaviate_url: str) -> Iterator[VectorStore]:
        store = gv.connect(weaviate_url, index="mrl:128", rerank_factor=2)
        assert isinstance(store, WeaviateStore)
        try:
            yield store
        finally:
            store.close()

    @pytest.fixture
    def second_store(self, weaviate_url: str) -> Iterator[VectorStore]:
        with gv.connect(weaviate_url, index="mrl:128", rerank_factor=2) as store:
            yield store

    def test_the_suite_runs_on_an_mrl_collection(self, coll: StoreCollection) -> None:
        assert isinstance(coll, WeaviateCollection)
        assert (coll.plan.index, coll.plan.rerank_factor) == (IndexChoice("mrl", 128), 2)
