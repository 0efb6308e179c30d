"""The VectorStore contract suite, through the unmodified pinecone SDK (emulator or real service)."""

from __future__ import annotations

from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract
from gv_pinecone_target import PineconeTarget

from gemini_vectors_pinecone import PineconeStore


@pytest.fixture(scope="session")
def contract_index(pinecone_target: PineconeTarget) -> str:
    """One index for the whole suite (an index is slow to create on the real service)."""
    return pinecone_target.index_name("contract")


class TestPineconeContract(VectorStoreContract):
    one_spec_per_store = True
    preserves_int_type = False

    @pytest.fixture
    def store(self, pinecone_target: PineconeTarget, contract_index: str) -> Iterator[VectorStore]:
        with gv.connect(pinecone_target.url(contract_index), **pinecone_target.options()) as store:
            yield store

    def test_the_suite_runs_against_this_plugin(self, store: VectorStore) -> None:
        # the URL reaches the plugin through its entry point; never the memory:// reference store
        assert isinstance(store, PineconeStore)
