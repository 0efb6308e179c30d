"""How a collection's vectors are laid out in Weaviate: one HNSW vector, or a Matryoshka funnel.

* ``hnsw`` (the default): the named vector ``embedding`` holds the full vector in an HNSW index.
* ``mrl:<d>`` (Matryoshka two-stage search): ``embedding_prefix`` holds the first ``d`` dimensions in an
  HNSW index, and ``embedding`` holds the full vector with no index at all (``skip``: Weaviate's noop
  index, which stores the vector with the object and builds nothing; a ``flat`` index would keep a second
  copy of every vector for a search that is never run). A query searches the prefix for
  ``k * rerank_factor`` candidates under the filter, reads their full vectors and re-ranks them by exact
  cosine, client side: Weaviate has no search that draws candidates from one named vector and scores
  them on another (its multi-target search searches every target's index and combines distances, and
  its rescoring works only within one vector's quantized index).

The plan is recorded in the class description beside the spec (see :func:`.store.describe`); a
description without one (every collection made before plans existed) is the ``hnsw`` plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gemini_vectors.errors import ConfigurationError
from gemini_vectors.index_choice import IndexChoice, parse_index

from .naming import PREFIX_VECTOR_NAME, VECTOR_NAME

#: The index kinds this plugin offers for ``index=``.
INDEX_KINDS = ("hnsw", "mrl")
#: Candidates drawn from the prefix index per requested result, re-ranked on the full vector.
DEFAULT_RERANK_FACTOR = 10
MAX_RERANK_FACTOR = 1000
HNSW = IndexChoice("hnsw")


def check_rerank_factor(value: object, where: str = "rerank_factor") -> int:
    """``value`` as a re-rank factor: a whole number from 1 to :data:`MAX_RERANK_FACTOR`.

    Raises:
        ConfigurationError: anything else, naming the limit.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RERANK_FACTOR:
        raise ConfigurationError(
            f"{where} must be a whole number from 1 to {MAX_RERANK_FACTOR} (candidates per result that a "
            f"Matryoshka search re-ranks), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class StoragePlan:
    """The named vectors and index of one collection.

    Attributes:
        index: ``hnsw`` or ``mrl:<d>``.
        rerank_factor: With ``mrl``, candidates per requested result taken from the prefix index.
    """

    index: IndexChoice = HNSW
    rerank_factor: int = DEFAULT_RERANK_FACTOR

    @property
    def prefix_dimensions(self) -> int | None:
        """The dimensions the prefix index holds, or None for a plain collection."""
        return self.index.prefix_dimensions if self.index.kind == "mrl" else None

    @property
    def search_vector(self) -> str:
        """The named vector whose HNSW index a query searches (and whose ``ef`` is the collection's)."""
        return PREFIX_VECTOR_NAME if self.prefix_dimensions is not None else VECTOR_NAME

    def to_dict(self) -> dict[str, Any] | None:
        """The plan as JSON for the description; None for the default, so that plain collections keep
        the description they always had."""
        if self.prefix_dimensions is None:
            return None
        return {"index": str(self.index), "rerank_factor": self.rerank_factor}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StoragePlan:
        """The plan recorded by :meth:`to_dict` (None: the default plan).

        Raises:
            ConfigurationError: the recorded plan cannot be read.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"unreadable storage plan {data!r} in a class description")
        try:
            index = parse_index(data["index"], kinds=INDEX_KINDS)
            factor = check_rerank_factor(data.get("rerank_factor", DEFAULT_RERANK_FACTOR))
        except (KeyError, TypeError, ConfigurationError) as exc:
            raise ConfigurationError(f"unreadable storage plan {dict(data)!r} in a description") from exc
        return cls(index, factor)
