"""A collection embedded with the shut-down gemini-embedding-2-preview still opens for search."""

from __future__ import annotations

import pytest

import gemini_vectors as gv
from gemini_vectors.errors import SpecMismatchError
from gemini_vectors.spec import RetiredModelError
from gemini_vectors.testing import GeminiEmulator
from gemini_vectors.testing.contract import make_records
from gemini_vectors_pgvector import connect_postgres

PREVIEW = "gemini-embedding-2-preview"


def test_a_stored_preview_collection_opens_for_search(
    pg_url: str, schema: str, gemini_emulator: GeminiEmulator
) -> None:
    spec = gv.EmbeddingSpec.for_model(PREVIEW, 128)
    records = make_records(6, dims=128)
    writer = connect_postgres(pg_url, schema=schema)
    try:
        writer.open_collection("talks", spec).upsert(records)
    finally:
        writer.close()

    store = connect_postgres(pg_url, schema=schema)  # a later process: only the stored spec is known
    try:
        old = store.collection("talks")
        assert old.spec == spec and old.count() == 6
        [best, *_] = old.search(records[2].vector, k=2)
        assert best.id == "r2" and best.score == pytest.approx(1.0, abs=1e-3)
        # nothing can embed a new query for it, and a GA embedder never writes into its space
        with pytest.raises(RetiredModelError, match="gemini-embedding-2"):
            gv.Embedder(PREVIEW, 128, client=gemini_emulator.client())
        ga = gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)
        with pytest.raises(SpecMismatchError):
            store.collection("talks", embedder=ga)
        assert store.collection("talks").count() == 6
    finally:
        store.close()
