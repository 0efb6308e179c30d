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

``--offline`` embeds with the built-in Gemini API emulator (stand-in vectors, for trying a sync out on a
scratch collection); unlike ``index`` and ``demo``, a sync never falls back to it when no API key is set,
because it writes into a store you keep. A ``memory://`` store is refused: its vectors end with the
command, while the checkpoints stay in the source database.

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

from gemini_vectors.arguments import check_count
from gemini_vectors.cli.extras import require
from gemini_vectors.cli.index import DEFAULT_DIMENSIONS, DEFAULT_MODEL
from gemini_vectors.errors import ConfigurationError
from gemini_vectors.sync.vectorizer import Vectorizer  # imports no SQLAlchemy until one is built

if TYPE_CHECKING:
    from gemini_vectors.embedder import Embedder
    from gemini_vectors.spec import EmbeddingSpec
    from gemini_vectors.store import VectorStore
    from gemini_vectors.sync.state import JobRecord, SyncState
    from gemini_vectors.sync.vectorizer import SyncSummary

SOURCE_ENV = "GEMINI_VECTORS_SOURCE"
STORE_ENV = "GEMINI_VECTORS_STORE"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_state_options(parser: argparse.ArgumentParser, *, source_help: str) -> None:
    """``--source`` and ``--state-schema``: where a sync's state is (shared with ``search``)."""
    parser.add_argument("--source", default=os.environ.get(SOURCE_ENV), help=source_help)
    parser.add_argument(
        "--state-schema", help="schema of the sync's state tables (default: the default schema)"
    )


def add_common(parser: argparse.ArgumentParser, *, table: bool) -> None:
    """The options that name the source, the store and the state (shared with ``reembed``)."""
    add_state_options(
        parser, source_help=f"SQLAlchemy URL of the database with the table (default: ${SOURCE_ENV})"
    )
    if table:
        parser.add_argument("--table", required=True, help="the table, optionally schema.table")
    parser.add_argument(
        "--store",
        default=os.environ.get(STORE_ENV),
        help=f"vector store URL (default: ${STORE_ENV}, else the embedded PostgreSQL)",
    )
    parser.add_argument("--collection", help="logical collection name (default: the table's name)")
    parser.add_argument("--name", help="the job's name in the state tables (default: the collection name)")
    parser.add_argument("--page-size", type=int, help="rows per page (default 800)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or phase messages")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="embed with the built-in Gemini API emulator (stand-in vectors; never chosen by itself)",
    )


def register(sub: Any) -> None:
    """Add the ``sync`` subcommand."""
    p = sub.add_parser(
        "sync",
        help="embed a table of an existing database into a vector store and keep it in sync",
        description="Embed new and changed rows of a table, delete vectors of deleted rows; resumable.",
    )
    add_common(p, table=True)
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
        "--model",
        help=f"embedding model (default: the one recorded for the job, else the collection's, else "
        f"{DEFAULT_MODEL})",
    )
    p.add_argument(
        "--dimensions",
        type=int,
        help=f"output dimensions (default: the recorded ones, else the collection's, else "
        f"{DEFAULT_DIMENSIONS}, as for index)",
    )
    p.add_argument("--max-attempts", type=int, help="failures before a row is set aside (default 5)")
    p.add_argument(
        "--adopt",
        action="store_true",
        help="let a new job write into an existing collection no sync job created; it then deletes only "
        "records it wrote itself",
    )
    p.add_argument(
        "--full", action="store_true", help="start a new pass even if an interrupted one can resume"
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be embedded, tokens and cost")
    p.add_argument("--batch-prices", action="store_true", help="with --dry-run: price at Batch Mode rates")
    p.add_argument("--watch", action="store_true", help="install triggers and run queue workers (PostgreSQL)")
    p.add_argument("--workers", type=int, help="with --watch: worker threads (default 1)")
    p.add_argument("--drain", action="store_true", help="with --watch: exit once the queue is empty")
    p.add_argument("--no-initial-sync", action="store_true", help="with --watch: skip the first full pass")
    p.add_argument(
        "--batch-size", type=int, help="with --watch: queue entries per worker transaction (default 100)"
    )
    p.add_argument(
        "--poll-interval", type=float, help="with --watch: seconds an idle worker waits (default 1)"
    )
    p.add_argument("--unwatch", action="store_true", help="remove the triggers (the queue stays)")
    p.add_argument("--status", action="store_true", help="show queue depth, errors and throughput")
    p.add_argument(
        "--retry-errors", action="store_true", help="clear the errors table so its rows are retried"
    )
    p.set_defaults(func=cmd_sync)


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr, flush=True)


