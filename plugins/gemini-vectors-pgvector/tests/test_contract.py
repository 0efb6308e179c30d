"""The pgvector store is held to the VectorStore contract suite, on the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gemini_vectors as gv
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract
from gemini_vectors_pgvector import PgVectorStore


class TestPgVectorStore(VectorStoreContract):
    """Through gv.connect() and the plugin's entry point, in the database's default schema."""

    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[VectorStore]:
        with gv.connect(pg_url) as store:
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
