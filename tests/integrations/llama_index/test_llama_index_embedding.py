"""GeminiEmbedding at the Gemini API emulator: what goes over the wire, checked against the raw SDK.

Expected vectors come from the unmodified google-genai SDK sending the Contents by hand (one per text,
the task prefix written out), never from our own Embedder, so a wrong prefix or a merged Content shows.
"""

from __future__ import annotations

import subprocess
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from google.genai import types
from llama_index.core.embeddings import MultiModalEmbedding

import gemini_vectors as gv
from gemini_vectors.llama_index import GeminiEmbedding
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.media import png

DIMS = 128


def raw_vectors(emulator: GeminiEmulator, parts: list[types.Part]) -> np.ndarray:
    """What the emulator answers for one Content per part, sent by the SDK itself."""
    client = emulator.client()  # kept in a local: a collected Client closes its HTTP session
    answer = client.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Content(parts=[part]) for part in parts],
        config=types.EmbedContentConfig(output_dimensionality=DIMS),
    )
    assert answer.embeddings is not None
    out = np.asarray([e.values for e in answer.embeddings], dtype=np.float32)
    unit: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def test_250_texts_are_250_vectors_in_3_calls_with_the_document_prefix(
    gemini_emulator: GeminiEmulator,
) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    assert isinstance(emb, MultiModalEmbedding)
    texts = [f"document number {i} about topic {i % 7}" for i in range(250)]
    vectors = emb.get_text_embedding_batch(texts)  # what VectorStoreIndex calls
    assert gemini_emulator.stats.embed_calls == 3
    assert sorted(n for n, _ in gemini_emulator.stats.call_sizes) == [50, 100, 100]
    assert len(vectors) == 250 and all(len(v) == DIMS for v in vectors)
    assert len({tuple(v) for v in vectors}) == 250  # one Content per text: no merged vector
    picked = [0, 99, 100, 249]
    expected = raw_vectors(
        gemini_emulator, [types.Part.from_text(text=f"title: none | text: {texts[i]}") for i in picked]
    )
    np.testing.assert_allclose(np.asarray([vectors[i] for i in picked]), expected, rtol=1e-5, atol=1e-6)
    (single,) = raw_vectors(gemini_emulator, [types.Part.from_text(text=f"title: none | text: {texts[5]}")])
    np.testing.assert_allclose(emb.get_text_embedding(texts[5]), single, rtol=1e-5, atol=1e-6)


def test_query_embedding_carries_the_query_prefix(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    query = np.asarray(emb.get_query_embedding("a sleeping cat"))
    prefixed, bare = raw_vectors(
        gemini_emulator,
        [
            types.Part.from_text(text="task: search result | query: a sleeping cat"),
            types.Part.from_text(text="a sleeping cat"),
        ],
    )
    np.testing.assert_allclose(query, prefixed, rtol=1e-5, atol=1e-6)
    assert not np.allclose(query, bare)


def test_task_is_configurable(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS, task="SEMANTIC_SIMILARITY")
    doc, query = emb.get_text_embedding("two cats"), emb.get_query_embedding("two cats")
    (expected,) = raw_vectors(
        gemini_emulator, [types.Part.from_text(text="task: sentence similarity | query: two cats")]
    )
    np.testing.assert_allclose(
        np.asarray([doc, query]), np.asarray([expected, expected]), rtol=1e-5, atol=1e-6
    )
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
    code = "import sys, gemini_vectors; assert 'llama_index' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_llama_index_core_names_the_extra() -> None:
    # None in sys.modules makes "import llama_index.core" fail as it does when it is not installed
    code = (
        "import sys\n"
        "sys.modules['llama_index.core'] = None\n"
        "try:\n"
        "    import gemini_vectors.llama_index\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'gemini-vectors[llama-index]'" in out
