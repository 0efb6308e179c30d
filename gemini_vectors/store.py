"""The contract a vector database backend implements: :class:`VectorStore` and :class:`StoreCollection`.

A plugin registers a factory per URL scheme (see :mod:`gemini_vectors.hookspecs`); the factory returns a
:class:`VectorStore`, a connection to one database. :meth:`VectorStore.open_collection` checks the
embedding spec stored with a collection and hands back a :class:`StoreCollection`, the backend's side of
one collection, which stores and searches :class:`Record` values. Vectors cross this boundary as
L2-normalized float32 numpy arrays; scores are cosine similarities, higher is closer.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gemini_vectors.errors import ArgumentError, CollectionNotFoundError, MetadataError, SpecMismatchError
from gemini_vectors.filters import Filter, MetadataValue, parse_filter
from gemini_vectors.redaction import redact_url
from gemini_vectors.spec import EmbeddingSpec

if TYPE_CHECKING:
    from gemini_vectors.collection import Collection
    from gemini_vectors.embedder import Embedder

Vector = npt.NDArray[np.float32]


def as_vector(values: Any, dimensions: int | None = None, *, what: str = "vector") -> Vector:
    """Convert ``values`` to a 1-d float32 array, checking its length and that it is finite.

    Raises:
        ArgumentError: not numbers, wrong shape, wrong length, or a NaN/inf element (also a ValueError).
    """
    # Overflow is reported below as the error it is (a float64 beyond float32's range becomes inf; a
    # square beyond it is a finite vector), not also as a numpy RuntimeWarning.
    with np.errstate(over="ignore"):
        try:
            arr = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{what} must be a sequence of numbers ({exc})") from None
        if arr.ndim != 1:
            raise ArgumentError(f"{what} must be one-dimensional, got shape {arr.shape}")
        if dimensions is not None and arr.shape[0] != dimensions:
            raise ArgumentError(
                f"{what} has {arr.shape[0]} dimensions, the collection's spec has {dimensions}"
            )
        # One BLAS call rather than a ufunc pass and a reduction: on the query path this runs in a
        # process just woken from waiting on the database, with cold caches, where isfinite().all()
        # measured ~40 us of a 1.5 ms search. x.x is finite unless an element is NaN or infinite, or
        # the squares overflow (|x| > 1.8e19, a finite vector): the exact check tells these apart.
        square_norm = float(arr.dot(arr))
    if not math.isfinite(square_norm) and not np.isfinite(arr).all():
        raise ArgumentError(f"{what} contains NaN or infinite values")
    return arr


@dataclass(frozen=True, eq=False)
class Record:
    """One stored vector with its id, metadata and the hash of the content it was made from."""

    id: str
    vector: Vector
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    content_hash: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (
            self.id == other.id
            and dict(self.metadata) == dict(other.metadata)
            and self.content_hash == other.content_hash
            and np.array_equal(self.vector, other.vector)
        )

    __hash__ = None  # type: ignore[assignment]  # holds a mutable array


@dataclass(frozen=True, eq=False)
class Match:
    """One search result: the record's id, its cosine similarity to the query, and its metadata."""

    id: str
    score: float
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    vector: Vector | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        same_vec = (self.vector is None and other.vector is None) or (
            self.vector is not None and other.vector is not None and np.array_equal(self.vector, other.vector)
        )
        return (
            self.id == other.id
            and math.isclose(self.score, other.score, abs_tol=1e-6)
            and dict(self.metadata) == dict(other.metadata)
            and same_vec
        )

    __hash__ = None  # type: ignore[assignment]


def _parsing_query_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def query(self: StoreCollection, vector: Any, k: Any, filter: Any = None, **kwargs: Any) -> Any:
        if "ef_search" in kwargs:
            ef_search = kwargs.pop("ef_search")
            if ef_search is not None:
                kwargs["ef_search"] = check_ef_search(self, ef_search)
        return fn(self, vector, k, parse_filter(filter), **kwargs)

    query.__gv_parses_filter__ = True  # type: ignore[attr-defined]
    return query


