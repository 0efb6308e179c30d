"""Pinecone backend for gemini-vectors: ``gv.connect("pinecone://my-index")``.

A store is one serverless Pinecone index (created with the spec's dimension and the cosine metric when
missing, the spec recorded in its tags); each collection is a namespace of it. The names below are
imported on first use, so that loading the plugin's hooks stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_vectors_pinecone.filters import to_pinecone
    from gemini_vectors_pinecone.store import PineconeCollection, PineconeStore

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "PineconeCollection": "store",
    "PineconeStore": "store",
    "to_pinecone": "filters",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"gemini_vectors_pinecone.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'gemini_vectors_pinecone' has no attribute {name!r}")


__all__ = ["PineconeCollection", "PineconeStore", "__version__", "to_pinecone"]
