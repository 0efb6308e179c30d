"""GeminiEmbeddings at the Gemini API emulator: what goes over the wire, checked against the raw SDK
(see :mod:`tests.integrations.gemini_wire`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.genai import types

import gemini_vectors as gv
from gemini_vectors.langchain import GeminiEmbeddings
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.integrations.fresh_imports import import_error_without, modules_imported_by
from tests.integrations.gemini_wire import (
    DIMS,
    DOCUMENTS,
    assert_all_are_the_similarity_query,
    assert_documents_went_out_one_content_each,
    assert_is_the_query,
    raw_vectors,
)
from tests.media import png


def test_250_documents_are_250_vectors_in_3_calls_with_the_document_prefix(
    gemini_emulator: GeminiEmulator,
) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    assert_documents_went_out_one_content_each(gemini_emulator, emb.embed_documents(DOCUMENTS))


def test_embed_query_carries_the_query_prefix(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    assert_is_the_query(gemini_emulator, emb.embed_query("a sleeping cat"), "a sleeping cat")


def test_task_is_configurable(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS, task="SEMANTIC_SIMILARITY")
    doc, query = emb.embed_documents(["two cats"])[0], emb.embed_query("two cats")
    assert_all_are_the_similarity_query(gemini_emulator, [doc, query], "two cats")
    with pytest.raises(gv.ConfigurationError, match="not both"):
        GeminiEmbeddings(client=gemini_emulator.client(), task="CLUSTERING", query_task="RETRIEVAL_QUERY")


def test_an_image_goes_out_as_an_inline_image_part(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    image = png(rgb=(10, 200, 30))
    path = tmp_path / "green.png"
    path.write_bytes(image)
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    from_bytes, from_path = emb.embed_images([image, path])
    assert gemini_emulator.stats.uploads == 0  # inline, not through the File API
    (expected,) = raw_vectors(gemini_emulator, [types.Part.from_bytes(data=image, mime_type="image/png")])
    np.testing.assert_allclose(
        np.asarray([from_bytes, from_path]), np.asarray([expected, expected]), rtol=1e-5
    )
    # an interleaved item is one Content of two parts: one vector
    (mixed,) = emb.embed_items([gv.Item(["a green square", gv.Image(data=image)])])
    assert len(mixed) == DIMS and not np.allclose(mixed, expected)


async def test_async_twins_send_the_same_requests(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    texts = ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(await emb.aembed_documents(texts), emb.embed_documents(texts))
    np.testing.assert_array_equal(await emb.aembed_query("alpha"), emb.embed_query("alpha"))
    np.testing.assert_array_equal(await emb.aembed_images([png()]), emb.embed_images([png()]))


def test_bad_input_is_refused_before_any_call(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    with pytest.raises(gv.ArgumentError, match="list of str"):
        emb.embed_documents("one string")  # type: ignore[arg-type]
    with pytest.raises(gv.ArgumentError, match="text 1"):
        emb.embed_documents(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(gv.ContentError, match="item 1"):
        emb.embed_items(["ok", gv.Item([gv.Image(data=png())] * 7)])  # 7 images: the limit is 6
    assert gemini_emulator.stats.total_calls == 0
    with pytest.raises(gv.ConfigurationError, match="dimensions"):
        GeminiEmbeddings(client=gemini_emulator.client(), dimensions=5000)


def test_importing_the_package_does_not_import_langchain() -> None:
    assert "langchain_core" not in modules_imported_by("gemini_vectors")


def test_a_missing_langchain_core_names_the_extra() -> None:
    out = import_error_without("langchain_core", "gemini_vectors.langchain")
    assert "pip install 'gemini-vectors[langchain]'" in out
