"""Qdrant backend for gemini-vectors: one Qdrant collection per gemini-vectors collection.

``gemini_vectors.connect("qdrant://localhost:6333")`` (or ``qdrants://``, ``qdrant+local:///path``,
``qdrant+memory://``) reaches it through the ``gemini_vectors`` entry point; :func:`connect_qdrant` and
:class:`QdrantStore` are the direct way.
"""

from __future__ import annotations

from gemini_vectors_qdrant.store import QdrantCollection, QdrantStore, connect_qdrant

__version__ = "0.1.0"

__all__ = ["QdrantCollection", "QdrantStore", "__version__", "connect_qdrant"]
