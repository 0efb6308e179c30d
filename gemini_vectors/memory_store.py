"""The built-in ``memory://`` store: numpy arrays and exact cosine search, the reference backend.

``memory://`` gives a fresh, private store; ``memory://NAME`` gives the store of that name, shared by every
``connect()`` in this process. Nothing is persisted. Being exact and simple, it is what the contract suite
is first proved against.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from gemini_vectors.errors import CollectionNotFoundError, SpecMismatchError
from gemini_vectors.filters import Filter, matches
from gemini_vectors.hookspecs import RegisterStore, hookimpl
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Match, Record, StoreCollection, Vector, VectorStore, as_vector


class _Table:
    """The rows of one collection: parallel lists plus a lazily rebuilt matrix for search."""

    def __init__(self, spec: EmbeddingSpec) -> None:
        self.spec = spec
        self.rows: dict[str, Record] = {}
        self.matrix: np.ndarray[Any, np.dtype[np.float32]] | None = None
        self.order: list[str] = []

    def invalidate(self) -> None:
        self.matrix = None

    def search_matrix(self) -> tuple[list[str], np.ndarray[Any, np.dtype[np.float32]]]:
        if self.matrix is None:
            self.order = list(self.rows)
            dims = self.spec.dimensions
            self.matrix = (
                np.stack([self.rows[i].vector for i in self.order])
                if self.order
                else np.zeros((0, dims), dtype=np.float32)
            )
        return self.order, self.matrix


class MemoryCollection(StoreCollection):
    """One collection of a :class:`MemoryStore`."""

    max_id_length = None  # ids are dict keys: any length is stored

    def __init__(self, store: MemoryStore, name: str, spec: EmbeddingSpec) -> None:
        super().__init__(name, spec)
        self._store = store
        with store.lock:
            # The handle's collection: one created later under the same name is another. One of another
            # spec, created since the caller looked, is never the handle's.
            table = store.tables.get(name)
            self._opened = table if table is not None and table.spec == spec else None

    def _table(self) -> _Table:
        opened = self._opened
        if opened is None or self._store.tables.get(self.name) is not opened:
            raise CollectionNotFoundError.dropped_since_opened(self.name)
        return opened

    def upsert(self, records: Sequence[Record]) -> None:
        dims = self.spec.dimensions
        checked = [
            Record(
                r.id, as_vector(r.vector, dims, what=f"vector of {r.id!r}"), dict(r.metadata), r.content_hash
            )
            for r in records
        ]
        with self._store.lock:
            table = self._table()
            for record in checked:
                table.rows[record.id] = record
            if checked:
                table.invalidate()

    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        with self._store.lock:
            table = self._table()
            order, matrix = table.search_matrix()
            rows = table.rows
            if not order:
                return []
            scores = matrix @ q
            ranked = np.argsort(-scores, kind="stable")
            out: list[Match] = []
            for idx in ranked:
                record = rows[order[idx]]
                if filter is not None and not matches(filter, record.metadata):
                    continue
                vec = record.vector.copy() if include_vectors else None
                out.append(Match(record.id, float(scores[idx]), dict(record.metadata), vec))
                if len(out) == k:
                    break
            return out

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        with self._store.lock:
            rows = self._table().rows
            found = [rows[i] for i in dict.fromkeys(ids) if i in rows]
        return [
            Record(
                r.id,
                r.vector.copy() if include_vectors else np.zeros(0, np.float32),
                dict(r.metadata),
                r.content_hash,
            )
            for r in found
        ]

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        with self._store.lock:
            table = self._table()
            doomed = set(ids or ())
            if filter is not None:
                doomed |= {i for i, r in table.rows.items() if matches(filter, r.metadata)}
            for i in doomed:
                table.rows.pop(i, None)
            if doomed:
                table.invalidate()

    def count(self) -> int:
        with self._store.lock:
            return len(self._table().rows)

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        with self._store.lock:
            ids = list(self._table().rows)
        yield from ids

    def drop(self) -> None:
        with self._store.lock:
            if self._opened is not None and self._store.tables.get(self.name) is self._opened:
                del self._store.tables[self.name]


class MemoryStore(VectorStore):
    """An in-process store; see the module docstring for how URLs map to stores."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.tables: dict[str, _Table] = {}
        self.lock = threading.RLock()

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        with self.lock:
            table = self.tables.get(name)
            return table.spec if table is not None else None

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        with self.lock:
            table = self.tables.setdefault(name, _Table(spec))
        if table.spec != spec:
            raise SpecMismatchError(name, table.spec, spec)
        return MemoryCollection(self, name, spec)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        with self.lock:
            table = self.tables.get(name)
        if table is None:
            raise CollectionNotFoundError(f"no collection {name!r} in {self.url}")
        if table.spec != spec:
            raise SpecMismatchError(name, table.spec, spec)
        return MemoryCollection(self, name, spec)

    def list_collections(self) -> list[str]:
        with self.lock:
            return sorted(self.tables)


_named: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


def open_memory_store(url: str, **options: Any) -> MemoryStore:
    """The factory behind ``memory://`` URLs."""
    if options:
        raise TypeError(f"memory:// takes no options, got {sorted(options)}")
    name = urlsplit(url).netloc + urlsplit(url).path
    if not name.strip("/"):
        return MemoryStore(url)
    with _named_lock:
        return _named.setdefault(name, MemoryStore(url))


@hookimpl
def register_stores(register: RegisterStore) -> None:
    """Serve ``memory://``."""
    register("memory", open_memory_store)
