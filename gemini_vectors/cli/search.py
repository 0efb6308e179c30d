"""``gemini-vectors search``: query a collection with text, an image, audio, video or a PDF.

A collection kept by ``gemini-vectors sync`` is a logical name that resolves, through the alias in the
sync's state tables, to the physical collection a re-embed switched to (``products`` -> ``products_v2``).
The search follows that alias whenever it finds the state: in ``--source`` (default
``$GEMINI_VECTORS_SOURCE``, the database the sync read, with the same ``--state-schema``), else in the
store's own database when the store is PostgreSQL (the embedded default included), which is where the
state is when the table and the vectors share a database. With ``--source`` and no ``--store`` it searches
the store the job recorded. Only reads: no state table is created.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemini_vectors.cli.extras import require
from gemini_vectors.cli.sync import SOURCE_ENV, add_state_options, job_state, store_for_job
from gemini_vectors.errors import ConfigurationError, FilterError

if TYPE_CHECKING:
    from gemini_vectors.store import VectorStore
    from gemini_vectors.sync.state import JobRecord


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
    parser.add_argument(
        "--collection", required=True, help="collection to search (a sync's alias is followed)"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="store URL (default: the sync job's store with --source, else embedded PostgreSQL + pgvector)",
    )
    add_state_options(
        parser,
        source_help=f"database of the sync whose alias names the collection (default: ${SOURCE_ENV}, "
        "else the store's database when it is PostgreSQL)",
    )
    parser.add_argument("--name", help="the sync job, when several write the collection")
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


def _pick_job(args: argparse.Namespace, jobs: list[JobRecord]) -> JobRecord | None:
    """The one sync job that keeps ``--collection`` (``--name`` picks among several)."""
    if args.name:
        jobs = [j for j in jobs if j.job == args.name]
        if not jobs:
            raise ConfigurationError(f"no sync job {args.name!r} keeps collection {args.collection!r}")
    if len({(j.physical, j.spec) for j in jobs}) > 1:
        raise ConfigurationError(
            f"several sync jobs keep collection {args.collection!r} "
            f"({', '.join(sorted(j.job for j in jobs))}): pass --name JOB"
        )
    return jobs[0] if jobs else None


def _job_in_source(args: argparse.Namespace) -> JobRecord | None:
    """The sync job of ``--collection`` in the state tables of ``--source`` (read only)."""
    require("gemini-vectors search --source", "sqlalchemy")
    with job_state(args) as state:
        return _pick_job(args, state.jobs_for_collection(args.collection))


def _job_in_store_database(args: argparse.Namespace, store: VectorStore) -> JobRecord | None:
    """The sync job of ``--collection`` in the state tables of the store's own database, when the store
    is PostgreSQL (where a sync whose table shares the database keeps its state); None otherwise."""
    url = _store_database_url(args.store)
    if url is None:
        return None
    from gemini_vectors.sync.source import create_engine
    from gemini_vectors.sync.state import SyncState

    engine = create_engine(url)
    try:
        return _pick_job(args, SyncState(engine, args.state_schema).jobs_for_collection(args.collection))
    finally:
        engine.dispose()


def _store_database_url(store: str | None) -> str | None:
    """The SQLAlchemy URL of a PostgreSQL store's database (its gemini-vectors options taken out), or None
    when the store is not PostgreSQL or SQLAlchemy is not installed (then no sync state can be read)."""
    import importlib.util

    scheme = "postgresql+embedded" if store is None else store.partition("://")[0]
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+embedded"):
        return None
    if (
        importlib.util.find_spec("sqlalchemy") is None
        or importlib.util.find_spec("gemini_vectors_pgvector") is None
    ):
        return None
    from gemini_vectors_pgvector.connect import split_options

    return split_options(store or "postgresql+embedded://")[0]


def _physical(args: argparse.Namespace, rec: JobRecord | None, store: VectorStore) -> str:
    """The collection to open: the alias's physical one for a synced collection, else ``--collection``."""
    if rec is None:
        return args.collection  # type: ignore[no-any-return]
    if rec.physical != args.collection:
        print(
            f"collection {args.collection!r} is {rec.physical!r} ({rec.spec.describe()}), "
            f"through the alias of sync job {rec.job!r}",
            file=sys.stderr,
        )
    return rec.physical


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
    rec = _job_in_source(args) if args.source else None
    store_url = store_for_job(args, rec)
    with gemini_client(args.offline) as client, gv.connect(store_url) as store:
        if not args.source:
            rec = _job_in_store_database(args, store)
        physical = _physical(args, rec, store)
        spec = store.stored_spec(physical)
        if spec is None and rec is not None:
            raise CollectionNotFoundError(
                f"sync job {rec.job!r} keeps collection {args.collection!r} as {rec.physical!r}, which is "
                f"not in {store.url}: search the store the job writes to ({rec.store_url}) with --store"
            )
        if spec is None:
            hint = (
                f"; if a sync keeps it, pass the sync's database with --source URL (or ${SOURCE_ENV}) so "
                "the search follows its alias"
                if not args.source
                else ""
            )
            raise CollectionNotFoundError(
                f"no collection {args.collection!r} in {store.url}; index files with `gemini-vectors index`"
                + hint
            )
        emb = gv.Embedder(model=spec.model, dimensions=spec.dimensions, client=client, progress=False)  # type: ignore[arg-type]
        collection = store.collection(physical, embedder=emb, create=False)
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
        shown = {"collection": args.collection, "physical": collection.name, "k": args.k, "results": rows}
        json.dump(shown, sys.stdout, indent=2)
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
