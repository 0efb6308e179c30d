"""Fixtures of both framework suites: the backends' session servers, registered here once.

Defined in :mod:`tests.integrations.backends`; registered in this conftest, above both suites, so that a
run of both starts each server once. The Gemini emulator fixtures (``gemini_emulator``, ``gemini_env``)
come from ``gemini_vectors.testing``.
"""

from __future__ import annotations

import pytest

from tests.integrations.backends import pg_url, pinecone_emulator, weaviate_url

__all__ = ["pg_url", "pinecone_emulator", "weaviate_url"]

# the shared checks' plain asserts report the values compared, as in a test module
pytest.register_assert_rewrite("tests.integrations.gemini_wire")
