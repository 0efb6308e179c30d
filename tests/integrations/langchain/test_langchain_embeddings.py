"""GeminiEmbeddings at the Gemini API emulator: what goes over the wire, checked against the raw SDK.

Expected vectors come from the unmodified google-genai SDK sending the Contents by hand (one per text,
the task prefix written out), never from our own Embedder, so a wrong prefix or a merged Content shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.genai import types

import gemini_vectors as gv
from gemini_vectors.langchain import GeminiEmbeddings
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


def test_250_documents_are_250_vectors_in_3_calls_with_the_document_prefix(
    gemini_emulator: GeminiEmulator,
) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    texts = [f"document number {i} about topic {i % 7}" for i in range(250)]
    vectors = emb.embed_documents(texts)
    assert gemini_emulator.stats.embed_calls == 3
    assert sorted(n for n, _ in gemini_emulator.stats.call_sizes) == [50, 100, 100]
    assert len(vectors) == 250 and all(len(v) == DIMS for v in vectors)
    assert len({tuple(v) for v in vectors}) == 250  # one Content per text: no merged vector
    picked = [0, 99, 100, 249]
    expected = raw_vectors(
        gemini_emulator, [types.Part.from_text(text=f"title: none | text: {texts[i]}") for i in picked]
    )
    np.testing.assert_allclose(np.asarray([vectors[i] for i in picked]), expected, rtol=1e-5, atol=1e-6)


def test_embed_query_carries_the_query_prefix(gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    query = np.asarray(emb.embed_query("a sleeping cat"))
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
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS, task="SEMANTIC_SIMILARITY")
    doc, query = emb.embed_documents(["two cats"])[0], emb.embed_query("two cats")
    (expected,) = raw_vectors(
        gemini_emulator, [types.Part.from_text(text="task: sentence similarity | query: two cats")]
    )
    np.testing.assert_allclose(
        np.asarray([doc, query]), np.asarray([expected, expected]), rtol=1e-5, atol=1e-6
    )
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
    code = "import sys, gemini_vectors; assert 'langchain_core' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_langchain_core_names_the_extra() -> None:
    # None in sys.modules makes "import langchain_core" fail as it does when it is not installed
    code = (
        "import sys\n"
        "sys.modules['langchain_core'] = None\n"
        "try:\n"
        "    import gemini_vectors.langchain\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'gemini-vectors[langchain]'" in out
