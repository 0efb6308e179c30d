"""The :class:`Vectorizer`: keep a vector collection in step with a table of an existing database.

A sync **pass** reads the table in primary key order, a page at a time. For each page it compares each
row's content hash with the hash the store keeps beside the row's vector
(:meth:`~gemini_vectors.StoreCollection.content_hashes`), embeds only the new and changed rows, upserts
them, and then records the page's last key as the pass's checkpoint. After the last page it deletes the
vectors whose rows are gone (the store's ids checked against the table, a thousand at a time).

Crash safety comes from that order: a page's checkpoint is written only after its vectors are, and
upserts are idempotent by id. A run killed at any moment resumes after the checkpoint; the page that was
in flight is read again, and the rows of it that reached the store are recognized by their hashes and
not embedded again. So a kill costs at most the embedding of one page, never a lost row or a second
vector for a row.

The logical collection name resolves through an alias kept in the state tables (see
:mod:`gemini_vectors.sync.state`) to a physical collection, which a re-embed replaces atomically.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from gemini_vectors.arguments import check_count
from gemini_vectors.collection import Collection
from gemini_vectors.content import check_item
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import ConfigurationError, ContentError, PartialEmbeddingError, SpecMismatchError
from gemini_vectors.filters import MetadataValue
from gemini_vectors.plugins import connect
from gemini_vectors.spec import EmbeddingSpec, Modality, get_model
from gemini_vectors.store import StoreCollection, VectorStore
from gemini_vectors.sync.pricing import CostEstimate, estimate_cost, item_tokens, prefix_tokens

if TYPE_CHECKING:
    import sqlalchemy as sa

    from gemini_vectors.sync.reembed import ReembedSummary
    from gemini_vectors.sync.source import ColumnSpec, SourceRow, SourceTable
    from gemini_vectors.sync.state import JobRecord, LogCounts, SyncState
    from gemini_vectors.sync.watch import Watcher

log = logging.getLogger(__name__)

#: Rows per page when none is given: enough for 8 concurrent calls of 100 requests.
DEFAULT_PAGE_SIZE = 800
DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SyncSummary:
    """What a sync did.

    Attributes:
        embedded: Rows embedded and stored (new or changed content).
        unchanged: Rows whose stored vector was already up to date (no API call).
        deleted: Vectors removed: their rows are gone, or have no content any more.
        failed: Rows that could not be embedded (see the errors table for why).
        skipped: Rows with no content in any content column (no vector is kept for them).
        rows: Rows read.
        seconds: Wall time.
        resumed: Whether the run continued an interrupted pass from its checkpoint.
        collection: The physical collection written.
    """

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    rows: int = 0
    seconds: float = 0.0
    resumed: bool = False
    collection: str = ""

    def __add__(self, other: SyncSummary) -> SyncSummary:
        counts = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("resumed", "collection")
        }
        return SyncSummary(
            **counts, resumed=self.resumed or other.resumed, collection=other.collection or self.collection
        )

    def __str__(self) -> str:
        extra = f", skipped {self.skipped}" if self.skipped else ""
        resumed = ", resumed from a checkpoint" if self.resumed else ""
        return (
            f"embedded {self.embedded}, unchanged {self.unchanged}, deleted {self.deleted}, "
            f"failed {self.failed}{extra} ({self.rows} rows in {self.seconds:.1f} s{resumed})"
        )


@dataclass(frozen=True)
class SyncEstimate:
    """What a sync would do, measured without embedding or writing anything (``--dry-run``).

    Attributes:
        rows: Rows read.
        to_embed: Rows that would be embedded.
        unchanged: Rows already up to date.
        to_delete: Vectors that would be deleted.
        failed: Rows that break a model limit or cannot be read (they would fail).
        skipped: Rows without content.
        cost: Token and cost estimate of the rows to embed, by modality.
        spec: The embedding spec the rows would be embedded under.
    """

    rows: int
    to_embed: int
    unchanged: int
    to_delete: int
    failed: int
    skipped: int
    cost: CostEstimate
    spec: EmbeddingSpec

    def lines(self) -> list[str]:
        """The report ``--dry-run`` prints."""
        head = [
            f"dry run: {self.rows} rows read; would embed {self.to_embed}, leave {self.unchanged} unchanged, "
            f"delete {self.to_delete} vectors; {self.failed} rows would fail, {self.skipped} have no content",
            f"embedding spec: {self.spec.describe()}",
        ]
        return head + self.cost.lines()


@dataclass
class PageResult:
    """The outcome of processing some rows: counters, failures, and rows confirmed in the store."""

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    failures: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    stored_ok: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)

    def counts(self, rows: int) -> LogCounts:
        from gemini_vectors.sync.state import LogCounts

        return LogCounts(rows, self.embedded, self.unchanged, self.deleted, self.failed)


def _show_progress(progress: bool | None) -> bool:
    return progress if progress is not None else sys.stderr.isatty()


def worker_name(suffix: str = "") -> str:
    """``host:pid[:suffix]``, how a worker is named in the log."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{suffix}" if suffix else base


