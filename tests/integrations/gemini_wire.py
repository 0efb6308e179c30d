"""What a framework's embedding sent to the Gemini API emulator, checked against the raw SDK.

Expected vectors come from the unmodified google-genai SDK sending the Contents by hand (one per text,
the task prefix written out), never from our own Embedder, so a wrong prefix or a merged Content shows.
Both suites' embedding tests call these checks with what their framework's methods returned.
"""

from __future__ import annotations

import numpy as np
from google.genai import types

from gemini_vectors.testing.gemini_emulator import GeminiEmulator

DIMS = 128
# 250 documents: more than two calls' worth, so a batcher that drops or merges the last part shows
DOCUMENTS = [f"document number {i} about topic {i % 7}" for i in range(250)]


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


def document_part(text: str) -> types.Part:
    """The part gemini-embedding-2 gets for ``text`` embedded as a document without a title."""
    return types.Part.from_text(text=f"title: none | text: {text}")


def assert_documents_went_out_one_content_each(emulator: GeminiEmulator, vectors: list[list[float]]) -> None:
    """``vectors`` are :data:`DOCUMENTS` embedded as documents: in calls of 100, one Content per text."""
    assert emulator.stats.embed_calls == 3
    assert sorted(n for n, _ in emulator.stats.call_sizes) == [50, 100, 100]
    assert len(vectors) == 250 and all(len(v) == DIMS for v in vectors)
    assert len({tuple(v) for v in vectors}) == 250  # one Content per text: no merged vector
    picked = [0, 99, 100, 249]
    expected = raw_vectors(emulator, [document_part(DOCUMENTS[i]) for i in picked])
    np.testing.assert_allclose(np.asarray([vectors[i] for i in picked]), expected, rtol=1e-5, atol=1e-6)


def assert_is_the_query(emulator: GeminiEmulator, vector: list[float], text: str) -> None:
    """``vector`` is ``text`` embedded as a retrieval query: the query prefix was sent, not the bare text."""
    query = np.asarray(vector)
    prefixed, bare = raw_vectors(
        emulator,
        [types.Part.from_text(text=f"task: search result | query: {text}"), types.Part.from_text(text=text)],
    )
    np.testing.assert_allclose(query, prefixed, rtol=1e-5, atol=1e-6)
    assert not np.allclose(query, bare)


def assert_all_are_the_similarity_query(
    emulator: GeminiEmulator, vectors: list[list[float]], text: str
) -> None:
    """Every one of ``vectors`` is ``text`` sent with the SEMANTIC_SIMILARITY prefix, documents and queries
    alike (what one ``task=`` for both means)."""
    (expected,) = raw_vectors(
        emulator, [types.Part.from_text(text=f"task: sentence similarity | query: {text}")]
    )
    np.testing.assert_allclose(
        np.asarray(vectors), np.asarray([expected] * len(vectors)), rtol=1e-5, atol=1e-6
    )
