"""What the check before each request costs a handle on a collection made before incarnations.

Prints the median query time of an incarnated collection (no check) and a legacy one (one metadata read
before each query) side by side, on qdrant-client's local mode (or the URL given as the first argument).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import gemini_vectors as gv
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.contract import make_records, unit_vectors
from qdrant_client import models

from gemini_vectors_qdrant import QdrantStore
from gemini_vectors_qdrant.store import METADATA_KEY

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)


def median_ms(coll: object, queries: int = 300) -> float:
    probes = unit_vectors(queries, seed=7)
    times = []
    for q in probes:
        start = time.perf_counter()
        coll.query(q, k=10)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"qdrant+local://{tempfile.mkdtemp()}"
    with gv.connect(url) as store:
        assert isinstance(store, QdrantStore)
        store.client.create_collection(
            "bench_legacy",
            vectors_config=models.VectorParams(size=128, distance=models.Distance.COSINE),
            metadata={METADATA_KEY: {"format": 1, "name": "bench_legacy", "spec": SPEC.to_dict()}},
        )
        legacy = store.open_collection("bench_legacy", SPEC)
        fresh = store.open_collection("bench_incarnated", SPEC)
        records = make_records(2000, seed=1)
        legacy.upsert(records)
        fresh.upsert(records)
        for _ in range(2):  # interleaved rounds, so neither side meets a warmer cache
            without, with_check = median_ms(fresh), median_ms(legacy)
        print(f"query p50, incarnated (no check): {without:.3f} ms")
        print(f"query p50, legacy (check first):  {with_check:.3f} ms  ({with_check / without:.2f}x)")
        store.drop_collection("bench_legacy")
        store.drop_collection("bench_incarnated")


if __name__ == "__main__":
    main()