def flag(dest: str) -> str:
    """The option an argparse destination comes from: ``no_initial_sync`` -> ``--no-initial-sync``."""
    return "--" + dest.replace("_", "-")


def check_positive_seconds(value: float | None, option: str) -> None:
    """A number of seconds that is finite and above 0 (None: left out)."""
    if value is not None and not (0 < value < float("inf")):
        raise ConfigurationError(f"{option} must be a number of seconds above 0, got {value}")


#: What ``sync`` does in one run: at most one of these (a plain sync when none).
SYNC_MODES = ("status", "retry_errors", "unwatch", "dry_run", "watch")

#: Options that only mean something in one mode: option -> (the mode it needs, what it does there).
NEEDS_MODE = {
    "batch_prices": ("dry_run", "prices the dry run at Batch Mode rates"),
    "drain": ("watch", "stops the watch workers once the queue is empty"),
    "no_initial_sync": ("watch", "skips the watch's first full pass"),
    "workers": ("watch", "sets how many watch workers run"),
    "batch_size": ("watch", "sets the queue entries per watch worker transaction"),
    "poll_interval": ("watch", "sets how long an idle watch worker waits"),
}


def check_sync_options(args: argparse.Namespace) -> None:
    """Refuse options that contradict each other or would be ignored, before anything is read or paid.

    Raises:
        ConfigurationError: names the option and what it needs.
    """
    modes = [m for m in SYNC_MODES if getattr(args, m)]
    if len(modes) > 1:
        raise ConfigurationError(
            f"{flag(modes[0])} and {flag(modes[1])} are two different runs: give one of them at a time"
        )
    for option, (mode, does) in NEEDS_MODE.items():
        value = getattr(args, option)
        if value is not None and value is not False and not getattr(args, mode):
            raise ConfigurationError(
                f"{flag(option)} needs {flag(mode)} (it {does}): add {flag(mode)} or leave {flag(option)} out"
            )
    if args.full and ((modes and modes[0] != "watch") or args.no_initial_sync):
        other = "--no-initial-sync" if args.no_initial_sync else flag(modes[0])
        raise ConfigurationError(f"--full needs a sync pass, which {other} skips: leave one of them out")
    for option in ("workers", "batch_size", "page_size", "max_attempts"):
        if getattr(args, option) is not None:
            check_count(getattr(args, option), flag(option), error=ConfigurationError)
    check_positive_seconds(args.poll_interval, "--poll-interval")


def require_sync_extra(command: str) -> None:
    """The sync commands read the source with SQLAlchemy: say which extra to install when it is missing."""
    require(f"gemini-vectors {command}", "sqlalchemy")


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


def job_name(args: argparse.Namespace) -> str | None:
    """The job these options name: ``--name``, else ``--collection``, else the table's name."""
    from gemini_vectors.sync.source import split_table_name

    table = getattr(args, "table", None)
    return args.name or args.collection or (split_table_name(table, None)[1] if table else None)


def collection_name(args: argparse.Namespace, table: str | None) -> str:
    """The logical collection these options name: ``--collection``, else the table's name."""
    from gemini_vectors.sync.source import split_table_name

    return args.collection or (split_table_name(table, None)[1] if table else "")


def recorded_job(args: argparse.Namespace) -> JobRecord | None:
    """The job an earlier sync recorded under the name these options give it, if any."""
    job = job_name(args)
    if job is None:
        return None
    with job_state(args) as state:
        return state.get_job(job)


def store_for_job(args: argparse.Namespace, rec: JobRecord | None) -> str | None:
    """``--store``, else the store the job recorded; a redacted URL cannot be reconnected to."""
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


