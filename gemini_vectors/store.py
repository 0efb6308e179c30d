"""The contract a vector database backend implements: :class:`VectorStore` and :class:`StoreCollection`.

A plugin registers a factory per URL scheme (see :mod:`gemini_vectors.hookspecs`); the factory returns a
:class:`VectorStore`, a connection to one database. :meth:`VectorStore.open_collection` checks the
embedding spec stored with a collection and hands back a :class:`StoreCollection`, the backend's side of
one collection, which stores and searches :class:`Record` values. Vectors cross this boundary as
L2-normalized float32 numpy arrays; scores are cosine similarities, higher is closer.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gemini_vectors.errors import ArgumentError, CollectionNotFoundError, SpecMismatchError
from gemini_vectors.filters import Filter, MetadataValue
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
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{what} must be a sequence of numbers ({exc})") from None
    if arr.ndim != 1:
        raise ArgumentError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if dimensions is not None and arr.shape[0] != dimensions:
        raise ArgumentError(f"{what} has {arr.shape[0]} dimensions, the collection's spec has {dimensions}")
    if not np.isfinite(arr).all():
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


class StoreCollection(ABC):
    """The backend's side of one collection: a named set of records under one embedding spec.

    Implementations must keep every vector of the collection under :attr:`spec`; :meth:`upsert` and
    :meth:`query` receive vectors already checked against it by :class:`~gemini_vectors.Collection`,
    and should reject others with ``ValueError`` all the same when called directly.
    """

    def __init__(self, name: str, spec: EmbeddingSpec) -> None:
        self._name = name
        self._spec = spec

    @property
    def name(self) -> str:
        """The collection's name, as the user gave it."""
        return self._name

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding spec recorded with the collection."""
        return self._spec

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
        """The ``k`` records closest to ``vector`` by cosine similarity that match ``filter``, best first."""

    @abstractmethod
    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""

    @abstractmethod
    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both (records matching either); unknown ids are ignored.

        With neither argument nothing is deleted (use :meth:`drop` or :meth:`clear` to empty).
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
        if not name:
            raise ValueError("a collection name must be a non-empty string")
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
