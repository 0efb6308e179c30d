"""How a collection's vectors are stored and indexed, planned from its embedding spec.

pgvector's column types hold up to 16,000 dimensions, but its HNSW index covers ``vector`` only up to
2,000 and ``halfvec`` up to 4,000. A 3,072-dim Gemini vector therefore goes into a ``halfvec`` column to be
indexable, or into a full-precision ``vector`` column with a binary-quantized index and exact re-ranking,
or is indexed by a Matryoshka prefix (``mrl:<d>``): an index on its first ``d`` dimensions (pgvector's
README, "Indexing Subvectors"), kept in a generated column, whose candidates are re-ranked on the full
vector.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from gemini_vectors.errors import ConfigurationError
from gemini_vectors.index_choice import INDEX_KINDS, IndexChoice, IndexKind, parse_index

__all__ = ["INDEX_KINDS", "IndexKind", "StoragePlan", "plan_storage", "table_name_for"]

ColumnType = Literal["vector", "halfvec"]

#: pgvector's limits on indexed dimensions (HNSW and IVFFlat alike).
MAX_INDEXED_VECTOR_DIMS = 2000
MAX_INDEXED_HALFVEC_DIMS = 4000
MAX_INDEXED_BIT_DIMS = 64000
#: pgvector's limit on the dimensions of a ``vector``/``halfvec`` column.
MAX_COLUMN_DIMS = 16000

#: Candidates fetched through the binary index per result, then re-ranked by exact distance.
DEFAULT_RERANK_FACTOR = 10
#: The same through a Matryoshka prefix index, which ranks far better than sign bits: 4 kept recall@10
#: within 0.01 of full halfvec HNSW on the bench's 3,072-dim data, and 10 made the planner trade a
#: filtered search's index scan for a full scan (LIMIT 100 through a 25% filter).
DEFAULT_MRL_RERANK_FACTOR = 4
#: pgvector's cap on ``hnsw.ef_search``.
MAX_EF_SEARCH = 1000
#: The HNSW candidate list of a query when the collection sets none: recall@10 >= 0.95 on the search
#: bench's clustered data (50,000 x 768, m=16, ef_construction=64), where pgvector's 40 gives 0.73.
DEFAULT_EF_SEARCH = 100


@dataclass(frozen=True)
class StoragePlan:
    """The column type and index of one collection, recorded beside its spec in the registry table.

    Attributes:
        column_type: ``vector`` (float32) or ``halfvec`` (float16) for the embedding column.
        dimensions: Vector length, the spec's dimensions.
        index: ``hnsw`` (on the column), ``binary`` (HNSW on ``binary_quantize(v)::bit(d)`` with exact
            re-ranking), ``mrl`` (HNSW on ``subvector(v, 1, p)::halfvec(p)`` with exact re-ranking) or
            ``none`` (exact scan).
        opclass: The index's operator class, None without an index.
        hnsw_m: HNSW ``m`` (graph degree).
        hnsw_ef_construction: HNSW ``ef_construction``.
        rerank_factor: With a binary or prefix index, candidates fetched per requested result.
        prefix_dimensions: With ``mrl``, how many leading dimensions the index holds.
        ef_search: The collection's HNSW candidate list per query; None: :data:`DEFAULT_EF_SEARCH`.
    """

    column_type: ColumnType
    dimensions: int
    index: IndexKind
    opclass: str | None
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    rerank_factor: int = DEFAULT_RERANK_FACTOR
    prefix_dimensions: int | None = None
    ef_search: int | None = None

    @property
    def effective_ef_search(self) -> int:
        """The collection's candidate list per query, its own or the default."""
        return self.ef_search if self.ef_search is not None else DEFAULT_EF_SEARCH

    @property
    def index_choice(self) -> IndexChoice:
        """The ``index=`` option this plan was made for."""
        return IndexChoice(self.index, self.prefix_dimensions)

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
        prefix = data.get("prefix_dimensions")
        ef_search = data.get("ef_search")
        if index == "mrl" and prefix is None:
            raise ConfigurationError(f"unreadable storage plan in the registry table: {dict(data)!r}")
        return cls(
            column_type=cast(ColumnType, column),
            dimensions=int(data["dimensions"]),
            index=cast(IndexKind, index),
            opclass=data.get("opclass"),
            hnsw_m=int(data.get("hnsw_m", 16)),
            hnsw_ef_construction=int(data.get("hnsw_ef_construction", 64)),
            rerank_factor=int(data.get("rerank_factor", DEFAULT_RERANK_FACTOR)),
            prefix_dimensions=None if prefix is None else int(prefix),
            ef_search=None if ef_search is None else int(ef_search),
        )