def refuse_memory_store(args: argparse.Namespace, store: str | None, command: str) -> None:
    """A ``memory://`` store ends with the console script's process, but the job's checkpoints stay in
    the source database: the next run would resume after rows whose vectors are gone, and every run would
    pay to embed what is then thrown away. So the command refuses it (a Python caller of ``main(argv)``
    keeps its process, and the store, alive)."""
    if store is None or not store.startswith("memory:"):
        return
    if getattr(args, "process_ends_with_command", False):
        raise ConfigurationError(
            f"gemini-vectors {command} cannot write to {store}: a memory store ends with this command, "
            "while the sync's checkpoints stay in the source database; pass a store that lasts "
            f"(--store postgresql://..., weaviate://..., pinecone://...), or leave --store out for the "
            "embedded PostgreSQL"
        )


def cli_spec(
    model: str | None, dimensions: int | None, recorded: EmbeddingSpec | None, stored: EmbeddingSpec | None
) -> EmbeddingSpec:
    """The spec the command line asks for: what it names, the rest from the job's recorded spec, else the
    collection's stored one, else the CLI's default (gemini-embedding-2 at 768, as ``index`` and ``demo``)."""
    from gemini_vectors.spec import EmbeddingSpec

    base = recorded or stored or EmbeddingSpec.for_model(DEFAULT_MODEL, DEFAULT_DIMENSIONS)
    if model is None and dimensions is None:
        return base
    return EmbeddingSpec.for_model(model or base.model, dimensions or base.dimensions)


@contextmanager
def _embedding_client(args: argparse.Namespace) -> Iterator[object | None]:
    """The emulator's client with ``--offline``; else None (the Embedder's own, from the environment)."""
    if not getattr(args, "offline", False):
        yield None
        return
    from gemini_vectors.cli.demo import gemini_client

    with gemini_client(True) as client:
        yield client


@contextmanager
def open_vectorizer(
    args: argparse.Namespace, *, writes: bool = True, **overrides: Any
) -> Iterator[Vectorizer]:
    """A Vectorizer from the command line's options; options left out come from the recorded job.

    ``writes``: the run embeds or deletes vectors (a memory store is refused then).

    The store is connected here (not by the Vectorizer) so that a new job's spec can follow a collection
    already in it; it is closed with the Vectorizer.
    """
    from gemini_vectors.embedder import Embedder
    from gemini_vectors.plugins import connect

    command = args.command
    require_sync_extra(command)
    if not args.source:
        raise ConfigurationError(f"name the source database with --source URL (or ${SOURCE_ENV})")
    # reembed has already found the job (by collection); a plain sync looks it up by name here
    rec: JobRecord | None = overrides.pop("record", None) or recorded_job(args)
    store_url = store_for_job(args, rec)
    if writes:
        refuse_memory_store(args, store_url, command)
    config = rec.config if rec is not None else {}
    # reembed's --model names the new spec, not the one the job syncs with
    no_embedder = overrides.pop("no_embedder", False)
    model = None if no_embedder else getattr(args, "model", None)
    dims = None if no_embedder else getattr(args, "dimensions", None)

    def given_or_recorded(option: str, key: str, default: Any) -> Any:
        value = getattr(args, option, None)
        return value if value is not None else config.get(key, default)

    options: dict[str, Any] = {
        "id_column": given_or_recorded("id_column", "id_column", "id"),
        "columns": given_or_recorded("columns", "columns", None),
        "metadata_columns": given_or_recorded("metadata_columns", "metadata_columns", []),
        "path_root": given_or_recorded("path_root", "path_root", None),
        "max_attempts": getattr(args, "max_attempts", None) or 5,
    }
    options.update(overrides)
    table = options.pop("table", None) or getattr(args, "table", None)
    if not table:
        raise ConfigurationError("name the table with --table")
    with _embedding_client(args) as client:
        store: VectorStore = connect(store_url)
        try:
            # a new job follows a collection already in the store; else it gets the CLI's default spec
            stored = None if rec is not None else store.stored_spec(collection_name(args, table))
            spec = cli_spec(model, dims, rec.spec if rec is not None else None, stored)
            embedder: Embedder | None = None
            if client is not None or model or dims:
                # an embedder of the job's spec (or the one asked for: sync refuses a change of spec)
                embedder = Embedder(spec.model, spec.dimensions, client=client, progress=False)  # type: ignore[arg-type]
            vec = CliVectorizer(
                args.source,
                table,
                store=store,
                collection=args.collection,
                embedder=embedder,
                name=args.name,
                state_schema=args.state_schema,
                page_size=args.page_size,
                progress=False if args.quiet else None,
                adopt=bool(getattr(args, "adopt", False)),
                **options,
            )
            if embedder is None and rec is None:
                vec.new_job_spec = spec
            with vec:
                yield vec
        finally:
            store.close()


