"""The built-in memory:// store is held to the contract suite, like every backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import gemini_vectors as gv
from gemini_vectors.store import VectorStore
from gemini_vectors.testing.contract import VectorStoreContract, make_records


class TestMemoryStore(VectorStoreContract):
    @pytest.fixture
    def url(self) -> str:
        return f"memory://contract-{uuid.uuid4().hex[:12]}"  # named: a second connect reaches it

    @pytest.fixture
    def store(self, url: str) -> Iterator[VectorStore]:
        with gv.connect(url) as store:
            yield store

    @pytest.fixture
    def second_store(self, url: str) -> Iterator[VectorStore]:
        with gv.connect(url) as store:
            yield store


def test_named_memory_stores_are_shared_in_process() -> None:
    spec = gv.EmbeddingSpec.for_model("gemini-embedding-2", 128)
    gv.connect("memory://shared-test").open_collection("c", spec).upsert(make_records(2))
    assert gv.connect("memory://shared-test").open_collection("c").count() == 2
    assert gv.connect("memory://").stored_spec("c") is None


def test_memory_store_takes_no_options() -> None:
    with pytest.raises(TypeError, match="no options"):
        gv.connect("memory://", pool_size=3)
