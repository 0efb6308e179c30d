"""The pluggy hooks of the Chroma plugin: ``chroma``, ``chroma+http`` and ``chroma+https``.

Kept light: chromadb is imported when a store is opened, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.store import VectorStore

SCHEMES = ("chroma", "chroma+http", "chroma+https")


def _connect(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_chroma.store import connect_chroma

    return connect_chroma(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve Chroma's embedded engine (a directory) and a Chroma server (plain or TLS)."""
    for scheme in SCHEMES:
        register(scheme, _connect)