def plan_storage(
    dimensions: int,
    index: IndexKind | IndexChoice | str = "hnsw",
    *,
    hnsw_m: int = 16,
    hnsw_ef_construction: int = 64,
    rerank_factor: int | None = None,
    ef_search: int | None = None,
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

    ``index="mrl:<p>"`` keeps the full vector in the column ``hnsw`` would use (``vector(d)`` beyond 4,000
    dims) and its prefix ``subvector(embedding, 1, p)::halfvec(p)`` in a generated column
    ``embedding_prefix``, with the HNSW index (``halfvec_cosine_ops``) on that column:
    an index about ``d / p`` times smaller (twice that against a float32 column) and as many times cheaper
    to build, whose ``rerank_factor * k`` candidates are re-ranked by exact distance on the full vector.

    The cosine operator classes match the store's metric (``<=>``, scores are ``1 - distance``); a
    prefix's cosine normalizes the prefix, so it is the prefix's own similarity.

    Raises:
        ConfigurationError: unknown index kind, dimensions out of pgvector's range, too many
            dimensions for an HNSW index on the column (the message suggests ``index="binary"``), or a
            Matryoshka prefix not shorter than the vector.
    """
    choice = parse_index(index)
    index = choice.kind
    if rerank_factor is None:
        rerank_factor = DEFAULT_MRL_RERANK_FACTOR if index == "mrl" else DEFAULT_RERANK_FACTOR
    if not 1 <= dimensions <= MAX_COLUMN_DIMS:
        raise ConfigurationError(f"pgvector stores 1..{MAX_COLUMN_DIMS} dimensions, not {dimensions}")
    if ef_search is not None and not 1 <= ef_search <= MAX_EF_SEARCH:
        raise ConfigurationError(f"ef_search must be 1..{MAX_EF_SEARCH} (pgvector's cap), not {ef_search}")
    tuning: dict[str, Any] = {
        "hnsw_m": hnsw_m,
        "hnsw_ef_construction": hnsw_ef_construction,
        "rerank_factor": rerank_factor,
        "ef_search": ef_search,
    }
    if index == "mrl":
        choice.check_dimensions(dimensions)
        prefix = choice.prefix_dimensions
        assert prefix is not None
        if prefix > MAX_INDEXED_HALFVEC_DIMS:
            raise ConfigurationError(
                f"index='mrl:{prefix}': pgvector's HNSW index covers at most {MAX_INDEXED_HALFVEC_DIMS} "
                "dimensions (halfvec); choose a shorter prefix"
            )
        column: ColumnType = (
            "halfvec" if MAX_INDEXED_VECTOR_DIMS < dimensions <= MAX_INDEXED_HALFVEC_DIMS else "vector"
        )
        return StoragePlan(
            column, dimensions, "mrl", "halfvec_cosine_ops", prefix_dimensions=prefix, **tuning
        )
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
_INCARNATION = re.compile(r"[0-9a-f]{1,8}")


def table_name_for(collection: str, incarnation: str | None = None) -> str:
    """A safe table name for any collection name: a sanitized prefix, a hash, and the incarnation.

    The prefix keeps tables recognizable in ``\\dt``; the hash of the full name keeps two names that
    sanitize alike (``"a b"``, ``"a-b"``) apart. ``incarnation`` (a few hex digits, new for each
    creation) keeps a collection created again under a dropped one's name in a table of its own. The
    result leaves room within PostgreSQL's 63 bytes for the index suffixes (``_hnsw``, ``_gin``).
    Identifiers are still always quoted through ``psycopg.sql``.
    """
    if incarnation is not None and not _INCARNATION.fullmatch(incarnation):
        raise ValueError(f"an incarnation is 1 to 8 lowercase hex digits, got {incarnation!r}")
    ascii_name = unicodedata.normalize("NFKD", collection).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("_", ascii_name.lower()).strip("_")[: 40 if incarnation is None else 31]
    digest = hashlib.sha256(collection.encode("utf-8")).hexdigest()[:12]
    suffix = "" if incarnation is None else f"_{incarnation}"
    return f"gv_{slug}_{digest}{suffix}" if slug else f"gv_{digest}{suffix}"
