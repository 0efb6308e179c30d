"""The pluggy hooks of the pgvector plugin: URL schemes and the ORM column type.

Kept light: the heavy imports (psycopg, pgserver, SQLAlchemy types) happen when a hook is used.
"""

from __future__ import annotations

from typing import Any

from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import VectorStore

#: Dialect names whose databases may have pgvector.
POSTGRES_DIALECTS = frozenset({"postgresql"})


def _connect_postgres(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_pgvector.connect import connect_postgres

    return connect_postgres(url, **options)


def _connect_embedded(url: str, /, **options: Any) -> VectorStore:
    from gemini_vectors_pgvector.connect import connect_embedded

    return connect_embedded(url, **options)


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve ``postgresql``, ``postgres``, ``postgresql+psycopg`` and ``postgresql+embedded`` URLs."""
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        register(scheme, _connect_postgres)
    register("postgresql+embedded", _connect_embedded)


@hookimpl
def vector_column_type(dialect: Any, spec: EmbeddingSpec) -> Any:
    """pgvector's ``VECTOR(d)`` up to 2,000 dims, ``HALFVEC(d)`` up to 4,000, on PostgreSQL dialects.

    The same split as the store's storage plan, so that an HNSW index can be built on the column. Other
    dialects get None (the ORM falls back to a float32 blob).
    """
    if getattr(dialect, "name", None) not in POSTGRES_DIALECTS:
        return None
    from pgvector.sqlalchemy import HALFVEC, VECTOR

    from gemini_vectors_pgvector.storage import MAX_INDEXED_VECTOR_DIMS

    if spec.dimensions <= MAX_INDEXED_VECTOR_DIMS:
        return VECTOR(spec.dimensions)
    return HALFVEC(spec.dimensions)
