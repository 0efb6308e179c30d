"""How a collection's vectors are stored in Qdrant, planned from the spec and recorded with the collection.

Every plan uses one unnamed dense vector with the cosine distance (scores are cosine similarities) and
Qdrant's HNSW index. They differ in what is kept in RAM:

* ``float32``: the vectors as given. The plan for up to 1,535 dimensions.
* ``float16``: half-precision vectors (``datatype: float16``), half the memory; a stored vector reads back
  within ~1e-3 of the one written. Only on request.
* ``scalar``: int8 scalar quantization (quantile 0.99) in RAM, the float32 originals on disk, and every
  search rescored on the originals (oversampling 2).
* ``binary``: binary quantization (1 bit a dimension) in RAM, the float32 originals on disk, every search
  rescored on the originals with oversampling 3. Qdrant recommends binary quantization for embeddings of
  1,024 dimensions and more with rescoring; it is the plan for 1,536 dimensions and up (3,072-dim Gemini
  vectors take 384 bytes in RAM instead of 12 KB), and reads back the exact float32 vectors.

Qdrant's local mode keeps full-precision vectors and searches exactly whatever the plan says; the plan
takes effect on a server. The plan chosen is recorded in the collection's metadata beside the spec, and
the recorded one is used when the collection is opened again.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from gemini_vectors.errors import ConfigurationError
from gemini_vectors.spec import EmbeddingSpec

Plan: TypeAlias = Literal["float32", "float16", "scalar", "binary"]
PLANS: tuple[Plan, ...] = ("float32", "float16", "scalar", "binary")
#: From this many dimensions on, ``auto`` picks binary quantization with rescoring.
BINARY_FROM_DIMENSIONS = 1536
OVERSAMPLING: dict[str, float] = {"scalar": 2.0, "binary": 3.0}


def plan_for(spec: EmbeddingSpec, requested: str = "auto") -> Plan:
    """The storage plan for ``spec``: ``requested`` when it names one, else the default for its size.

    Raises:
        ConfigurationError: ``requested`` is not ``auto`` or one of :data:`PLANS`.
    """
    if requested == "auto":
        return "binary" if spec.dimensions >= BINARY_FROM_DIMENSIONS else "float32"
    if requested not in PLANS:
        raise ConfigurationError(
            f"storage={requested!r} is not a Qdrant storage plan; use auto or one of {PLANS}"
        )
    return requested


def vectors_config(spec: EmbeddingSpec, plan: Plan) -> Any:
    """The ``VectorParams`` of a new collection under ``plan``."""
    from qdrant_client import models

    quantized = plan in ("scalar", "binary")
    return models.VectorParams(
        size=spec.dimensions,
        distance=models.Distance.COSINE,
        datatype=models.Datatype.FLOAT16 if plan == "float16" else models.Datatype.FLOAT32,
        # with quantized copies in RAM, the originals are only read to rescore: they may live on disk
        on_disk=True if quantized else None,
    )


def quantization_config(plan: Plan) -> Any:
    """The collection's ``quantization_config`` under ``plan`` (None: not quantized)."""
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


def search_params(plan: str) -> Any:
    """Search parameters for a collection stored under ``plan``: rescoring where it is quantized."""
    from qdrant_client import models

    if plan not in OVERSAMPLING:
        return None
    return models.SearchParams(
        quantization=models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING[plan])
    )
