"""The pluggy hooks of the Milvus plugin: ``milvus``, ``milvuss`` and ``milvus+lite``.

Kept light: pymilvus is imported when a store is opened, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.store import VectorStore

SCHEMES = ("milvus", "milvuss", "milvus+lite")


def _connect(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_milvus.store import connect_milvus

    return connect_milvus(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve a Milvus server (plain or TLS) and Milvus Lite (in process, one file)."""
    for scheme in SCHEMES:
        register(scheme, _connect)
