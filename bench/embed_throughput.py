"""Embedding throughput: our Embedder against the naive loop, side by side in one run.

The emulator answers every call after a fixed latency (200 ms by default, about what the real API takes
for a full batch). It runs in a process of its own, as a real server would, so that its CPU time does not
share the client's interpreter lock. The naive loop is what LangChain's integration does: one
``embed_content`` call per 100 items, one after the other. Ours splits the same work into calls of at
most 100 requests and keeps ``max_concurrency`` of them in flight.

Beside the ratio it prints the ceiling that this machine puts on it, measured in the same run. Every
call costs the client CPU time inside the SDK (request validation, JSON, response models), and threads
in one interpreter take turns at that work. The naive loop does nothing but SDK calls, so its CPU time per
call is about the SDK's own cost. No client in one process can finish N calls faster than
``latency + N x (least CPU per call)``, and the ratio is read against that ceiling.

Run: python bench/embed_throughput.py [--items 2000] [--latency 0.2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass

import numpy as np
from _emulator import EmulatorProcess, emulator_process  # type: ignore[import-not-found]
from google import genai
from google.genai import types

from gemini_vectors import Embedder


def naive_loop(client: genai.Client, items: list[str], dimensions: int) -> np.ndarray:
    rows = []
    for start in range(0, len(items), 100):
        batch = [types.Content(parts=[types.Part.from_text(text=t)]) for t in items[start : start + 100]]
        response = client.models.embed_content(
            model="gemini-embedding-2",
            contents=batch,  # type: ignore[arg-type]
            config=types.EmbedContentConfig(output_dimensionality=dimensions),
        )
        rows.extend(e.values for e in response.embeddings or [])
    return np.asarray(rows, dtype=np.float32)


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    client_cpu: float  # this process's CPU time, all threads
    emulator_cpu: float | None  # the emulator process's CPU time, where /proc tells


def timed(
    label: str, emulator: EmulatorProcess, items: int, calls: int, run: Callable[..., Sized], *args: object
) -> Run:
    emulator_start = emulator.cpu_seconds()
    start, cpu_start = time.perf_counter(), time.process_time()
    out = run(*args)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    emulator_end = emulator.cpu_seconds()
    assert len(out) == items
    emulator_cpu = None if emulator_start is None or emulator_end is None else emulator_end - emulator_start
    server = "" if emulator_cpu is None else f", emulator {emulator_cpu / calls * 1000:.0f} ms"
    print(
        f"{label:40} {items / seconds:7.0f} items/s  ({calls} calls in {seconds:.2f}s; "
        f"CPU per call: client {cpu / calls * 1000:.0f} ms{server})"
    )
    return Run(seconds, cpu, emulator_cpu)


def print_ceiling(naive: Run, ours: dict[str, Run], calls: int, latency: float) -> None:
    """The most any client in one process could gain over the naive loop here, and how close we came.

    Each call needs client CPU (in one interpreter, so one call's worth at a time) and emulator CPU (the
    same), and both share the machine's cores: ``calls`` calls cannot end before the last call's latency
    plus ``calls`` times the larger of the two, or of their sum spread over the cores. The least CPU per
    call seen in any run is used, so the ceiling errs high.
    """
    runs = [naive, *ours.values()]
    client = min(r.client_cpu for r in runs) / calls
    emulator_cpus = [r.emulator_cpu for r in runs if r.emulator_cpu is not None]
    server = min(emulator_cpus) / calls if emulator_cpus else 0.0
    cores = os.cpu_count() or 1
    per_call = max(client, server, (client + server) / cores)
    ceiling = naive.seconds / (latency + calls * per_call)
    for name, run in ours.items():
        ratio = naive.seconds / run.seconds
        print(
            f"ratio {name + '/naive:':14} {ratio:.2f}x  (target >= 5x; {ratio / ceiling:.0%} of the ceiling)"
        )
    floor = latency + calls * per_call
    print(f"ceiling here: {ceiling:.2f}x. A call costs at least {client * 1000:.0f} ms of client CPU,")
    print(f"nearly all of it in the SDK, and {server * 1000:.0f} ms in the emulator, on {cores} cores:")
    print(f"{calls} calls take at least {latency:.1f}s + {calls} x {per_call * 1000:.0f} ms = {floor:.2f}s.")


def main() -> None:
    parser = argparse.ArgumentParser(description="Embedder throughput against the naive loop")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--dimensions", type=int, nargs="+", default=[256, 768])
    args = parser.parse_args()
    items = [f"document {i} about subject {i % 13} and detail {i % 17}" for i in range(args.items)]
    calls = -(-args.items // 100)
    with emulator_process(args.latency) as emulator:
        client = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=emulator.base_url))
        for dims in args.dimensions:
            print(f"\nitems={args.items} latency={args.latency * 1000:.0f}ms/call dims={dims}")
            emb = Embedder(dimensions=dims, client=client, max_concurrency=args.concurrency)
            label = f"(max_concurrency={args.concurrency})"
            naive = timed(
                "naive loop (sequential, 100 per call)",
                emulator,
                args.items,
                calls,
                naive_loop,
                client,
                items,
                dims,
            )
            ours = {
                "embed": timed(f"Embedder.embed {label}", emulator, args.items, calls, emb.embed, items),
                "aembed": timed(
                    f"Embedder.aembed {label}", emulator, args.items, calls, asyncio.run, emb.aembed(items)
                ),
            }
            print_ceiling(naive, ours, calls, args.latency)


if __name__ == "__main__":
    main()