def _parsing_delete_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def delete(self: StoreCollection, ids: Any = None, filter: Any = None, **kwargs: Any) -> Any:
        return fn(self, ids, parse_filter(filter), **kwargs)

    delete.__gv_parses_filter__ = True  # type: ignore[attr-defined]
    return delete


def check_ef_search(backend: StoreCollection, value: object, *, per_query: bool = True) -> int:
    """``value`` as an ``ef_search`` for ``backend``: a positive int within the backend's limit.

    Args:
        per_query: Checking a value for one query (the backend must declare
            :attr:`~StoreCollection.accepts_ef_search`), rather than a collection's default.

    Raises:
        ArgumentError: not a positive integer, above the backend's limit, or (``per_query``) given to a
            backend whose queries take no candidate-list size.
    """
    if per_query and not backend.accepts_ef_search:
        raise ArgumentError(
            f"{type(backend).__name__} takes no search-time candidate list (ef) per query; leave "
            "ef_search unset for this backend"
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"ef_search must be a positive integer, got {value!r}")
    limit = backend.max_ef_search
    if limit is not None and value > limit:
        raise ArgumentError(f"ef_search={value} is above {type(backend).__name__}'s limit of {limit}")
    return value


class StoreCollection(ABC):
    """The backend's side of one collection: a named set of records under one embedding spec.

    Implementations must keep every vector of the collection under :attr:`spec`; :meth:`upsert` and
    :meth:`query` receive vectors already checked against it by :class:`~gemini_vectors.Collection`,
    and should reject others with ``ValueError`` all the same when called directly.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every backend's query() and delete() receive a parsed Filter, whatever the caller passed: a
        # raw mapping ({"lang": "en"}) is parsed here, once, by the portable filter language, and a
        # malformed one is a FilterError naming the bad part. Wrapping at class creation keeps that rule
        # in one place for every backend, third-party ones included.
        super().__init_subclass__(**kwargs)
        for method, wrap in (("query", _parsing_query_filter), ("delete", _parsing_delete_filter)):
            fn = cls.__dict__.get(method)
            if fn is not None and not getattr(fn, "__gv_parses_filter__", False):
                setattr(cls, method, wrap(fn))

    #: The longest record id the backend stores, as :meth:`id_length` measures it; None: no limit.
    #: A plugin declares it; :meth:`check_ids` enforces it before anything is embedded or written.
    max_id_length: int | None = None
    #: What :meth:`id_length` counts, for messages.
    id_length_unit: str = "bytes of UTF-8"
    #: Whether :meth:`query` takes ``ef_search=`` (the HNSW candidate list of one query: larger finds
    #: more of the true neighbours, and costs more). Only then does the core pass it; for other backends
    #: a value is refused before the query is sent. Third-party backends keep working unchanged.
    accepts_ef_search: bool = False
    #: The largest ``ef_search`` the backend takes, or None.
    max_ef_search: int | None = None

    def __init__(self, name: str, spec: EmbeddingSpec) -> None:
        self._name = name
        self._spec = spec

    def id_length(self, record_id: str) -> int:
        """The length of ``record_id`` as the backend counts it against :attr:`max_id_length`."""
        return len(record_id.encode("utf-8", "surrogatepass"))

    def check_ids(self, ids: Iterable[str], *, what: str = "item", offset: int = 0) -> None:
        """Refuse an id the backend cannot store, naming its position, its length and the limit.

        The one check of record ids against the backend's limit: :class:`~gemini_vectors.Collection`
        runs it before it embeds anything, so an over-long id costs no API call and loses no other record.

        Raises:
            MetadataError: an id is longer than :attr:`max_id_length`.
        """
        limit = self.max_id_length
        if limit is None:
            return
        for pos, record_id in enumerate(ids):
            length = self.id_length(record_id)
            if length > limit:
                shown = record_id if len(record_id) <= 40 else record_id[:20] + "..." + record_id[-10:]
                raise MetadataError(
                    f"{what} {offset + pos}: its id {shown!r} is {length:,} long "
                    f"({self.id_length_unit}), and "
                    f"{type(self).__name__} stores ids of at most {limit:,}; use a shorter id (a hash of a "
                    "long key, say, with the key in the metadata)"
                )

    @property
    def name(self) -> str:
        """The collection's name, as the user gave it."""
        return self._name

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding spec recorded with the collection."""
        return self._spec

    @property
    def ef_search(self) -> int | None:
        """The collection's default HNSW candidate list per query; None when the backend has no such knob."""
        return None

    def set_ef_search(self, value: int) -> None:
        """Change the collection's default ``ef_search``, kept with the collection where the backend can.

        A backend with the knob overrides this (and :attr:`ef_search`), after
        ``check_ef_search(self, value, per_query=False)``.

        Raises:
            ArgumentError: the backend has no such knob (this default), or the value is out of range.
        """
        raise ArgumentError(f"{type(self).__name__} has no search-time candidate list (ef) to set")

    @contextmanager
    def bulk_load(self, expected: int | None = None) -> Iterator[None]:
        """Mark a load of many records: the backend may defer index upkeep until the block ends.

        Callers wrap whole loads in it (:meth:`~gemini_vectors.Collection.add`, a sync pass), with the
        number of records they expect to write when they know it. A backend that builds its index
        faster in one go than row by row (pgvector's HNSW) may leave an empty or small collection
        unindexed for a large load and build the index when the block ends, whether it ended normally
        or by an error. Searches during the load still answer, by exact scan. The default does nothing.

        Args:
            expected: How many records the load writes, or None when unknown (no deferral then).
        """
        yield

    @abstractmethod
    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id; re-upserting an id leaves exactly one record for it.

        All of ``records`` are written or an error is raised that says which were not
        (:class:`~gemini_vectors.errors.WriteError`).
        """

    @abstractmethod
    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        """The ``k`` records closest to ``vector`` by cosine similarity that match ``filter``, best first.

        ``filter`` may also be a raw mapping in the portable filter language (``{"lang": "en"}``): it is
        parsed before the backend sees it, for every backend (see :meth:`__init_subclass__`). A backend
        with :attr:`accepts_ef_search` also takes ``ef_search: int | None = None`` (None: its default,
        :attr:`ef_search`); the core checks the value first.
        """

    @abstractmethod
    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""

    @abstractmethod
    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both (records matching either); unknown ids are ignored.

        With neither argument nothing is deleted (use :meth:`drop` or :meth:`clear` to empty). A raw
        mapping ``filter`` is parsed as in :meth:`query`.
        """

    @abstractmethod
    def count(self) -> int:
        """The number of records in the collection."""

    @abstractmethod
    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id in the collection, in no particular order, fetched in batches."""

    @abstractmethod
    def drop(self) -> None:
        """Delete the collection with its records and its stored spec."""

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id (backends may override with a cheaper query)."""
        return {r.id: r.content_hash for r in self.get(ids, include_vectors=False)}

    def clear(self) -> None:
        """Delete every record, keeping the collection and its spec."""
        ids = list(self.iter_ids())
        for start in range(0, len(ids), 1000):
            self.delete(ids=ids[start : start + 1000])


