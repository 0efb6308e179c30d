"""Chroma backend for gemini-vectors: one Chroma collection per gemini-vectors collection.

``gemini_vectors.connect("chroma:///var/chroma")`` (or ``chroma+http://HOST:PORT``, ``chroma+https://``)
reaches it through the ``gemini_vectors`` entry point; :func:`connect_chroma` and :class:`ChromaStore` are
the direct way.
"""

from __future__ import annotations

from gemini_vectors_chroma.store import ChromaCollection, ChromaStore, connect_chroma

__version__ = "0.1.0"

__all__ = ["ChromaCollection", "ChromaStore", "__version__", "connect_chroma"]
