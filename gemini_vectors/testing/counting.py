"""A store collection that keeps nothing but a count: measure a pipeline without a database's costs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from gemini_vectors.filters import Filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Match, Record, StoreCollection, Vector


class CountingCollection(StoreCollection):
    """Counts the records written and forgets them; every read finds nothing.

    Args:
        spec: The spec the collection claims to hold.
        on_upsert: Called after each upsert with the batch, e.g. to sample memory.
    """

    def __init__(
        self, spec: EmbeddingSpec, on_upsert: Callable[[Sequence[Record]], None] | None = None
    ) -> None:
        super().__init__("counting", spec)
        self.written = 0
        self.upserts = 0
        self._on_upsert = on_upsert

    def upsert(self, records: Sequence[Record]) -> None:
        self.written += len(records)
        self.upserts += 1
        if self._on_upsert is not None:
            self._on_upsert(records)

    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        return []

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        return []

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        return None

    def count(self) -> int:
        return self.written

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        return iter(())

    def drop(self) -> None:
        return None
