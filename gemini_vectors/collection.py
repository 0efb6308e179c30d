"""Collection: embed-and-store on top of an :class:`~gemini_vectors.Embedder` and a backend collection.

Adding streams: items are taken from any iterable in chunks, so a generator of a million items keeps
memory flat. Content that is already stored under the same id with the same content hash is not sent to
the API again; only its metadata is refreshed when it changed.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gemini_vectors.content import as_item
from gemini_vectors.embedder import Embedder, ItemLike
from gemini_vectors.errors import ConfigurationError, PartialEmbeddingError, SpecMismatchError
from gemini_vectors.filters import FilterLike, parse_filter, validate_metadata
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.store import Match, Record, StoreCollection, Vector, as_vector

DEFAULT_CHUNK = 500


def content_id(content_hash: str) -> str:
    """The id given to an item added without one: derived from its content, so re-adding it is a no-op."""
    return content_hash[:32]


def item_content_hash(item: ItemLike, title: str | None = None) -> str:
    """The content hash stored with an item added with ``title``; equal hashes mean no re-embedding."""
    digest = hashlib.sha256(as_item(item).content_hash().encode())
    if title:
        digest.update(b"\x00title\x00" + title.encode())
    return digest.hexdigest()


class Collection:
    """A named set of embedded items in a vector store, under one embedding spec.

    Get one with ``store.collection(name, embedder=emb)``.
    """

    def __init__(
        self, backend: StoreCollection, embedder: Embedder | None = None, *, chunk_size: int = DEFAULT_CHUNK
    ):
        if embedder is not None and embedder.spec != backend.spec:
            raise SpecMismatchError(backend.name, backend.spec, embedder.spec)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.backend = backend
        self.embedder = embedder
        self.chunk_size = chunk_size

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.backend.name

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding spec stored with the collection."""
        return self.backend.spec

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, spec={self.spec.describe()!r})"

    def _need_embedder(self) -> Embedder:
        if self.embedder is None:
            raise ConfigurationError(
                f"collection {self.name!r} was opened without an embedder; pass embedder= to embed items "
                "(or pass vectors to search)"
            )
        return self.embedder

    # -- writing ---------------------------------------------------------------------------------

    def add(
        self,
        items: Iterable[ItemLike],
        ids: Iterable[str] | None = None,
        metadata: Iterable[Mapping[str, Any] | None] | None = None,
        *,
        titles: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Embed ``items`` as documents and store them; returns their ids, in input order.

        Items without ids get ids derived from their content. Items whose content is already stored
        under their id are not embedded again.

        Raises:
            ContentError: an item breaks a model limit (nothing of its chunk was sent).
            MetadataError: metadata uses a value no backend can store.
            PartialEmbeddingError: the API rejected some items; the rest were stored. Failures are keyed
                by the item's position in ``items``.
        """
        embedder = self._need_embedder()
        all_ids: list[str] = []
        failures: dict[int, str] = {}
        offset = 0
        for chunk in _chunks(items, ids, metadata, titles, self.chunk_size):
            chunk_ids, chunk_failures = self._add_chunk(embedder, chunk, offset)
            all_ids.extend(chunk_ids)
            failures.update(chunk_failures)
            offset += len(chunk)
        if failures:
            n = len(all_ids)
            succeeded = np.ones(n, dtype=bool)
            succeeded[list(failures)] = False
            empty = np.zeros((0, self.spec.dimensions), np.float32)
            raise PartialEmbeddingError(failures, empty, succeeded, ids=all_ids)
        return all_ids

    upsert = add

    def _add_chunk(
        self,
        embedder: Embedder,
        chunk: list[tuple[ItemLike, str | None, Mapping[str, Any] | None, str | None]],
        offset: int,
    ) -> tuple[list[str], dict[int, str]]:
        hashes = [item_content_hash(item, title) for item, _, _, title in chunk]
        ids = [
            given if given is not None else content_id(h)
            for (_, given, _, _), h in zip(chunk, hashes, strict=True)
        ]
        for pos, i in enumerate(ids):
            if not isinstance(i, str) or not i:
                raise ValueError(f"item {offset + pos}: ids must be non-empty strings, got {i!r}")
        metas = [
            validate_metadata(meta or {}, where=f"metadata of item {offset + pos}")
            for pos, (_, _, meta, _) in enumerate(chunk)
        ]
        # the last occurrence of an id in a chunk wins, as in the store; embed it once
        last = {i: pos for pos, i in enumerate(ids)}
        stored = self.backend.content_hashes(list(last))
        to_embed = [pos for i, pos in last.items() if stored.get(i) != hashes[pos]]
        unchanged = [pos for i, pos in last.items() if stored.get(i) == hashes[pos]]
        failures: dict[int, str] = {}
        records: list[Record] = []
        if to_embed:
            try:
                vectors = embedder.embed_documents(
                    [chunk[pos][0] for pos in to_embed], titles=[chunk[pos][3] for pos in to_embed]
                )
                ok = [True] * len(to_embed)
            except PartialEmbeddingError as exc:
                vectors, ok = exc.vectors, list(exc.succeeded)
                failures = {offset + to_embed[j]: reason for j, reason in exc.failures.items()}
            records.extend(
                Record(ids[pos], vectors[j], metas[pos], hashes[pos])
                for j, pos in enumerate(to_embed)
                if ok[j]
            )
        if unchanged:
            # same content: keep the stored vector, refresh metadata only where it changed
            current = {
                r.id: r for r in self.backend.get([ids[pos] for pos in unchanged], include_vectors=True)
            }
            for pos in unchanged:
                old = current.get(ids[pos])
                if old is not None and dict(old.metadata) != metas[pos]:
                    records.append(Record(ids[pos], old.vector, metas[pos], hashes[pos]))
        if records:
            self.backend.upsert(records)
        return ids, failures

    def upsert_vectors(self, records: Sequence[Record]) -> None:
        """Store records whose vectors were made elsewhere under this collection's spec."""
        dims = self.spec.dimensions
        checked = []
        for r in records:
            vec = as_vector(r.vector, dims, what=f"vector of {r.id!r}")
            norm = float(np.linalg.norm(vec))
            if norm == 0:
                raise ValueError(f"vector of {r.id!r} is all zeros")
            checked.append(Record(r.id, vec / norm, validate_metadata(r.metadata), r.content_hash))
        self.backend.upsert(checked)

    # -- reading ---------------------------------------------------------------------------------

    def _query_vector(self, query: ItemLike | Vector | Sequence[float], task: TaskType | str) -> Vector:
        if isinstance(query, np.ndarray) or (
            isinstance(query, list | tuple) and query and all(isinstance(x, int | float) for x in query)
        ):
            vec = as_vector(query, self.spec.dimensions, what="query vector")
            norm = float(np.linalg.norm(vec))
            if norm == 0:
                raise ValueError("query vector is all zeros")
            return vec / norm
        return self._need_embedder().embed_query(query, task)  # type: ignore[arg-type]

    def search(
        self,
        query: ItemLike | Vector | Sequence[float],
        k: int = 10,
        filter: FilterLike | None = None,
        *,
        task: TaskType | str = TaskType.RETRIEVAL_QUERY,
        include_vectors: bool = False,
    ) -> list[Match]:
        """The ``k`` stored items closest to ``query`` that match ``filter``, best first.

        Args:
            query: Text, a content part, an Item, or a vector made under this collection's spec.
            k: How many matches at most.
            filter: A portable metadata filter, e.g. ``{"lang": "en", "year": {"$gte": 2020}}``.
            task: The task the query is embedded for.
            include_vectors: Return each match's stored vector too.
        """
        flt = parse_filter(filter)
        return self.backend.query(self._query_vector(query, task), k, flt, include_vectors=include_vectors)

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The stored records with these ids, in the order asked; unknown ids are left out."""
        return self.backend.get(ids, include_vectors=include_vectors)

    def delete(self, ids: Sequence[str] | None = None, filter: FilterLike | None = None) -> None:
        """Delete records by id and/or by filter."""
        self.backend.delete(ids=ids, filter=parse_filter(filter))

    def count(self) -> int:
        """How many records the collection holds."""
        return self.backend.count()

    def ids(self) -> Iterator[str]:
        """Every stored id."""
        return self.backend.iter_ids()

    def drop(self) -> None:
        """Delete the collection, its records and its stored spec."""
        self.backend.drop()


def _chunks(
    items: Iterable[ItemLike],
    ids: Iterable[str] | None,
    metadata: Iterable[Mapping[str, Any] | None] | None,
    titles: Iterable[str | None] | None,
    size: int,
) -> Iterator[list[tuple[ItemLike, str | None, Mapping[str, Any] | None, str | None]]]:
    """Zip the four inputs lazily and cut them into chunks; unequal lengths are an error."""
    if isinstance(items, str):
        raise TypeError("add() takes an iterable of items; wrap a single text in a list")
    sentinel = object()
    columns = [
        iter(items),
        iter(ids) if ids is not None else itertools.repeat(None),
        iter(metadata) if metadata is not None else itertools.repeat(None),
        iter(titles) if titles is not None else itertools.repeat(None),
    ]
    names = ("items", "ids", "metadata", "titles")
    chunk: list[Any] = []
    position = 0
    while True:
        item = next(columns[0], sentinel)
        rest = [next(c, sentinel) for c in columns[1:]]
        if item is sentinel:
            for name, value, given in zip(names[1:], rest, (ids, metadata, titles), strict=True):
                if given is not None and value is not sentinel:
                    raise ValueError(f"more {name} than items ({position} items)")
            break
        for name, value in zip(names[1:], rest, strict=True):
            if value is sentinel:
                raise ValueError(f"fewer {name} than items: none for item {position}")
        chunk.append((item, *rest))
        position += 1
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
