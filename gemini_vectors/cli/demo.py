"""``gemini-vectors demo``: the quickstart, on the embedded default store."""

from __future__ import annotations

import argparse
import contextlib
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from typing import Any


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    demo = sub.add_parser("demo", help="index a few texts and an image, then search (the quickstart)")
    demo.add_argument("--store", default=None, help="store URL (default: embedded PostgreSQL + pgvector)")
    demo.add_argument("--collection", default="quickstart")
    demo.add_argument("--model", default="gemini-embedding-2")
    demo.add_argument("--dimensions", type=int, default=768)
    demo.add_argument("--offline", action="store_true", help="use the built-in emulator even with an API key")
    demo.set_defaults(func=cmd_demo)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG made with the stdlib, so the demo needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@contextlib.contextmanager
def gemini_client(offline: bool) -> Iterator[object | None]:
    """The SDK client to use: None (the environment's key) or one pointed at a local emulator."""
    has_key = bool(os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))
    if has_key and not offline:
        yield None
        return
    from gemini_vectors.testing import GeminiEmulator

    print(
        "No GEMINI_API_KEY set (or --offline): using the built-in Gemini API emulator on 127.0.0.1.\n"
        "Its vectors are deterministic stand-ins; set GEMINI_API_KEY to use the real model.\n",
        file=sys.stderr,
    )
    with GeminiEmulator() as emulator:
        yield emulator.client(api_key="offline-demo")


def cmd_demo(args: argparse.Namespace) -> int:
    """Index a few texts and an image into a store, then search them."""
    import gemini_vectors as gv
    from gemini_vectors.content import Image

    texts = [
        "A cat sleeping on a sunny windowsill",
        "Stock markets fell sharply after the rate decision",
        "How to bake sourdough bread at home",
        "The kitten curled up and slept in the warm sun",
        "Central bank raises interest rates again",
    ]
    with gemini_client(args.offline) as client:
        emb = gv.Embedder(model=args.model, dimensions=args.dimensions, client=client)  # type: ignore[arg-type]
        with gv.connect(args.store) as store:
            print(f"store: {store.url}", file=sys.stderr)
            docs = store.collection(args.collection, embedder=emb)
            ids = docs.add(
                [*texts, Image(data=_png(8, 8, (200, 40, 40)))],
                ids=[f"t{i}" for i in range(len(texts))] + ["red-square"],
                metadata=[{"kind": "text"}] * len(texts) + [{"kind": "image"}],
            )
            print(
                f"collection {docs.name!r}: {docs.count()} items ({docs.spec.describe()}); added {len(ids)}"
            )
            for query in ("a sleepy cat", "interest rates"):
                print(f"\nsearch: {query!r}")
                for rank, match in enumerate(docs.search(query, k=3, filter={"kind": "text"}), 1):
                    print(f"  {rank}. {match.score:.3f}  {match.id}")
    return 0