class VectorStore(ABC):
    """A connection to one vector database that holds named collections.

    A backend implements the four abstract methods; :meth:`open_collection` does the spec checks so
    that every backend refuses mixed vector spaces the same way.
    """

    @property
    def url(self) -> str:
        """The URL the store was opened with, with every secret removed (safe to log, show and record).

        Assigning the raw URL is safe: the setter keeps only :func:`~gemini_vectors.redaction.redact_url`
        of it, so no backend can hold a password here by mistake.
        """
        return getattr(self, "_redacted_url", "")

    @url.setter
    def url(self, value: str) -> None:
        self._redacted_url = redact_url(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    #: The longest collection name the backend stores, as :meth:`name_length` measures it; None: no limit.
    max_collection_name_length: int | None = None
    #: What :meth:`name_length` counts, for messages.
    name_length_unit: str = "bytes of UTF-8"

    def name_length(self, name: str) -> int:
        """The length of collection name ``name`` as the backend counts it."""
        return len(name.encode("utf-8", "surrogatepass"))

    def check_collection_name(self, name: str) -> None:
        """Refuse a collection name the backend cannot store (run by :meth:`open_collection`).

        Raises:
            ArgumentError: ``name`` is not a non-empty string, or is longer than the backend's limit.
        """
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"a collection name is a non-empty str, got {name!r}")
        limit = self.max_collection_name_length
        if limit is not None and (length := self.name_length(name)) > limit:
            raise ArgumentError(
                f"collection name {name[:40]!r}... is {length:,} long ({self.name_length_unit}), and "
                f"{type(self).__name__} stores names of at most {limit:,}; choose a shorter name"
            )

    @abstractmethod
    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded for collection ``name``, or None when there is no such collection."""

    @abstractmethod
    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """Create collection ``name`` for ``spec`` and record the spec with it.

        If another process created it meanwhile, return it when its spec is the same and raise
        :class:`~gemini_vectors.errors.SpecMismatchError` when it is not.
        """

    @abstractmethod
    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """A handle on the existing collection ``name`` whose stored spec is ``spec`` (already checked)."""

    @abstractmethod
    def list_collections(self) -> list[str]:
        """The names of every collection this library created in the store."""

    def open_collection(
        self, name: str, spec: EmbeddingSpec | None = None, *, create: bool = True
    ) -> StoreCollection:
        """Open collection ``name``, creating it for ``spec`` when missing and ``create`` is true.

        With ``spec=None`` the collection must exist and is opened with its stored spec.

        Raises:
            SpecMismatchError: the stored spec differs from ``spec``; nothing was written.
            CollectionNotFoundError: no such collection, and it may not or cannot be created.
        """
        self.check_collection_name(name)
        stored = self.stored_spec(name)
        if stored is None:
            if spec is None or not create:
                raise CollectionNotFoundError(f"no collection {name!r} in {self.url or type(self).__name__}")
            return self.create_collection(name, spec)
        if spec is not None and stored != spec:
            raise SpecMismatchError(name, stored, spec)
        return self.attach_collection(name, stored)

    def collection(
        self,
        name: str,
        embedder: Embedder | None = None,
        *,
        spec: EmbeddingSpec | None = None,
        create: bool = True,
    ) -> Collection:
        """Open collection ``name`` for embed-and-store with ``embedder`` (creating it for its spec).

        Without an embedder, ``spec`` (or the stored spec) is used and only vector search is possible.

        Raises:
            SpecMismatchError: the stored spec differs from the embedder's; nothing was written.
        """
        from gemini_vectors.collection import Collection
        from gemini_vectors.embedder import Embedder as _Embedder

        if embedder is not None and not isinstance(embedder, _Embedder):
            raise ArgumentError(f"embedder= takes a gemini_vectors.Embedder, got {type(embedder).__name__}")
        if spec is not None and not isinstance(spec, EmbeddingSpec):
            raise ArgumentError(f"spec= takes an EmbeddingSpec, got {type(spec).__name__}")
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"a collection name is a non-empty str, got {name!r}")
        if embedder is not None and spec is not None and embedder.spec != spec:
            raise SpecMismatchError(name, spec, embedder.spec)
        backend = self.open_collection(name, embedder.spec if embedder is not None else spec, create=create)
        return Collection(backend, embedder)

    def drop_collection(self, name: str) -> None:
        """Drop collection ``name`` if it exists."""
        if self.stored_spec(name) is not None:
            self.open_collection(name).drop()

    def close(self) -> None:  # noqa: B027 - most backends hold no resources worth closing
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
