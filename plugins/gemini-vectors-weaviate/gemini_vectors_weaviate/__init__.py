"""Weaviate backend for gemini-vectors: one Weaviate collection per gemini-vectors collection.

``gemini_vectors.connect("weaviate://localhost:8080")`` reaches it through the ``gemini_vectors``
entry point; :func:`connect_weaviate` and :class:`WeaviateStore` are the direct way.
"""

from __future__ import annotations

from gemini_vectors_weaviate.store import WeaviateCollection, WeaviateStore, connect_weaviate

__version__ = "0.1.0"

__all__ = ["WeaviateCollection", "WeaviateStore", "__version__", "connect_weaviate"]
