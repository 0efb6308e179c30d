"""Incremental sync against re-embedding the whole table, side by side in one run.

A table of ``--rows`` rows lives in an embedded PostgreSQL; ``--changed`` percent of them change between
runs. The naive refresh re-embeds every row and upserts it (what a cron job without content hashes does);
``Vectorizer.sync`` reads the table, compares content hashes with the store, and embeds only the changed
rows. The Gemini emulator runs in a process of its own with ``--latency`` seconds per call, about what the
real API takes for a full batch, and counts the requests each approach sends.

Run: python bench/sync_incremental.py [--rows 5000] [--changed 1] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from _emulator import emulator_process  # type: ignore[import-not-found]

import gemini_vectors as gv
from gemini_vectors.store import Record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--changed", type=float, default=1.0, help="percent of rows changed between runs")
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()

    from google import genai
    from google.genai import types
    from pgserver.postgres_server import get_server

    tmp = Path(tempfile.mkdtemp(prefix="gv-bench-sync-"))
    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        url = str(server.get_uri())
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE docs (id bigint PRIMARY KEY, body text)")
            with conn.cursor() as cur, cur.copy("COPY docs FROM STDIN") as copy:
                for i in range(args.rows):
                    copy.write_row((i, f"row {i} about topic {i % 101} and {i % 37}"))
        with emulator_process(args.latency) as emulator:
            client = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=emulator.base_url))
            emb = gv.Embedder(dimensions=768, client=client, progress=False)
            vec = gv.Vectorizer(
                "postgresql+psycopg://" + url.split("://", 1)[1],
                "docs",
                columns=["body"],
                store="memory://bench",
                embedder=emb,
                progress=False,
            )
            t0 = time.perf_counter()
            first = vec.sync()
            t_first = time.perf_counter() - t0

            changed = max(1, int(args.rows * args.changed / 100))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE docs SET body = body || ' (edited)' WHERE id < %s", [changed])

            t0 = time.perf_counter()
            incremental = vec.sync()
            t_sync = time.perf_counter() - t0

            # the naive refresh: every row embedded and written again
            t0 = time.perf_counter()
            with psycopg.connect(url) as conn:
                rows = conn.execute("SELECT id, body FROM docs ORDER BY id").fetchall()
            vectors = emb.embed_documents([body for _, body in rows])
            backend = vec.collection().backend
            backend.upsert([Record(str(i), v) for (i, _), v in zip(rows, vectors, strict=True)])
            t_naive = time.perf_counter() - t0
        print(f"rows {args.rows}, changed {changed}, emulator latency {args.latency * 1000:.0f} ms per call")
        print(f"first sync:          {t_first:7.2f} s  ({first})")
        print(f"incremental sync:    {t_sync:7.2f} s  ({incremental})")
        print(f"naive full refresh:  {t_naive:7.2f} s  ({args.rows} rows embedded again)")
        print(
            f"naive / incremental: {t_naive / t_sync:7.1f}x time, "
            f"{args.rows / max(1, incremental.embedded):.0f}x requests"
        )
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
