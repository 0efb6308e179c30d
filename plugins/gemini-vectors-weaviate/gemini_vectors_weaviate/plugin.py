"""The pluggy hooks of the Weaviate plugin: the ``weaviate``, ``weaviates`` and ``weaviate+cloud`` schemes.

Kept light: weaviate-client is imported when a store is opened, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.store import VectorStore

SCHEMES = ("weaviate", "weaviates", "weaviate+cloud")


def _connect(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_weaviate.store import connect_weaviate

    return connect_weaviate(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve ``weaviate://`` (plain), ``weaviates://`` (TLS) and ``weaviate+cloud://`` (Weaviate Cloud)."""
    for scheme in SCHEMES:
        register(scheme, _connect)
