"""Collection: embed-and-store on top of an :class:`~gemini_vectors.Embedder` and a backend collection.

Adding streams: items are taken from any iterable in chunks, so a generator of a million items keeps
memory flat. Content that is already stored under the same id with the same content hash is not sent to
the API again; only its metadata is refreshed when it changed.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any

import numpy as np

from gemini_vectors.arguments import check_count, check_record_id, expect_items, expect_many
from gemini_vectors.content import as_item
from gemini_vectors.embedder import Embedder, ItemLike
from gemini_vectors.errors import (
    ArgumentError,
    ConfigurationError,
    ContentError,
    MetadataError,
    PartialEmbeddingError,
    SpecMismatchError,
)
from gemini_vectors.filters import FilterLike, metadata_equal, parse_filter, validate_metadata
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.store import Match, Record, StoreCollection, Vector, as_vector, check_ef_search

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
        self.backend = backend
        self.embedder = embedder
        self.chunk_size = check_count(chunk_size, "chunk_size")

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

        When every argument has a length (lists, tuples), the whole call is checked before anything is
        embedded or written: the lengths, the ids (unique within the call), the metadata and every item
        against the model's limits. Items from a generator are checked one chunk at a time, so an error
        may come after earlier chunks were stored; its notes say which.

        Raises:
            ContentError: an item breaks a model limit; ``index`` is its position in ``items``.
            MetadataError: an id is empty, not a string or repeated, or metadata holds a value no
                backend can store; the message names the item.
            ArgumentError: the arguments have the wrong shape (a lone string, fewer ids than items).
            PartialEmbeddingError: the API rejected some items; the rest were stored. Failures are keyed
                by the item's position in ``items``.
        """
        embedder = self._need_embedder()
        expect_items(items)
        columns = (("ids", ids, "ids"), ("metadata", metadata, "mappings"), ("titles", titles, "titles"))
        for name, value, of in columns:
            if value is not None:
                expect_many(value, name, of=of)
        if all(isinstance(v, Sized) for v in (items, ids, metadata, titles) if v is not None):
            self._check_call(embedder, items, ids, metadata, titles)  # type: ignore[arg-type]
        all_ids: list[str] = []
        failures: dict[int, str] = {}
        offset = 0
        expected = len(items) if isinstance(items, Sized) else None
        try:
            with self.backend.bulk_load(expected):
                for chunk in _chunks(items, ids, metadata, titles, self.chunk_size):
                    chunk_ids, chunk_failures = self._add_chunk(embedder, chunk, offset)
                    all_ids.extend(chunk_ids)
                    failures.update(chunk_failures)
                    offset += len(chunk)
        except Exception as exc:
            if offset:
                exc.add_note(
                    f"items 0..{offset - 1} of this add() were stored before the error; adding them again "
                    "does not embed them again"
                )
            raise
        if failures:
            n = len(all_ids)
            succeeded = np.ones(n, dtype=bool)
            succeeded[list(failures)] = False
            empty = np.zeros((0, self.spec.dimensions), np.float32)
            raise PartialEmbeddingError(failures, empty, succeeded, ids=all_ids)
        return all_ids

    upsert = add

    def _check_call(
        self,
        embedder: Embedder,
        items: Sequence[ItemLike],
        ids: Sequence[str] | None,
        metadata: Sequence[Mapping[str, Any] | None] | None,
        titles: Sequence[str | None] | None,
    ) -> None:
        """Check a whole add() whose arguments all have a length, before anything is embedded."""
        for name, value in (("ids", ids), ("metadata", metadata), ("titles", titles)):
            if value is not None and len(value) != len(items):
                raise ArgumentError(f"got {len(value)} {name} for {len(items)} items")
        if ids is not None:
            _check_ids(self.backend, ids, given=[True] * len(ids), offset=0)
        if metadata is not None:
            for index, meta in enumerate(metadata):
                _check_metadata(meta, index)
        embedder.check(items, TaskType.RETRIEVAL_DOCUMENT, titles=titles)

    def _add_chunk(
        self,
        embedder: Embedder,
        chunk: list[tuple[ItemLike, str | None, Mapping[str, Any] | None, str | None]],
        offset: int,
    ) -> tuple[list[str], dict[int, str]]:
        for pos, (_, _, _, title) in enumerate(chunk):
            if title is not None and not isinstance(title, str):
                raise ArgumentError(f"item {offset + pos}: a title must be a str or None, got {title!r}")
        hashes = [_content_hash(item, title, offset + pos) for pos, (item, _, _, title) in enumerate(chunk)]
        ids = [
            given if given is not None else content_id(h)
            for (_, given, _, _), h in zip(chunk, hashes, strict=True)
        ]
        _check_ids(self.backend, ids, given=[given is not None for _, given, _, _ in chunk], offset=offset)
        metas = [_check_metadata(meta, offset + pos) for pos, (_, _, meta, _) in enumerate(chunk)]
        # an item given twice without an id has the same content, hence the same id: embed it once
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
            except ContentError as exc:
                if exc.index is None:
                    raise
                # the embedder counted in the items it was given; name the item by its place in add()
                raise exc.at(offset + to_embed[exc.index]).with_traceback(exc.__traceback__) from None
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
                if old is not None and not metadata_equal(old.metadata, metas[pos]):
                    records.append(Record(ids[pos], old.vector, metas[pos], hashes[pos]))
        if records:
            self.backend.upsert(records)
        return ids, failures

    def upsert_vectors(self, records: Sequence[Record]) -> None:
        """Store records whose vectors were made elsewhere under this collection's spec."""
        dims = self.spec.dimensions
        checked = []
        expect_many(records, "records", of="Records")
        for index, r in enumerate(records):
            check_record_id(r.id, f"record {index}")
            vec = as_vector(r.vector, dims, what=f"vector of {r.id!r}")
            norm = float(np.linalg.norm(vec))
            if norm == 0:
                raise ArgumentError(f"vector of {r.id!r} is all zeros")
            metadata = _check_metadata(r.metadata, index, what="record")
            checked.append(Record(r.id, vec / norm, metadata, r.content_hash))
        self.backend.check_ids([r.id for r in checked], what="record")
        with self.backend.bulk_load(len(checked)):
            self.backend.upsert(checked)

    # -- reading ---------------------------------------------------------------------------------

    def _query_vector(self, query: ItemLike | Vector | Sequence[float], task: TaskType | str) -> Vector:
        if isinstance(query, np.ndarray) or (
            isinstance(query, list | tuple)
            and query
            and all(isinstance(x, int | float | np.number) and not isinstance(x, bool) for x in query)
        ):
            vec = as_vector(query, self.spec.dimensions, what="query vector")
            norm = float(np.linalg.norm(vec))
            if norm == 0:
                raise ArgumentError("query vector is all zeros")
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
        ef_search: int | None = None,
    ) -> list[Match]:
        """The ``k`` stored items closest to ``query`` that match ``filter``, best first.

        Args:
            query: Text, a content part, an Item, or a vector made under this collection's spec.
            k: How many matches at most.
            filter: A portable metadata filter, e.g. ``{"lang": "en", "year": {"$gte": 2020}}``.
            task: The task the query is embedded for.
            include_vectors: Return each match's stored vector too.
            ef_search: The HNSW candidate list for this query (None: the collection's
                :attr:`ef_search`). Larger finds more of the true nearest neighbours and takes longer;
                only backends with that knob take it (pgvector, Weaviate, Qdrant).

        Raises:
            ArgumentError: ``k`` or ``ef_search`` is not a positive integer, or ``ef_search`` was given
                to a backend without the knob; nothing was embedded.
        """
        check_count(k, "k")
        flt = parse_filter(filter)
        if ef_search is None:
            vector = self._query_vector(query, task)
            return self.backend.query(vector, k, flt, include_vectors=include_vectors)
        ef = check_ef_search(self.backend, ef_search)
        # Only backends that declare accepts_ef_search take the keyword (the ABC's signature is the
        # portable one), hence the untyped call.
        query_with_ef: Callable[..., list[Match]] = self.backend.query
        return query_with_ef(
            self._query_vector(query, task), k, flt, include_vectors=include_vectors, ef_search=ef
        )

    @property
    def ef_search(self) -> int | None:
        """The default HNSW candidate list of this collection's searches (None: the backend has none).

        Set it to trade latency for recall on every later search; backends keep it with the collection
        where they can (pgvector in its registry table, Weaviate in the collection's index config).
        """
        return self.backend.ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self.backend.set_ef_search(check_ef_search(self.backend, value, per_query=False))

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The stored records with these ids, in the order asked; unknown ids are left out."""
        expect_many(ids, "ids", of="ids")
        return self.backend.get(ids, include_vectors=include_vectors)

    def delete(self, ids: Sequence[str] | None = None, filter: FilterLike | None = None) -> None:
        """Delete records by id and/or by filter (neither: nothing is deleted)."""
        if ids is not None:
            expect_many(ids, "ids", of="ids")
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


def _content_hash(item: ItemLike, title: str | None, index: int) -> str:
    try:
        return item_content_hash(item, title)
    except ContentError as exc:
        raise exc.at(index) from exc
    except TypeError as exc:
        raise ArgumentError(f"item {index}: {exc}") from None
    except OSError as exc:
        raise ContentError(f"cannot be read: {exc}", index=index, limit="readable") from exc


def _check_ids(backend: StoreCollection, ids: Sequence[str], *, given: Sequence[bool], offset: int) -> None:
    """Every id a valid record id the backend can store; a given id not repeated (a derived one repeats
    for equal content). Runs before anything is embedded, so a bad id costs nothing and loses nothing."""
    first: dict[str, int] = {}
    for pos, (record_id, was_given) in enumerate(zip(ids, given, strict=True)):
        check_record_id(record_id, f"item {offset + pos}")
        if was_given and record_id in first:
            raise MetadataError(
                f"item {offset + pos}: id {record_id!r} is also the id of item {offset + first[record_id]}; "
                "ids must be unique within one add()"
            )
        first.setdefault(record_id, pos)
    backend.check_ids(ids, offset=offset)


def _check_metadata(meta: object, index: int, *, what: str = "item") -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise MetadataError(f"{what} {index}: metadata must be a mapping or None, got {type(meta).__name__}")
    return validate_metadata(meta, where=f"metadata of {what} {index}")


def _chunks(
    items: Iterable[ItemLike],
    ids: Iterable[str] | None,
    metadata: Iterable[Mapping[str, Any] | None] | None,
    titles: Iterable[str | None] | None,
    size: int,
) -> Iterator[list[tuple[ItemLike, str | None, Mapping[str, Any] | None, str | None]]]:
    """Zip the four inputs lazily and cut them into chunks; unequal lengths are an error."""
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
                    raise ArgumentError(f"more {name} than items ({position} items)")
            break
        for name, value in zip(names[1:], rest, strict=True):
            if value is sentinel:
                raise ArgumentError(f"fewer {name} than items: none for item {position}")
        chunk.append((item, *rest))
        position += 1
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
