"""The pluggy hook of the Pinecone plugin: it serves ``pinecone://INDEX`` URLs.

Kept light: the SDK is imported when a store is opened, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.store import VectorStore


def connect_pinecone(url: str, /, **options: Any) -> VectorStore:
    """Open ``pinecone://INDEX`` (see :class:`~gemini_vectors_pinecone.store.PineconeStore` for options)."""
    from gemini_vectors_pinecone.store import PineconeStore

    return PineconeStore(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve ``pinecone://`` URLs."""
    register("pinecone", connect_pinecone)
