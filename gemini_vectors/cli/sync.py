"""``gemini-vectors sync``: embed a table of an existing database into a store, and keep it in step.

Examples::

    gemini-vectors sync --source postgresql://app@db/shop --table products \\
        --columns name,description,photo:bytes --metadata-columns category \\
        --store postgresql://app@db/shop --model gemini-embedding-2 --dimensions 768
    gemini-vectors sync ... --dry-run           # rows to embed, tokens and cost by modality
    gemini-vectors sync ... --watch --workers 4 # triggers + queue + workers (PostgreSQL sources)
    gemini-vectors sync ... --status            # queue depth, errors, throughput

Options left out are taken from the job an earlier sync recorded (its store, columns, metadata columns,
id column and path root), so ``--status``, ``--retry-errors`` and ``--unwatch`` need only ``--source``
and ``--table``, and never change the job. A recorded store URL whose password was redacted must be
passed again with ``--store``.

Exit status: 0 when every row is in step, 1 when some rows failed (they are in the errors table; see
``--status``), 2 on an error that stopped the run: a wrong option (fix the command), or the API or the
store failing (progress is kept: run it again to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_vectors.sync.state import JobRecord, SyncState
    from gemini_vectors.sync.vectorizer import SyncSummary, Vectorizer

SOURCE_ENV = "GEMINI_VECTORS_SOURCE"
STORE_ENV = "GEMINI_VECTORS_STORE"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_common(parser: argparse.ArgumentParser, *, table_required: bool) -> None:
    """The options that name the source, the store and the state (shared with ``reembed``)."""
    parser.add_argument(
        "--source",
        default=os.environ.get(SOURCE_ENV),
        help=f"SQLAlchemy URL of the database with the table (default: ${SOURCE_ENV})",
    )
    parser.add_argument("--table", required=table_required, help="the table, optionally schema.table")
    parser.add_argument(
        "--store",
        default=os.environ.get(STORE_ENV),
        help=f"vector store URL (default: ${STORE_ENV}, else the embedded PostgreSQL)",
    )
    parser.add_argument("--collection", help="logical collection name (default: the table's name)")
    parser.add_argument("--name", help="the job's name in the state tables (default: the collection name)")
    parser.add_argument(
        "--state-schema", help="schema of the sync's state tables (default: the default schema)"
    )
    parser.add_argument("--page-size", type=int, help="rows per page (default 800)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or phase messages")


def register(sub: Any) -> None:
    """Add the ``sync`` subcommand."""
    p = sub.add_parser(
        "sync",
        help="embed a table of an existing database into a vector store and keep it in sync",
        description="Embed new and changed rows of a table, delete vectors of deleted rows; resumable.",
    )
    add_common(p, table_required=True)
    p.add_argument("--id-column", help="primary key column (default: the recorded one, else id)")
    p.add_argument(
        "--columns",
        type=_csv,
        help="content columns, comma-separated, each name or name:kind with kind text, bytes or path "
        "(default: the recorded ones, else every text column)",
    )
    p.add_argument(
        "--metadata-columns", type=_csv, help="columns copied into metadata (default: the recorded ones)"
    )
    p.add_argument("--path-root", help="directory that relative paths in path columns are resolved against")
    p.add_argument(
        "--model", help="embedding model (default: the one recorded for the job, else gemini-embedding-2)"
    )
    p.add_argument(
        "--dimensions", type=int, help="output dimensions (default: the model's or the recorded ones)"
    )
    p.add_argument(
        "--max-attempts", type=int, default=5, help="failures before a row is set aside (default 5)"
    )
    p.add_argument(
        "--full", action="store_true", help="start a new pass even if an interrupted one can resume"
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be embedded, tokens and cost")
    p.add_argument("--batch-prices", action="store_true", help="with --dry-run: price at Batch Mode rates")
    p.add_argument("--watch", action="store_true", help="install triggers and run queue workers (PostgreSQL)")
    p.add_argument("--workers", type=int, default=1, help="worker threads with --watch (default 1)")
    p.add_argument("--drain", action="store_true", help="with --watch: exit once the queue is empty")
    p.add_argument("--no-initial-sync", action="store_true", help="with --watch: skip the first full pass")
    p.add_argument("--batch-size", type=int, default=100, help="queue entries per worker transaction")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds an idle worker waits")
    p.add_argument("--unwatch", action="store_true", help="remove the triggers (the queue stays)")
    p.add_argument("--status", action="store_true", help="show queue depth, errors and throughput")
    p.add_argument(
        "--retry-errors", action="store_true", help="clear the errors table so its rows are retried"
    )
    p.set_defaults(func=cmd_sync)


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def job_state(args: argparse.Namespace) -> Iterator[SyncState]:
    """The sync state kept in the source database (``--state-schema``), for reading job records."""
    from gemini_vectors.sync.source import create_engine
    from gemini_vectors.sync.state import SyncState

    engine = create_engine(args.source)
    try:
        yield SyncState(engine, args.state_schema)
    finally:
        engine.dispose()


def recorded_job(args: argparse.Namespace) -> JobRecord | None:
    """The job an earlier sync recorded under the name these options give it, if any."""
    from gemini_vectors.sync.source import split_table_name

    job = args.name or args.collection or (split_table_name(args.table, None)[1] if args.table else None)
    if job is None:
        return None
    with job_state(args) as state:
        return state.get_job(job)


def store_for_job(args: argparse.Namespace, rec: JobRecord | None) -> str | None:
    """``--store``, else the store the job recorded; a redacted URL cannot be reconnected to."""
    from gemini_vectors.errors import ConfigurationError

    if args.store is not None or rec is None:
        return args.store  # type: ignore[no-any-return]
    recorded = rec.store_url
    if recorded.startswith("postgresql+embedded:// ("):
        return None  # the embedded default store, shown with its data directory
    if "***" in recorded:
        raise ConfigurationError(
            f"sync job {rec.job!r} writes to {recorded}, whose password is not recorded: pass that store "
            f"with --store URL (or ${STORE_ENV})"
        )
    return recorded


def open_vectorizer(args: argparse.Namespace, **overrides: Any) -> Vectorizer:
    """A Vectorizer from the command line's options; options left out come from the recorded job."""
    from gemini_vectors.embedder import Embedder
    from gemini_vectors.errors import ConfigurationError
    from gemini_vectors.sync.vectorizer import Vectorizer

    if not args.source:
        raise ConfigurationError(f"name the source database with --source URL (or ${SOURCE_ENV})")
    # reembed has already found the job (by collection); a plain sync looks it up by name here
    rec = overrides.pop("record", None) or recorded_job(args)
    store = store_for_job(args, rec)
    config = rec.config if rec is not None else {}
    embedder = None
    model = getattr(args, "model", None)
    dims = getattr(args, "dimensions", None)
    # reembed's --model names the new spec, not the one the job syncs with
    no_embedder = overrides.pop("no_embedder", False)
    if (model or dims) and not no_embedder:
        embedder = Embedder(model or "gemini-embedding-2", dims, progress=False)

    def given_or_recorded(option: str, key: str, default: Any) -> Any:
        value = getattr(args, option, None)
        return value if value is not None else config.get(key, default)

    options: dict[str, Any] = {
        "id_column": given_or_recorded("id_column", "id_column", "id"),
        "columns": given_or_recorded("columns", "columns", None),
        "metadata_columns": given_or_recorded("metadata_columns", "metadata_columns", []),
        "path_root": given_or_recorded("path_root", "path_root", None),
        "max_attempts": getattr(args, "max_attempts", 5),
    }
    options.update(overrides)
    table = options.pop("table", None) or args.table
    return Vectorizer(
        args.source,
        table,
        store=store,
        collection=args.collection,
        embedder=embedder,
        name=args.name,
        state_schema=args.state_schema,
        page_size=args.page_size,
        progress=False if args.quiet else None,
        **options,
    )


