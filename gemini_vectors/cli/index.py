"""``gemini-vectors index``: index files of any modality into a collection (:mod:`gemini_vectors.ingest`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_MODEL = "gemini-embedding-2"
DEFAULT_DIMENSIONS = 768


def register(sub: Any) -> None:
    """Add the ``index`` subcommand."""
    parser = sub.add_parser(
        "index",
        help="index text, HTML, PDF, image, audio and video files into a collection",
        description=(
            "Walk files and folders, cut each file into chunks the model accepts (text by tokens, PDFs by "
            "6 pages, audio and video into overlapping segments), embed and store them with their source "
            "and position. Unchanged files are skipped on re-runs."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    parser.add_argument("--collection", required=True, help="collection to index into (created if missing)")
    parser.add_argument("--store", default=None, help="store URL (default: embedded PostgreSQL + pgvector)")
    parser.add_argument(
        "--model", default=None, help=f"embedding model (default: the collection's, else {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--dimensions",
        type=int,
        default=None,
        help=f"vector size (default: the collection's, else {DEFAULT_DIMENSIONS})",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="token budget of a text chunk (default: the model's limit)",
    )
    parser.add_argument(
        "--segment-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help=(
            "cut audio and video into segments of at most SECONDS (default: as long as the model allows, "
            "120 s of video, 180 s of audio); at most 32 frames are sampled per video segment, so e.g. 30 "
            "gives finer time resolution for more requests. A changed value re-indexes the media it affects"
        ),
    )
    parser.add_argument("--hidden", action="store_true", help="also index hidden files and folders")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete the records of files indexed under PATH that no longer exist",
    )
    parser.add_argument(
        "--offline", action="store_true", help="use the built-in emulator even with an API key"
    )
    parser.set_defaults(func=cmd_index)


def cmd_index(args: argparse.Namespace) -> int:
    """Index the paths; print failures and a summary. Exit status 1 when a file failed or a folder
    could not be read (the rest is indexed all the same)."""
    import gemini_vectors as gv
    from gemini_vectors.cli.demo import gemini_client
    from gemini_vectors.errors import ConfigurationError
    from gemini_vectors.ingest import Indexer, escape_path

    if args.max_tokens is not None and args.max_tokens < 1:
        raise ConfigurationError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    with gemini_client(args.offline) as client, gv.connect(args.store) as store:
        print(f"store: {store.url}", file=sys.stderr)
        stored = store.stored_spec(args.collection)
        if stored is not None and args.model in (None, stored.model):
            model, dimensions = stored.model, args.dimensions or stored.dimensions
        else:
            model, dimensions = args.model or DEFAULT_MODEL, args.dimensions or DEFAULT_DIMENSIONS
        emb = gv.Embedder(model=model, dimensions=dimensions, client=client, progress=False)  # type: ignore[arg-type]
        collection = store.collection(args.collection, embedder=emb)
        indexer = Indexer(
            collection,
            max_text_tokens=args.max_tokens,
            segment_seconds=args.segment_seconds,
            include_hidden=args.hidden,
        )
        try:
            report = indexer.index(args.paths, prune=args.prune)
        except FileNotFoundError as exc:  # --prune under a path that is not there
            print(f"gemini-vectors: error: {exc}", file=sys.stderr)
            return 2
        # paths are printed escaped: a file name that is not valid text cannot be written to a strict stream
        for result in report.skipped + report.failed:
            print(f"{result.status}: {escape_path(result.path)}: {result.reason}", file=sys.stderr)
        for folder in report.unreadable:
            print(f"unreadable: {escape_path(folder.path)}: {folder.reason}", file=sys.stderr)
        for source in report.pruned:
            print(f"pruned: {source}: no longer exists", file=sys.stderr)
        print(report.summary())
        print(f"collection {collection.name!r}: {collection.count()} records ({collection.spec.describe()})")
    return 0 if report.ok else 1
