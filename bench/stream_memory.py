"""Peak memory while streaming many items into a collection: it must stay flat, whatever the count.

Adds ``--items`` (default 200,000) small texts from a generator through the real SDK and the Gemini API
emulator (in a child process, like a real server) into a store that keeps nothing but a count, and
prints the process's resident memory at the start, its peak, and the difference. The target is a peak
within 200 MB of the start.

Run: python bench/stream_memory.py [--items 200000] [--dimensions 128]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Iterator

from _emulator import emulator_process  # type: ignore[import-not-found]
from google import genai
from google.genai import types

import gemini_vectors as gv
from gemini_vectors.testing.counting import CountingCollection


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description="peak RSS while streaming items into a collection")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dimensions", type=int, default=128)
    args = parser.parse_args()
    with emulator_process(0.0) as emulator:
        client = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=emulator.base_url))
        emb = gv.Embedder(dimensions=args.dimensions, client=client, progress=False)
        sink = CountingCollection(emb.spec)
        coll = gv.Collection(sink, emb)
        emb.embed(["warm up"])
        start_rss = rss_mib()
        peak = start_rss
        started = time.perf_counter()

        def items() -> Iterator[str]:
            nonlocal peak
            for i in range(args.items):
                if i % 5000 == 0:
                    peak = max(peak, rss_mib())
                yield f"streamed item {i} about w{i % 97} and v{i % 89}"

        coll.add(items())
        peak = max(peak, rss_mib())
        seconds = time.perf_counter() - started
    print(f"items streamed: {sink.written:,} in {seconds:.0f}s ({sink.written / seconds:,.0f} items/s)")
    print(f"RSS at start: {start_rss:8.1f} MiB")
    print(f"RSS peak:     {peak:8.1f} MiB")
    print(f"growth:       {peak - start_rss:8.1f} MiB (target: within 200 MiB)")


if __name__ == "__main__":
    main()