def _exit_code(summary: SyncSummary) -> int:
    return 1 if summary.failed else 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Run ``gemini-vectors sync``."""
    with open_vectorizer(args) as vec:
        if args.status:
            for line in vec.watcher().status().lines():
                print(line)
            return 0
        if args.retry_errors:
            if vec.state.is_postgres and vec.watcher().installed():
                n = vec.watcher().requeue_errors()
                print(f"{n} rows put back on the queue")
            else:
                n = vec.state.clear_errors(vec.job)
                print(f"{n} errors cleared; the next sync retries those rows")
            return 0
        if args.unwatch:
            vec.watcher().uninstall()
            print(f"triggers of job {vec.job!r} removed from {vec.source.qualified_name}")
            return 0
        if args.dry_run:
            for line in vec.estimate(batch=args.batch_prices).lines():
                print(line)
            return 0
        if args.watch:
            return _watch(args, vec)
        summary = vec.sync(full=args.full)
        print(summary)
        if summary.failed:
            _say(args, f"{summary.failed} rows failed; see `gemini-vectors sync --status` for why")
        return _exit_code(summary)


def _watch(args: argparse.Namespace, vec: Vectorizer) -> int:
    from tqdm.auto import tqdm

    watcher = vec.watcher(batch_size=args.batch_size, poll_interval=args.poll_interval)
    watcher.install()
    _say(args, f"triggers installed on {vec.source.qualified_name}; queue: {vec.state.t('queue').name}")
    failed = 0
    if not args.no_initial_sync:
        first = vec.sync()
        failed += first.failed
        print(f"initial sync: {first}", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    # SIGTERM (systemd, Kubernetes) stops the workers after their batch, like Ctrl-C
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if in_main else None
    show = not args.quiet and sys.stderr.isatty()
    try:
        with tqdm(unit="row", desc=f"watch {vec.job}", disable=not show) as bar:

            def on_batch(s: SyncSummary) -> None:
                bar.update(s.rows)

            _say(
                args,
                f"{args.workers} workers on the queue"
                + (" until it is empty" if args.drain else "; Ctrl-C stops"),
            )
            total = watcher.run(args.workers, drain=args.drain, stop=stop, on_batch=on_batch)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    failed += total.failed
    print(f"watch: {total}")
    return 1 if failed else 0
