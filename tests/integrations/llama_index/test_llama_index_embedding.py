"""GeminiEmbedding at the Gemini API emulator: what goes over the wire, checked against the raw SDK
(see :mod:`tests.integrations.gemini_wire`)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from google.genai import types
from llama_index.core.embeddings import MultiModalEmbedding

import gemini_vectors as gv
from gemini_vectors.llama_index import GeminiEmbedding
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.integrations.fresh_imports import import_error_without, modules_imported_by
from tests.integrations.gemini_wire import (
    DIMS,
    DOCUMENTS,
    assert_all_are_the_similarity_query,
    assert_documents_went_out_one_content_each,
    assert_is_the_query,
    document_part,
    raw_vectors,
)
from tests.media import png


def test_250_texts_are_250_vectors_in_3_calls_with_the_document_prefix(
    gemini_emulator: GeminiEmulator,
) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    assert isinstance(emb, MultiModalEmbedding)
    vectors = emb.get_text_embedding_batch(DOCUMENTS)  # what VectorStoreIndex calls
    assert_documents_went_out_one_content_each(gemini_emulator, vectors)
    (single,) = raw_vectors(gemini_emulator, [document_part(DOCUMENTS[5])])
    np.testing.assert_allclose(emb.get_text_embedding(DOCUMENTS[5]), single, rtol=1e-5, atol=1e-6)


def test_query_embedding_carries_the_query_prefix(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    assert_is_the_query(gemini_emulator, emb.get_query_embedding("a sleeping cat"), "a sleeping cat")


def test_task_is_configurable(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS, task="SEMANTIC_SIMILARITY")
    doc, query = emb.get_text_embedding("two cats"), emb.get_query_embedding("two cats")
    assert_all_are_the_similarity_query(gemini_emulator, [doc, query], "two cats")
    with pytest.raises(gv.ConfigurationError, match="not both"):
        GeminiEmbedding(client=gemini_emulator.client(), task="CLUSTERING", query_task="RETRIEVAL_QUERY")


def test_an_image_goes_out_as_an_inline_image_part(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    image = png(rgb=(10, 200, 30))
    path = tmp_path / "green.png"
    path.write_bytes(image)
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    from_path, from_buffer = emb.get_image_embedding_batch([str(path), BytesIO(image)])
    single = emb.get_image_embedding(str(path))
    assert gemini_emulator.stats.uploads == 0  # inline, not through the File API
    (expected,) = raw_vectors(gemini_emulator, [types.Part.from_bytes(data=image, mime_type="image/png")])
    np.testing.assert_allclose(
        np.asarray([from_path, from_buffer, single]), np.asarray([expected] * 3), rtol=1e-5, atol=1e-6
    )


async def test_async_twins_send_the_same_requests(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    path = tmp_path / "p.png"
    path.write_bytes(png())
    texts = ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(
        await emb.aget_text_embedding_batch(texts), emb.get_text_embedding_batch(texts)
    )
    np.testing.assert_array_equal(await emb.aget_text_embedding("alpha"), emb.get_text_embedding("alpha"))
    np.testing.assert_array_equal(await emb.aget_query_embedding("alpha"), emb.get_query_embedding("alpha"))
    np.testing.assert_array_equal(
        await emb.aget_image_embedding(str(path)), emb.get_image_embedding(str(path))
    )


def test_bad_input_is_refused_before_any_call(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    with pytest.raises(gv.ArgumentError, match="text 1"):
        emb.get_text_embedding_batch(["ok", 3])
    with pytest.raises(gv.ArgumentError, match="one str"):
        emb.get_query_embedding(["not", "one"])
    with pytest.raises(gv.ArgumentError, match="image 0"):
        emb.get_image_embedding_batch([3])  # type: ignore[list-item]
    assert gemini_emulator.stats.total_calls == 0
    with pytest.raises(gv.ConfigurationError, match="dimensions"):
        GeminiEmbedding(client=gemini_emulator.client(), dimensions=5000)
    with pytest.raises(gv.ConfigurationError, match="already fixes dimensions"):
        GeminiEmbedding(embedder=emb.embedder, dimensions=256)


def test_importing_the_package_does_not_import_llama_index() -> None:
    assert "llama_index" not in modules_imported_by("gemini_vectors")


def test_a_missing_llama_index_core_names_the_extra() -> None:
    out = import_error_without("llama_index.core", "gemini_vectors.llama_index")
    assert "pip install 'gemini-vectors[llama-index]'" in out