class Vectorizer:
    """Embeds the rows of a table into a vector collection and keeps it in step with the table.

    Example::

        vec = gv.Vectorizer(
            source="postgresql://app@db/shop", table="products", id_column="id",
            columns=["name", "description", "photo:bytes"], metadata_columns=["category"],
            store="postgresql://app@db/shop", collection="products",
            embedder=gv.Embedder(dimensions=768),
        )
        print(vec.sync())                 # embedded 5000, unchanged 0, deleted 0, failed 0
        vec.collection().search("red running shoes", k=5)

    Args:
        source: SQLAlchemy URL of the database holding the table (``postgresql://`` uses psycopg 3;
            ``postgresql+embedded:///PATH`` the embedded server), or an Engine.
        table: The table, optionally ``schema.table``.
        id_column: Its primary key (one unique column of an integer, string or UUID type).
        columns: Content columns, ``name`` or ``name:kind`` with kind ``text``, ``bytes`` or ``path``
            (see :mod:`gemini_vectors.sync.source`); None: every text column but the id.
        store: The vector store: a URL for :func:`gemini_vectors.connect` (None: the embedded default) or
            a connected :class:`~gemini_vectors.VectorStore`.
        collection: The logical collection name; default: the table's name.
        embedder: The embedder; None: one for the spec recorded by an earlier sync of this job, else the
            default model (built from the environment's key).
        metadata_columns: Columns copied into each vector's metadata.
        name: The job's name in the state tables; default: the collection name.
        schema: The table's schema (when not in ``table``).
        state: SQLAlchemy URL or Engine of the database that keeps the sync's state; default: the source.
        state_schema: Schema of the state tables; default: the connection's default schema.
        page_size: Rows per page: one read, one embedding round and one upsert each. A killed run
            re-embeds at most one page. Default: 100 per call the embedder keeps in flight (800).
        max_attempts: Failures after which a row is not sent again until its content changes (sync), or
            leaves the queue for the errors table (watch).
        path_root: Directory relative paths in ``path`` columns are resolved against.
        progress: Progress bars: True, False, or None for "when stderr is a terminal".
        store_options: Keyword options for :func:`gemini_vectors.connect`.
    """

    def __init__(
        self,
        source: str | sa.Engine,
        table: str,
        id_column: str = "id",
        columns: Sequence[str | ColumnSpec] | None = None,
        *,
        store: str | VectorStore | None = None,
        collection: str | None = None,
        embedder: Embedder | None = None,
        metadata_columns: Sequence[str] = (),
        name: str | None = None,
        schema: str | None = None,
        state: str | sa.Engine | None = None,
        state_schema: str | None = None,
        page_size: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        path_root: str | Path | None = None,
        progress: bool | None = None,
        store_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            from gemini_vectors.sync.source import SourceTable, create_engine
            from gemini_vectors.sync.state import SyncState
        except ImportError as exc:  # SQLAlchemy is an optional dependency of the core
            raise ConfigurationError(
                f"the Vectorizer needs SQLAlchemy ({exc}); "
                "install it with: pip install 'gemini-vectors[sync]'"
            ) from exc

        if page_size is None:
            page_size = embedder.max_concurrency * 100 if embedder is not None else DEFAULT_PAGE_SIZE
        check_count(page_size, "page_size", error=ConfigurationError)
        check_count(max_attempts, "max_attempts", error=ConfigurationError)
        self.engine = create_engine(source)
        self.source: SourceTable = SourceTable(
            self.engine,
            table,
            id_column,
            columns,
            metadata_columns=metadata_columns,
            schema=schema,
            path_root=path_root,
        )
        self.state: SyncState = SyncState(
            create_engine(state) if state is not None else self.engine, state_schema
        )
        self.collection_name = collection or self.source.name
        self.job = name or self.collection_name
        self._owns_store = not isinstance(store, VectorStore)
        self.store: VectorStore = (
            store if isinstance(store, VectorStore) else connect(store, **(store_options or {}))
        )
        self._embedder = embedder
        self._embedders: dict[EmbeddingSpec, Embedder] = {}
        if embedder is not None:
            self._embedders[embedder.spec] = embedder
        self._embedders_lock = threading.Lock()
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.progress = progress
        self._store_changed = False

    def __repr__(self) -> str:
        return (
            f"Vectorizer(job={self.job!r}, table={self.source.qualified_name!r}, "
            f"collection={self.collection_name!r}, store={self.store.url!r})"
        )

    def close(self) -> None:
        """Close the store (when opened from a URL) and the database connections."""
        if self._owns_store:
            self.store.close()
        self.engine.dispose()
        if self.state.engine is not self.engine:
            self.state.engine.dispose()

    def __enter__(self) -> Vectorizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the job and its alias ----------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "table": self.source.canonical_name,
            "id_column": self.source.id_column,
            "columns": [str(c) for c in self.source.columns],
            "metadata_columns": list(self.source.metadata_columns),
            "path_root": str(self.source.path_root) if self.source.path_root is not None else None,
        }

    def _check_job(self, rec: JobRecord) -> JobRecord:
        if not self.source.is_named(rec.source_table):
            raise ConfigurationError(
                f"sync job {self.job!r} reads table {rec.source_table!r}, "
                f"not {self.source.qualified_name!r}; "
                "one collection is kept in step with one table (its deletions follow that table): "
                "pass another collection or name="
            )
        if self.store.url and rec.store_url != self.store.url:
            # The same store may go by several URLs, so this is no error; but a checkpoint taken in
            # another store must not let this one skip rows: the next pass starts from the first row.
            log.warning(
                "sync job %r last wrote to %r, now to %r; its next pass reads the whole table",
                self.job,
                rec.store_url,
                self.store.url,
            )
            self.state.update_job_store(self.job, self.store.url)
            self._store_changed = True
            rec = replace(rec, store_url=self.store.url)
        if rec.fingerprint != self.source.fingerprint():
            # new columns change the content hashes, so the next pass re-embeds what changed
            self.state.update_job_config(
                self.job, config=self._config(), fingerprint=self.source.fingerprint()
            )
        return rec

    def job_record(self) -> JobRecord | None:
        """The job as recorded by an earlier sync, or None."""
        rec = self.state.get_job(self.job)
        return self._check_job(rec) if rec is not None else None

    def ensure_job(self) -> JobRecord:
        """The job's record, created on first use with the alias ``collection -> collection``."""
        rec = self.job_record()
        if rec is not None:
            return rec
        spec = self.default_spec()
        rec = self.state.create_job(
            self.job,
            source_table=self.source.qualified_name,
            config=self._config(),
            fingerprint=self.source.fingerprint(),
            store_url=self.store.url,
            collection=self.collection_name,
            physical=self.collection_name,
            spec=spec,
        )
        return self._check_job(rec)

    def default_spec(self) -> EmbeddingSpec:
        """The spec a new job uses: the embedder's, else the stored collection's, else the default model's."""
        if self._embedder is not None:
            return self._embedder.spec
        stored = self.store.stored_spec(self.collection_name)
        if stored is not None:
            return stored
        return EmbeddingSpec.for_model("gemini-embedding-2")

    def resolve(self) -> tuple[str, EmbeddingSpec]:
        """The physical collection the logical name points at now, and its spec (reads only)."""
        rec = self.state.get_job(self.job)
        if rec is not None:
            return rec.physical, rec.spec
        return self.collection_name, self.default_spec()

    def embedder_for(self, spec: EmbeddingSpec) -> Embedder:
        """An embedder for ``spec``: the one given when it matches, else a sibling on the same client."""
        with self._embedders_lock:
            found = self._embedders.get(spec)
            if found is None:
                base = self._embedder
                if base is not None:
                    found = Embedder(
                        spec.model,
                        spec.dimensions,
                        client=base.client,
                        max_concurrency=base.max_concurrency,
                        retry=base.retry,
                        max_call_bytes=base.max_call_bytes,
                        progress=base.progress,
                    )
                else:
                    found = Embedder(spec.model, spec.dimensions, progress=False)
                self._embedders[spec] = found
            return found

    def collection(self, embedder: Embedder | None = None) -> Collection:
        """The collection the logical name resolves to now, ready to search (through the alias).

        Call it per request (or after a switch) to follow a re-embed; it costs one small query.

        Raises:
            CollectionNotFoundError: nothing was synced yet.
            SpecMismatchError: ``embedder`` makes vectors of another spec than the collection holds.
        """
        physical, spec = self.resolve()
        emb = embedder if embedder is not None else self.embedder_for(spec)
        return self.store.collection(physical, embedder=emb, create=False)

    def _open(self, physical: str, spec: EmbeddingSpec, embedder: Embedder | None = None) -> Collection:
        backend = self.store.open_collection(physical, spec)
        return Collection(backend, embedder or self.embedder_for(spec), chunk_size=self.page_size)

    # -- sync ---------------------------------------------------------------------------------------------

    def sync(self, *, full: bool = False) -> SyncSummary:
        """Embed new and changed rows, delete the vectors of deleted rows; resumes an interrupted pass.

        Args:
            full: Start a new pass from the first row even if an interrupted one could be resumed.

        Raises:
            EmbeddingError: the API kept failing (after the Embedder's retries); progress so far is kept.
            StoreError: the store failed; progress so far is kept.
        """
        rec = self.ensure_job()
        if self._embedder is not None and self._embedder.spec != rec.spec:
            # after a re-embed the alias names the new spec; an explicit old embedder is a mistake
            raise SpecMismatchError(rec.collection, rec.spec, self._embedder.spec)
        coll = self._open(rec.physical, rec.spec)
        return self.run_pass(coll, rec.physical, restart=full)

    def run_pass(
        self, coll: Collection, target: str, *, restart: bool = False, worker: str = ""
    ) -> SyncSummary:
        """One pass over the table into ``coll`` (physical name ``target``), resuming from its checkpoint."""
        start = time.monotonic()
        job = self.job
        who = worker or worker_name("sync")
        prog = self.state.get_progress(job, target)
        after: Any = None
        resumed = False
        done_rows = 0
        if self._store_changed:
            restart, self._store_changed = True, False
        if not restart and prog is not None and prog.status == "running":
            resumed = True
            done_rows = prog.rows
            if prog.checkpoint is not None:
                after = self.source.parse_id(prog.checkpoint)
            log.info("resuming sync %s into %s after %s", job, target, prog.checkpoint)
        else:
            self.state.start_pass(job, target)
        clear_all_ok = self.state.count_errors(job) > 0
        total = SyncSummary(resumed=resumed, collection=target)
        show = _show_progress(self.progress)
        count = self.source.count() if show else None
        with tqdm(
            total=count, initial=min(done_rows, count or 0), unit="row", desc=f"sync {job}", disable=not show
        ) as bar:
            for page in self.source.pages(after, self.page_size):
                t0 = time.monotonic()
                res = self.process_rows(page, coll, hold_exhausted=True)
                with self.state.begin() as conn:
                    self.state.record_failures(job, res.failures, conn)
                    if clear_all_ok:
                        self.state.clear_errors(job, res.stored_ok, conn)
                # the checkpoint moves only once the page's vectors are in the store
                self.state.advance(
                    job,
                    target,
                    self.source.format_id(page[-1].key),
                    res.counts(len(page)),
                    worker=who,
                    seconds=time.monotonic() - t0,
                )
                total += _summary(res, len(page))
                bar.update(len(page))
                bar.set_postfix(embedded=total.embedded, failed=total.failed, refresh=False)
        t0 = time.monotonic()
        deleted = self.sweep_deleted(coll)
        if deleted:
            from gemini_vectors.sync.state import LogCounts

            self.state.log(job, who, LogCounts(deleted=deleted), time.monotonic() - t0)
        self.state.finish_pass(job, target)
        total += SyncSummary(deleted=deleted)
        return _replace_seconds(total, time.monotonic() - start)

    def process_rows(
        self, rows: Sequence[SourceRow], coll: Collection, *, hold_exhausted: bool
    ) -> PageResult:
        """Embed and store what changed among ``rows``; failures are returned, not recorded.

        Args:
            rows: Rows read from the source.
            coll: The collection to write.
            hold_exhausted: Do not send rows whose unchanged content already failed ``max_attempts`` times.
        """
        res = PageResult()
        model = get_model(coll.spec.model)
        reserved = prefix_tokens(model.name)
        empty: list[str] = []
        candidates: list[tuple[SourceRow, str]] = []
        for r in rows:
            if r.error is not None:
                res.failures[r.id] = (None, r.error)
                continue
            if r.item is None:
                empty.append(r.id)
                continue
            try:
                check_item(r.item, model, reserved_tokens=reserved if r.item.text_parts else 0)
                chash = _hash(r)
            except (ContentError, OSError) as exc:
                res.failures[r.id] = (None, str(exc))
                continue
            candidates.append((r, chash))
            res.hashes[r.id] = chash
        stored = coll.backend.content_hashes([r.id for r, _ in candidates]) if candidates else {}
        changed = [(r, h) for r, h in candidates if stored.get(r.id) != h]
        unchanged = [(r, h) for r, h in candidates if stored.get(r.id) == h]
        res.unchanged = len(unchanged)
        if hold_exhausted and changed:
            res.held = self.state.exhausted(self.job, {r.id: h for r, h in changed}, self.max_attempts)
            changed = [(r, h) for r, h in changed if r.id not in res.held]
        stale_metadata: list[tuple[SourceRow, str]] = []
        if self.source.metadata_columns and unchanged:
            # metadata columns may change alone; Collection.add refreshes them without embedding again
            current = {
                rec.id: dict(rec.metadata)
                for rec in coll.backend.get([r.id for r, _ in unchanged], include_vectors=False)
            }
            stale_metadata = [(r, h) for r, h in unchanged if current.get(r.id) != dict(r.metadata)]
        to_add = changed + stale_metadata
        rejected = self._add(coll, to_add)
        for rid, reason in rejected.items():
            res.failures[rid] = (res.hashes.get(rid), reason)
        res.embedded = sum(1 for r, _ in changed if r.id not in rejected)
        res.stored_ok = [r.id for r, _ in candidates if r.id not in rejected and r.id not in res.held]
        if empty:
            res.skipped = len(empty)
            present = list(coll.backend.content_hashes(empty))
            if present:
                coll.backend.delete(ids=present)
                res.deleted = len(present)
        res.failed = len(res.failures) + len(res.held)
        return res

    def _add(self, coll: Collection, pairs: Sequence[tuple[SourceRow, str]]) -> dict[str, str]:
        """Collection.add for these rows; returns the rows the API rejected, with the reason."""
        if not pairs:
            return {}
        items = [r.item for r, _ in pairs]
        ids = [r.id for r, _ in pairs]
        metas: list[dict[str, MetadataValue]] = [dict(r.metadata) for r, _ in pairs]
        try:
            coll.add(items, ids=ids, metadata=metas)  # type: ignore[arg-type]
        except PartialEmbeddingError as exc:
            return {ids[pos]: reason for pos, reason in exc.failures.items()}
        except ContentError:
            if len(pairs) == 1:
                raise
            # The item was checked already, so this is rare; its index is relative to the items the
            # collection chose to embed, so find it by halving.
            mid = len(pairs) // 2
            return {**self._add_or_fail(coll, pairs[:mid]), **self._add_or_fail(coll, pairs[mid:])}
        return {}

    def _add_or_fail(self, coll: Collection, pairs: Sequence[tuple[SourceRow, str]]) -> dict[str, str]:
        try:
            return self._add(coll, pairs)
        except ContentError as exc:
            return {pairs[0][0].id: str(exc)}

    def sweep_deleted(self, coll: Collection | StoreCollection, *, dry_run: bool = False) -> int:
        """Delete the vectors whose rows no longer exist; returns how many (would be) deleted."""
        backend = coll.backend if isinstance(coll, Collection) else coll
        doomed: list[str] = []
        batch: list[str] = []
        for sid in backend.iter_ids(1000):
            batch.append(sid)
            if len(batch) == 1000:
                doomed.extend(self.source.missing(batch))
                batch = []
        if batch:
            doomed.extend(self.source.missing(batch))
        if dry_run:
            return len(doomed)
        # deleted after the listing, so no store pages while its ids change under the cursor
        for start in range(0, len(doomed), 1000):
            backend.delete(ids=doomed[start : start + 1000])
        stale_errors = self.state.error_ids(self.job)
        if stale_errors:
            self.state.clear_errors(self.job, self.source.missing(stale_errors))
        return len(doomed)

    # -- dry run ------------------------------------------------------------------------------------------

    def estimate(
        self, *, spec: EmbeddingSpec | None = None, batch: bool = False, into_new_collection: bool = False
    ) -> SyncEstimate:
        """What :meth:`sync` would embed and cost, without embedding or writing anything.

        Args:
            spec: Price embedding under this spec (a re-embed); default: the job's.
            batch: Use Batch Mode prices.
            into_new_collection: Every row counts as to embed (a re-embed into an empty collection).
        """
        physical, current = self.resolve()
        spec = spec or current
        model = get_model(spec.model)
        reserved = prefix_tokens(model.name)
        backend: StoreCollection | None = None
        if not into_new_collection and self.store.stored_spec(physical) is not None:
            backend = self.store.open_collection(physical)
        tokens: dict[Modality, int] = {}
        rows = to_embed = unchanged = failed = skipped = 0
        show = _show_progress(self.progress)
        with tqdm(
            total=self.source.count() if show else None, unit="row", desc="dry run", disable=not show
        ) as bar:
            for page in self.source.pages(None, self.page_size):
                rows += len(page)
                checked: list[tuple[str, str, dict[Modality, int]]] = []
                for r in page:
                    if r.error is not None:
                        failed += 1
                        continue
                    if r.item is None:
                        skipped += 1
                        continue
                    try:
                        stats = check_item(
                            r.item, model, reserved_tokens=reserved if r.item.text_parts else 0
                        )
                        checked.append((r.id, _hash(r), item_tokens(stats, model.name)))
                    except (ContentError, OSError):
                        failed += 1
                stored = backend.content_hashes([c[0] for c in checked]) if backend is not None else {}
                for rid, chash, item_tok in checked:
                    if stored.get(rid) == chash:
                        unchanged += 1
                        continue
                    to_embed += 1
                    for modality, n in item_tok.items():
                        tokens[modality] = tokens.get(modality, 0) + n
                bar.update(len(page))
        to_delete = self.sweep_deleted(backend, dry_run=True) if backend is not None else 0
        cost = estimate_cost(tokens, model.name, batch=batch, items=to_embed)
        return SyncEstimate(rows, to_embed, unchanged, to_delete, failed, skipped, cost, spec)

    # -- watch and re-embed -------------------------------------------------------------------------------

    def watcher(self, *, batch_size: int = 100, poll_interval: float = 1.0, backoff: float = 2.0) -> Watcher:
        """The continuous sync for a PostgreSQL source: triggers, queue and workers."""
        from gemini_vectors.sync.watch import Watcher

        return Watcher(self, batch_size=batch_size, poll_interval=poll_interval, backoff=backoff)

    def reembed(
        self,
        model: str,
        dimensions: int | None = None,
        *,
        batch_mode: bool = False,
        drop_old: bool = False,
        **options: Any,
    ) -> ReembedSummary:
        """Re-embed the collection under a new model or size, blue/green.

        See :mod:`gemini_vectors.sync.reembed`; ``options`` go to its :class:`Reembedder`.
        """
        from gemini_vectors.sync.reembed import Reembedder

        spec = EmbeddingSpec.for_model(model, dimensions)
        return Reembedder(self, self.embedder_for(spec), batch_mode=batch_mode, **options).run(
            drop_old=drop_old
        )

    def drop_previous(self) -> str | None:
        """Drop the collection a re-embed switched away from; returns its name (None: nothing to drop)."""
        from gemini_vectors.sync.reembed import drop_previous

        return drop_previous(self)


def _hash(row: SourceRow) -> str:
    from gemini_vectors.sync.source import item_hash

    assert row.item is not None
    return item_hash(row.item)


def _summary(res: PageResult, rows: int) -> SyncSummary:
    return SyncSummary(res.embedded, res.unchanged, res.deleted, res.failed, res.skipped, rows)


def _replace_seconds(s: SyncSummary, seconds: float) -> SyncSummary:
    return replace(s, seconds=seconds)
