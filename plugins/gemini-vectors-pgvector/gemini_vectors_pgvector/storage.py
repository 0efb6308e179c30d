"""How a collection's vectors are stored and indexed, planned from its embedding spec.

pgvector's column types hold up to 16,000 dimensions, but its HNSW index covers ``vector`` only up to
2,000 and ``halfvec`` up to 4,000. A 3,072-dim Gemini vector therefore goes into a ``halfvec`` column to be
indexable, or into a full-precision ``vector`` column with a binary-quantized index and exact re-ranking.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from gemini_vectors.errors import ConfigurationError

ColumnType = Literal["vector", "halfvec"]
IndexKind = Literal["hnsw", "binary", "none"]
INDEX_KINDS: tuple[IndexKind, ...] = ("hnsw", "binary", "none")

#: pgvector's limits on indexed dimensions (HNSW and IVFFlat alike).
MAX_INDEXED_VECTOR_DIMS = 2000
MAX_INDEXED_HALFVEC_DIMS = 4000
MAX_INDEXED_BIT_DIMS = 64000
#: pgvector's limit on the dimensions of a ``vector``/``halfvec`` column.
MAX_COLUMN_DIMS = 16000

#: Candidates fetched through the binary index per result, then re-ranked by exact cosine distance.
DEFAULT_RERANK_FACTOR = 10


@dataclass(frozen=True)
class StoragePlan:
    """The column type and index of one collection, recorded beside its spec in the registry table.

    Attributes:
        column_type: ``vector`` (float32) or ``halfvec`` (float16) for the embedding column.
        dimensions: Vector length, the spec's dimensions.
        index: ``hnsw`` (on the column), ``binary`` (HNSW on ``binary_quantize(v)::bit(d)`` with exact
            re-ranking) or ``none`` (exact scan).
        opclass: The index's operator class, None without an index.
        hnsw_m: HNSW ``m`` (graph degree).
        hnsw_ef_construction: HNSW ``ef_construction``.
        rerank_factor: With a binary index, candidates fetched per requested result.
    """

    column_type: ColumnType
    dimensions: int
    index: IndexKind
    opclass: str | None
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    rerank_factor: int = DEFAULT_RERANK_FACTOR

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able values, for the registry table."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoragePlan:
        """Rebuild a plan stored with :meth:`to_dict`."""
        index = data["index"]
        column = data["column_type"]
        if index not in INDEX_KINDS or column not in ("vector", "halfvec"):
            raise ConfigurationError(f"unreadable storage plan in the registry table: {dict(data)!r}")
        return cls(
            column_type=cast(ColumnType, column),
            dimensions=int(data["dimensions"]),
            index=cast(IndexKind, index),
            opclass=data.get("opclass"),
            hnsw_m=int(data.get("hnsw_m", 16)),
            hnsw_ef_construction=int(data.get("hnsw_ef_construction", 64)),
            rerank_factor=int(data.get("rerank_factor", DEFAULT_RERANK_FACTOR)),
        )


def plan_storage(
    dimensions: int,
    index: IndexKind = "hnsw",
    *,
    hnsw_m: int = 16,
    hnsw_ef_construction: int = 64,
    rerank_factor: int = DEFAULT_RERANK_FACTOR,
) -> StoragePlan:
    """Choose the column type, index and operator class for vectors of ``dimensions``.

    ============  ===========================  ================================  ==================
    dimensions    ``index="hnsw"`` (default)   ``index="binary"``                ``index="none"``
    ============  ===========================  ================================  ==================
    1 .. 2000     ``vector(d)``, HNSW with     ``vector(d)``, HNSW on            ``vector(d)``,
                  ``vector_cosine_ops``        ``binary_quantize(v)::bit(d)``    exact scan
                                               with ``bit_hamming_ops``, then
                                               exact re-ranking
    2001 .. 4000  ``halfvec(d)``, HNSW with    as above (float32 kept for the    ``vector(d)``
                  ``halfvec_cosine_ops``       exact re-ranking)
    4001 .. 16000 error: no HNSW this wide     as above                          ``vector(d)``
    ============  ===========================  ================================  ==================

    The cosine operator classes match the store's metric (``<=>``, scores are ``1 - distance``).

    Raises:
        ConfigurationError: unknown index kind, dimensions out of pgvector's range, or too many
            dimensions for an HNSW index on the column (the message suggests ``index="binary"``).
    """
    if index not in INDEX_KINDS:
        raise ConfigurationError(f"unknown index kind {index!r}; choose one of {', '.join(INDEX_KINDS)}")
    if not 1 <= dimensions <= MAX_COLUMN_DIMS:
        raise ConfigurationError(f"pgvector stores 1..{MAX_COLUMN_DIMS} dimensions, not {dimensions}")
    tuning = {"hnsw_m": hnsw_m, "hnsw_ef_construction": hnsw_ef_construction, "rerank_factor": rerank_factor}
    if index == "none":
        return StoragePlan("vector", dimensions, "none", None, **tuning)
    if index == "binary":
        return StoragePlan("vector", dimensions, "binary", "bit_hamming_ops", **tuning)
    if dimensions <= MAX_INDEXED_VECTOR_DIMS:
        return StoragePlan("vector", dimensions, "hnsw", "vector_cosine_ops", **tuning)
    if dimensions <= MAX_INDEXED_HALFVEC_DIMS:
        return StoragePlan("halfvec", dimensions, "hnsw", "halfvec_cosine_ops", **tuning)
    raise ConfigurationError(
        f"pgvector's HNSW index covers at most {MAX_INDEXED_HALFVEC_DIMS} dimensions (halfvec), not "
        f"{dimensions}; use index='binary' (binary-quantized index with exact re-ranking) or index='none'"
    )


_UNSAFE = re.compile(r"[^a-z0-9_]+")


def table_name_for(collection: str) -> str:
    """A safe, stable table name for any collection name: a sanitized prefix plus a hash.

    The prefix keeps tables recognizable in ``\\dt``; the hash of the full name keeps two names that
    sanitize alike (``"a b"``, ``"a-b"``) apart. The result is at most 63 bytes, PostgreSQL's limit.
    Identifiers are still always quoted through ``psycopg.sql``.
    """
    ascii_name = unicodedata.normalize("NFKD", collection).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("_", ascii_name.lower()).strip("_")[:40]
    digest = hashlib.sha256(collection.encode("utf-8")).hexdigest()[:12]
    return f"gv_{slug}_{digest}" if slug else f"gv_{digest}"
