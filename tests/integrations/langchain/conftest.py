"""Fixtures for the LangChain integration tests: one store of each backend.

``lc_store`` is a parametrized fixture over ``memory``, ``postgresql``, ``weaviate`` and ``pinecone`` (see
:mod:`tests.integrations.backends`, whose session servers ``tests/integrations/conftest.py`` registers).
A backend whose plugin is not installed is skipped. The Gemini emulator fixtures (``gemini_emulator``,
``gemini_env``) come from ``gemini_vectors.testing``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import gemini_vectors as gv
from tests.integrations.backends import BACKENDS, store_of


@pytest.fixture(params=BACKENDS)
def lc_store(request: pytest.FixtureRequest) -> Iterator[gv.VectorStore]:
    """A store of each backend whose plugin is installed."""
    with store_of(request.param, request) as opened:
        yield opened.store
