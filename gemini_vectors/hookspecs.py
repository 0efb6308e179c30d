"""The hook specifications of gemini-vectors, and the markers plugins use to implement them.

Hooks register things; classes do the work. A plugin module implements hooks with ``@hookimpl`` and is
found through the ``gemini_vectors`` entry-point group. Only :mod:`gemini_vectors.plugins` calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from gemini_vectors.spec import EmbeddingSpec
    from gemini_vectors.store import VectorStore

PROJECT_NAME = "gemini_vectors"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


StoreFactory = Callable[..., "VectorStore"]
"""Builds a :class:`~gemini_vectors.store.VectorStore`: called as ``factory(url, **options)``."""

RegisterStore = Callable[[str, StoreFactory], None]


@hookspec
def register_stores(register: RegisterStore) -> None:
    """Register a store factory for each URL scheme the plugin serves.

    Call ``register("myscheme", factory)``; ``gemini_vectors.connect("myscheme://...", **options)`` then
    calls ``factory(url, **options)``. A scheme may be registered by one plugin only.
    """


@hookspec(firstresult=True)
def vector_column_type(dialect: Any, spec: EmbeddingSpec) -> Any:
    """Return the SQLAlchemy column type that stores vectors of ``spec`` on ``dialect``, or None.

    ``dialect`` is a ``sqlalchemy.engine.Dialect``. The first plugin that returns a type wins; when none
    does, ORM embedding columns fall back to a float32 blob that cannot be searched in the database.
    """
