"""The pgvector store is held to the VectorStore contract suite, on the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gemini_vectors as gv
from gemini_vectors.store import StoreCollection, VectorStore
from gemini_vectors.testing.contract import VectorStoreContract
from gemini_vectors_pgvector import PgVectorCollection, PgVectorStore


class TestPgVectorStore(VectorStoreContract):
    """Through gv.connect() and the plugin's entry point, in the database's default schema."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url) as store:
            yield store

    @pytest.fixture
    def second_store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url) as store:  # a pool of its own, as another process has
            yield store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        # the URL reaches the plugin through its entry point; never the memory:// reference store
        assert isinstance(store, PgVectorStore)


class TestPgVectorStoreBinaryIndex(VectorStoreContract):
    """The binary-quantized index with exact re-ranking must give the same answers."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url + ("&" if "?" in pg_url else "?") + "index=binary") as store:
            yield store

    @pytest.fixture
    def second_store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url + ("&" if "?" in pg_url else "?") + "index=binary") as store:
            yield store


class TestPgVectorStoreMatryoshka(VectorStoreContract):
    """Matryoshka two-stage search (an HNSW index on the first 128 dimensions, re-ranked on all 256) must
    give the same answers as the full-vector index: the whole suite on 256-dim vectors.

    With the default re-rank factor (10) the suite's 50-record ranking test would re-rank the whole
    collection and never depend on the prefix; with 2, a query for 5 re-ranks 10 prefix candidates, so
    the answers are right only if the candidates come from the prefix and the order from the full vector.
    """

    dimensions = 256

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url, index="mrl:128", rerank_factor=2) as store:
            yield store

    @pytest.fixture
    def second_store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url, index="mrl:128", rerank_factor=2) as store:
            yield store

    def test_the_suite_runs_on_an_mrl_collection(self, coll: StoreCollection) -> None:
        assert isinstance(coll, PgVectorCollection)
        assert (coll.plan.index, coll.plan.prefix_dimensions, coll.plan.rerank_factor) == ("mrl", 128, 2)
