"""Fixtures for the LlamaIndex integration tests: one store of each backend, with the URL that reopens it.

``li_store`` is a parametrized fixture over ``memory``, ``postgresql``, ``weaviate`` and ``pinecone`` (see
:mod:`tests.integrations.backends`, whose session servers ``tests/integrations/conftest.py`` registers).
A backend whose plugin is not installed is skipped. The Gemini emulator fixtures (``gemini_emulator``,
``gemini_env``) come from ``gemini_vectors.testing``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integrations.backends import BACKENDS, StoreAt, store_of


@pytest.fixture(params=BACKENDS)
def li_store(request: pytest.FixtureRequest) -> Iterator[StoreAt]:
    """A store of each backend whose plugin is installed, with the URL that reopens it."""
    with store_of(request.param, request) as opened:
        yield opened
