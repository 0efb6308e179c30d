"""LangChain's own standard suites (``langchain-tests``), run unmodified against our classes.

``EmbeddingsIntegrationTests`` drives :class:`GeminiEmbeddings` built from the environment, which
``gemini_env`` points at the Gemini API emulator. ``VectorStoreIntegrationTests`` drives
:class:`GeminiVectorStore` on every backend with the suite's own ``DeterministicFakeEmbedding``: a foreign
embedding, so each collection is created under a foreign spec.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, VectorStoreIntegrationTests

from gemini_vectors.langchain import GeminiEmbeddings, GeminiVectorStore
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.integrations.backends import BACKENDS, store_of


class TestGeminiEmbeddingsStandard(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _emulator(self, gemini_env: GeminiEmulator) -> None:
        """Runs before the suite's ``model`` fixture: ``GeminiEmbeddings()`` then talks to the emulator."""

    @property
    def embeddings_class(self) -> type[GeminiEmbeddings]:
        return GeminiEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, object]:
        return {"dimensions": 256}


class TestGeminiVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture(params=BACKENDS)
    def vectorstore(self, request: pytest.FixtureRequest) -> Iterator[GeminiVectorStore]:
        with store_of(request.param, request) as at:
            vs = GeminiVectorStore(self.get_embeddings(), at.store, f"lc-std-{uuid.uuid4().hex[:8]}")
            try:
                yield vs
            finally:
                vs.delete_collection()
