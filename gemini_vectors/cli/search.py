"""``gemini-vectors search``: query a collection with text, an image, audio, video or a PDF."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gemini_vectors.errors import ConfigurationError, FilterError


def register(sub: Any) -> None:
    """Add the ``search`` subcommand."""
    parser = sub.add_parser(
        "search",
        help="search a collection with text, an image, audio, video or a PDF",
        description=(
            "Embed the query (text and/or one media file; several are combined into one query) and print "
            "the closest chunks: rank, score, source, modality and position."
        ),
    )
    parser.add_argument("query", nargs="?", default=None, help="query text")
    parser.add_argument("--image", type=Path, default=None, help="query with an image (PNG or JPEG)")
    parser.add_argument("--audio", type=Path, default=None, help="query with audio (MP3 or WAV)")
    parser.add_argument("--video", type=Path, default=None, help="query with a video (MP4 or MOV)")
    parser.add_argument("--pdf", type=Path, default=None, help="query with a PDF")
    parser.add_argument("--collection", required=True, help="collection to search")
    parser.add_argument("--store", default=None, help="store URL (default: embedded PostgreSQL + pgvector)")
    parser.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    parser.add_argument(
        "--filter", default=None, help='metadata filter as JSON, e.g. \'{"modality": "pdf"}\''
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--offline", action="store_true", help="use the built-in emulator even with an API key"
    )
    parser.set_defaults(func=cmd_search)


def _query(args: argparse.Namespace) -> Any:
    import gemini_vectors as gv

    parts: list[Any] = []
    if args.query is not None:
        if not args.query.strip():
            raise ConfigurationError("the query text is empty")
        parts.append(args.query)
    for cls, path in (
        (gv.Image, args.image),
        (gv.Audio, args.audio),
        (gv.Video, args.video),
        (gv.PDF, args.pdf),
    ):
        if path is not None:
            if not path.is_file():
                raise ConfigurationError(f"query file {str(path)!r} does not exist")
            parts.append(cls(path))
    if not parts:
        raise ConfigurationError("give a query text, or --image, --audio, --video or --pdf")
    return parts[0] if len(parts) == 1 else gv.Item(parts)


def _shown_source(source: object) -> str:
    """The source path relative to the working directory when it lies below it."""
    if not isinstance(source, str):
        return "-"
    try:
        return os.path.relpath(source) if Path(source).is_relative_to(Path.cwd()) else source
    except ValueError:  # another drive on Windows
        return source


def cmd_search(args: argparse.Namespace) -> int:
    """Search the collection and print a table, or JSON with ``--json``."""
    import gemini_vectors as gv
    from gemini_vectors.chunking import Position
    from gemini_vectors.cli.demo import gemini_client
    from gemini_vectors.errors import CollectionNotFoundError

    if args.k < 1:
        raise ConfigurationError(f"-k must be at least 1, got {args.k}")
    try:
        flt = json.loads(args.filter) if args.filter else None
    except json.JSONDecodeError as exc:
        raise FilterError(f"--filter is not valid JSON: {exc}") from exc
    query = _query(args)
    with gemini_client(args.offline) as client, gv.connect(args.store) as store:
        spec = store.stored_spec(args.collection)
        if spec is None:
            raise CollectionNotFoundError(
                f"no collection {args.collection!r} in {store.url}; index files with `gemini-vectors index`"
            )
        emb = gv.Embedder(model=spec.model, dimensions=spec.dimensions, client=client, progress=False)  # type: ignore[arg-type]
        collection = store.collection(args.collection, embedder=emb)
        matches = collection.search(query, k=args.k, filter=flt)

    rows = []
    for rank, m in enumerate(matches, 1):
        meta = dict(m.metadata)
        position = Position.from_metadata(meta)
        rows.append(
            {
                "rank": rank,
                "id": m.id,
                "score": round(float(m.score), 6),
                "source": meta.get("source"),
                "modality": meta.get("modality"),
                "mime_type": meta.get("mime_type"),
                "position": {"unit": position.unit, "start": position.start, "end": position.end},
                "metadata": meta,
            }
        )
    if args.json:
        json.dump({"collection": args.collection, "k": args.k, "results": rows}, sys.stdout, indent=2)
        print()
        return 0
    table = [("rank", "score", "source", "modality", "position")]
    for row, m in zip(rows, matches, strict=True):
        pos = Position.from_metadata(dict(m.metadata)).describe()
        table.append(
            (
                str(row["rank"]),
                f"{m.score:.4f}",
                _shown_source(row["source"]),
                str(row["modality"] or "-"),
                pos,
            )
        )
    _print_table(table)
    if not rows:
        print("no results", file=sys.stderr)
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
