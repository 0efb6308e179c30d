"""The contract suite itself: it must fail a backend that breaks the contract, not just pass good ones."""

from __future__ import annotations

import textwrap

import pytest

BROKEN_STORES = {
    "ignores_filters": """
        def query(self, vector, k, filter=None, *, include_vectors=False):
            return super().query(vector, k, None, include_vectors=include_vectors)
    """,
    "duplicates_on_upsert": """
        def upsert(self, records):
            super().upsert(records)
            super().upsert([type(r)(r.id + "-dup", r.vector, r.metadata, r.content_hash) for r in records])
    """,
    "ranks_backwards": """
        def query(self, vector, k, filter=None, *, include_vectors=False):
            return super().query(-vector, k, filter, include_vectors=include_vectors)
    """,
    "loses_metadata_types": """
        def get(self, ids, *, include_vectors=True):
            out = super().get(ids, include_vectors=include_vectors)
            stringly = [{k: str(v) for k, v in r.metadata.items()} for r in out]
            return [type(r)(r.id, r.vector, m, r.content_hash) for r, m in zip(out, stringly)]
    """,
}

SUITE = """
import pytest
from gemini_vectors.memory_store import MemoryCollection, MemoryStore
from gemini_vectors.testing.contract import VectorStoreContract


class Broken(MemoryCollection):
{body}


class BrokenStore(MemoryStore):
    def attach_collection(self, name, spec):
        return Broken(self, name, spec)

    def create_collection(self, name, spec):
        super().create_collection(name, spec)
        return Broken(self, name, spec)


class TestBroken(VectorStoreContract):
    @pytest.fixture
    def store(self):
        yield BrokenStore()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN_STORES))
def test_a_broken_store_fails_the_contract(pytester: pytest.Pytester, flaw: str) -> None:
    body = textwrap.indent(textwrap.dedent(BROKEN_STORES[flaw]).strip(), "    ")
    pytester.makepyfile(test_broken_store=SUITE.format(body=body))
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) > 0, f"the contract suite did not notice a store that {flaw}"


def test_a_correct_store_passes_the_contract(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_good_store="""
        import pytest
        from gemini_vectors.memory_store import MemoryStore
        from gemini_vectors.testing.contract import VectorStoreContract

        class TestGood(VectorStoreContract):
            @pytest.fixture
            def shared(self):
                return MemoryStore()

            @pytest.fixture
            def store(self, shared):
                yield shared

            @pytest.fixture
            def second_store(self, shared):  # memory:// has no other connection: the same store
                yield shared
        """
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.outlines[-20:]
    assert outcomes.get("passed", 0) >= 50 and "failed" not in outcomes and "skipped" not in outcomes
