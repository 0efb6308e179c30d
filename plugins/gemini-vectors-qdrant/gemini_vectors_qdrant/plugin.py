"""The pluggy hooks of the Qdrant plugin: ``qdrant``, ``qdrants``, ``qdrant+local`` and ``qdrant+memory``.

Kept light: qdrant-client is imported when a store is opened, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.store import VectorStore

SCHEMES = ("qdrant", "qdrants", "qdrant+local", "qdrant+memory")


def _connect(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_qdrant.store import connect_qdrant

    return connect_qdrant(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve a Qdrant server (plain or TLS) and qdrant-client's local mode (on disk or in memory)."""
    for scheme in SCHEMES:
        register(scheme, _connect)
