"""How a collection's vectors are stored in Qdrant, planned from the spec and recorded with the collection.

A collection's plan (:class:`CollectionPlan`) has three parts: the storage of its vectors, its index
layout, and its search defaults.

Index layouts (the ``index=`` option, parsed by :func:`gemini_vectors.index_choice.parse_index`):

* ``hnsw`` (the default, and every collection made before layouts were recorded): one unnamed dense
  vector with the cosine distance and Qdrant's HNSW index on it.
* ``mrl:<d>`` (Matryoshka two-stage search): two named vectors, both cosine. :data:`PREFIX_VECTOR` holds
  the first ``d`` values of each vector and carries the HNSW graph; :data:`FULL_VECTOR` holds the whole
  vector with ``m=0`` (no graph is built for it, as Qdrant's multi-stage search guide shows) and on disk,
  since it is only read to re-rank. A query prefetches ``k * rerank_factor`` candidates through the graph
  of the prefix and re-ranks them on the full vector, in one ``query_points`` request.

Search defaults: ``ef_search`` (Qdrant's ``hnsw_ef``, the candidate list of one HNSW search; None leaves
Qdrant's default, which is the collection's ``ef_construct``, 100 unless configured).

Storage plans differ in what is kept in RAM (with ``mrl:<d>`` they apply to the prefix vector, and are
planned from ``d`` rather than the full size):

* ``float32``: the vectors as given. The plan for up to 1,535 dimensions.
* ``float16``: half-precision vectors (``datatype: float16``), half the memory; a stored vector reads back
  within ~1e-3 of the one written. Only on request.
* ``scalar``: int8 scalar quantization (quantile 0.99) in RAM, the float32 originals on disk, and every
  search rescored on the originals (oversampling 2).
* ``binary``: binary quantization (1 bit a dimension) in RAM, the float32 originals on disk, every search
  rescored on the originals with oversampling 3. Qdrant recommends binary quantization for embeddings of
  1,024 dimensions and more with rescoring; it is the plan for 1,536 dimensions and up (3,072-dim Gemini
  vectors take 384 bytes in RAM instead of 12 KB), and reads back the exact float32 vectors.

Qdrant's local mode keeps full-precision vectors and searches exactly (no HNSW) whatever the plan says;
storage and ``ef_search`` take effect on a server (an ``mrl:<d>`` layout runs its two stages in local mode
as well, the first one exactly on the prefix). The plan chosen is recorded in the collection's metadata
beside the spec, and the recorded one is used when the collection is opened again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from gemini_vectors.errors import ConfigurationError
from gemini_vectors.index_choice import IndexChoice, parse_index
from gemini_vectors.spec import EmbeddingSpec

Plan: TypeAlias = Literal["float32", "float16", "scalar", "binary"]
PLANS: tuple[Plan, ...] = ("float32", "float16", "scalar", "binary")
#: From this many dimensions on, ``auto`` picks binary quantization with rescoring.
BINARY_FROM_DIMENSIONS = 1536
OVERSAMPLING: dict[str, float] = {"scalar": 2.0, "binary": 3.0}
#: The index layouts Qdrant collections offer (see the module docstring).
INDEX_KINDS = ("hnsw", "mrl")
#: The names of the two vectors of an ``mrl:<d>`` collection (a ``hnsw`` one has one unnamed vector).
FULL_VECTOR = "full"
PREFIX_VECTOR = "prefix"
#: With ``mrl:<d>``, candidates taken from the prefix index per result asked for, then re-ranked on the
#: full vector: the re-ranking reads ``4 * k`` full vectors. A true neighbour the prefix ranks below
#: ``4 * k`` is missed; raise it (the ``rerank_factor`` option) for shorter prefixes.
DEFAULT_RERANK_FACTOR = 4
HNSW = IndexChoice("hnsw")


@dataclass(frozen=True)
class CollectionPlan:
    """What is recorded about how a collection is stored and searched (in its Qdrant metadata).

    Attributes:
        storage: The storage plan of the indexed vector.
        index: ``hnsw`` (one unnamed vector) or ``mrl:<d>`` (a full and a prefix named vector).
        ef_search: The collection's default ``hnsw_ef`` per query; None: Qdrant's default.
        rerank_factor: With ``mrl:<d>``, prefix candidates per result re-ranked on the full vector.
    """

    storage: Plan
    index: IndexChoice = field(default=HNSW)
    ef_search: int | None = None
    rerank_factor: int = DEFAULT_RERANK_FACTOR

    @property
    def prefix_dimensions(self) -> int | None:
        """How many leading dimensions the index holds with ``mrl:<d>``; None with ``hnsw``."""
        return self.index.prefix_dimensions if self.index.kind == "mrl" else None

    def to_dict(self) -> dict[str, Any]:
        """The plan's entries in the collection's gemini_vectors metadata."""
        out: dict[str, Any] = {"storage": self.storage, "index": str(self.index)}
        if self.index.kind == "mrl":
            out["rerank_factor"] = self.rerank_factor
        if self.ef_search is not None:
            out["ef_search"] = self.ef_search
        return out

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> CollectionPlan:
        """The plan recorded in ``entry``; a collection from before layouts were recorded is ``hnsw``.

        Raises:
            ConfigurationError: the recorded plan is not one this version knows (written by a newer one).
        """
        storage = str(entry.get("storage", "float32"))
        if storage not in PLANS:
            raise ConfigurationError(f"recorded storage plan {storage!r} is not one of {PLANS}")
        index = parse_index(entry.get("index", "hnsw"), kinds=INDEX_KINDS)
        ef_search = entry.get("ef_search")
        rerank_factor = entry.get("rerank_factor", DEFAULT_RERANK_FACTOR)
        for label, value in (("ef_search", ef_search), ("rerank_factor", rerank_factor)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"recorded {label} {value!r} is not a positive integer")
        return cls(storage, index, ef_search, int(rerank_factor))


def plan_for(spec: EmbeddingSpec, requested: str = "auto", *, indexed_dimensions: int | None = None) -> Plan:
    """The storage plan for ``spec``: ``requested`` when it names one, else the default for its size.

    Args:
        indexed_dimensions: The dimensions of the indexed vector when it is not the spec's (the prefix
            of an ``mrl:<d>`` layout): ``auto`` plans from it.

    Raises:
        ConfigurationError: ``requested`` is not ``auto`` or one of :data:`PLANS`.
    """
    if requested == "auto":
        dims = indexed_dimensions if indexed_dimensions is not None else spec.dimensions
        return "binary" if dims >= BINARY_FROM_DIMENSIONS else "float32"
    if requested not in PLANS:
        raise ConfigurationError(
            f"storage={requested!r} is not a Qdrant storage plan; use auto or one of {PLANS}"
        )
    return requested


def vectors_config(spec: EmbeddingSpec, plan: Plan | CollectionPlan) -> Any:
    """A new collection's ``vectors_config``: one ``VectorParams``, or two named ones with ``mrl:<d>``."""
    from qdrant_client import models

    layout = plan if isinstance(plan, CollectionPlan) else CollectionPlan(plan)
    storage = layout.storage
    quantized = storage in ("scalar", "binary")
    datatype = models.Datatype.FLOAT16 if storage == "float16" else models.Datatype.FLOAT32
    prefix = layout.prefix_dimensions
    if prefix is None:
        return models.VectorParams(
            size=spec.dimensions,
            distance=models.Distance.COSINE,
            datatype=datatype,
            # with quantized copies in RAM, the originals are only read to rescore: they may live on disk
            on_disk=True if quantized else None,
        )
    return {
        PREFIX_VECTOR: models.VectorParams(
            size=prefix,
            distance=models.Distance.COSINE,
            datatype=datatype,
            on_disk=True if quantized else None,
            quantization_config=quantization_config(storage),
        ),
        # no graph (m=0): the full vector is only read for the candidates the prefix index found, so it
        # lives on disk and costs no RAM for an index
        FULL_VECTOR: models.VectorParams(
            size=spec.dimensions,
            distance=models.Distance.COSINE,
            datatype=datatype,
            on_disk=True,
            hnsw_config=models.HnswConfigDiff(m=0),
        ),
    }


def collection_quantization_config(plan: CollectionPlan) -> Any:
    """The collection-wide ``quantization_config``: none with ``mrl:<d>`` (the prefix has its own)."""
    return quantization_config(plan.storage) if plan.prefix_dimensions is None else None


def quantization_config(plan: Plan) -> Any:
    """The ``quantization_config`` under storage ``plan`` (None: not quantized)."""
    from qdrant_client import models

    if plan == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    if plan == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None


def search_params(plan: str, ef_search: int | None = None) -> Any:
    """Search parameters of an HNSW search: ``hnsw_ef``, and rescoring where ``plan`` is quantized.

    None when there is nothing to set (Qdrant's defaults apply).
    """
    from qdrant_client import models

    quantization = (
        models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING[plan])
        if plan in OVERSAMPLING
        else None
    )
    if quantization is None and ef_search is None:
        return None
    return models.SearchParams(hnsw_ef=ef_search, quantization=quantization)