class CliVectorizer(Vectorizer):
    """A Vectorizer whose new job takes the spec the command line chose (:func:`cli_spec`: 768 dims, as
    ``index`` and ``demo``) when no embedder is given, instead of the model's full size. Nothing is
    embedded to find it, so ``--dry-run`` and ``--status`` need no API key."""

    new_job_spec: EmbeddingSpec | None = None

    def default_spec(self) -> EmbeddingSpec:
        return self.new_job_spec if self.new_job_spec is not None else super().default_spec()


def _exit_code(summary: SyncSummary) -> int:
    return 1 if summary.failed else 0


def _no_job(vec: Vectorizer) -> ConfigurationError:
    return ConfigurationError(
        f"no sync job {vec.job!r} is recorded in the state tables of the source, so there is nothing to "
        "report or retry: run `gemini-vectors sync` first, or pass the --name, --collection and "
        "--state-schema the sync used"
    )


def cmd_sync(args: argparse.Namespace) -> int:
    """Run ``gemini-vectors sync``."""
    check_sync_options(args)
    reads_only = args.status or args.dry_run or args.unwatch or args.retry_errors
    with open_vectorizer(args, writes=not reads_only) as vec:
        if args.status:
            recorded = vec.state.get_job(vec.job) is not None
            if not recorded and not vec.watcher().installed():
                raise _no_job(vec)
            for line in vec.watcher().status().lines():
                print(line)
            return 0
        if args.retry_errors:
            return _retry_errors(vec)
        if args.unwatch:
            return _unwatch(vec)
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


def _retry_errors(vec: Vectorizer) -> int:
    if vec.state.get_job(vec.job) is None:
        raise _no_job(vec)
    watched = vec.state.is_postgres and vec.watcher().installed()
    n = vec.watcher().requeue_errors() if watched else vec.state.clear_errors(vec.job)
    if not n:
        print(f"job {vec.job!r} has no failed rows: nothing to retry")
    elif watched:
        print(f"{n} failed rows put back on the queue; the `--watch` workers retry them")
    else:
        print(f"{n} errors cleared; the next sync retries those rows")
    return 0


def _unwatch(vec: Vectorizer) -> int:
    table = vec.source.qualified_name
    watcher = vec.watcher()
    if not watcher.installed():
        print(f"job {vec.job!r} has no triggers on {table}: nothing removed")
        return 0
    watcher.uninstall()
    queued = watcher.status().queue_depth
    left = (
        f"; {queued} queued changes stay in the queue until a `--watch` run takes them"
        if queued
        else "; the queue is empty"
    )
    print(f"triggers of job {vec.job!r} removed from {table}: changes are no longer queued{left}")
    return 0


def _watch(args: argparse.Namespace, vec: Vectorizer) -> int:
    from tqdm.auto import tqdm

    workers = args.workers or 1
    watcher = vec.watcher(
        batch_size=args.batch_size or 100,
        poll_interval=args.poll_interval if args.poll_interval is not None else 1.0,
    )
    watcher.install()
    _say(args, f"triggers installed on {vec.source.qualified_name}; queue: {vec.state.t('queue').name}")
    failed = 0
    if not args.no_initial_sync:
        first = vec.sync(full=args.full)
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
                f"{workers} workers on the queue"
                + (" until it is empty" if args.drain else "; Ctrl-C stops"),
            )
            total = watcher.run(workers, drain=args.drain, stop=stop, on_batch=on_batch)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    failed += total.failed
    print(f"watch: {total}")
    return 1 if failed else 0
