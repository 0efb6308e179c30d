"""Milvus backend for gemini-vectors: one Milvus collection per gemini-vectors collection.

``gemini_vectors.connect("milvus://localhost:19530")`` (or ``milvuss://``, ``milvus+lite:///abs/file.db``)
reaches it through the ``gemini_vectors`` entry point; :func:`connect_milvus` and :class:`MilvusStore`
are the direct way.
"""

from __future__ import annotations

from gemini_vectors_milvus.store import MilvusCollection, MilvusStore, connect_milvus

__version__ = "0.1.0"

__all__ = ["MilvusCollection", "MilvusStore", "__version__", "connect_milvus"]
