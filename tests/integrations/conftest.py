"""Fixtures of both framework suites: the backends' session servers, registered here once.

Defined in :mod:`tests.integrations.backends`; registered in this conftest, above both suites, so that a
run of both starts each server once. The Gemini emulator fixtures (``gemini_emulator``, ``gemini_env``)
come from ``gemini_vectors.testing``.
"""

from __future__ import annotations

from tests.integrations.backends import pg_url, pinecone_emulator, weaviate_url

__all__ = ["pg_url", "pinecone_emulator", "weaviate_url"]
