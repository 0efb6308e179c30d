"""A sync job: one table kept in step with one collection, and the pass that reads the whole table.

:class:`SyncJob` holds what every way of processing a job shares: the source table, the state tables,
the store, the job's record and alias, the embedders per spec, and the one write path
(:class:`~gemini_vectors.sync.writer.RowWriter`). The modules above it decide only *what* to process:
the :class:`~gemini_vectors.Vectorizer` (a pass over the table), the watch workers (queued rows) and the
re-embed (a pass into a new collection). None of them writes a vector any other way.

A **pass** reads the table in primary key order, a page at a time, writes each page through the writer,
and then records the page's last key as the pass's checkpoint. After the last page it deletes the
vectors whose rows are gone. Crash safety comes from that order: a page's checkpoint is written only
after its vectors are, and upserts are idempotent by id. A run killed at any moment resumes after the
checkpoint; the page that was in flight is read again, and the rows of it that reached the store are
recognized by their hashes and not embedded again.

Only one pass of a job runs at a time: a second one waits for the first (a PostgreSQL advisory lock
held by a connection of the state database, so a killed process lets go at once), then finds the rows
unchanged. No row is embedded twice by two concurrent passes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from gemini_vectors.arguments import check_count, expect_many
from gemini_vectors.collection import Collection
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import ArgumentError, ConfigurationError
from gemini_vectors.plugins import connect
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import VectorStore
from gemini_vectors.sync.summary import SyncSummary, show_progress, worker_name
from gemini_vectors.sync.writer import Ownership, RowWriter

if TYPE_CHECKING:
    import sqlalchemy as sa

    from gemini_vectors.sync.source import ColumnSpec, SourceTable
    from gemini_vectors.sync.state import JobRecord, SyncState

log = logging.getLogger(__name__)

#: Rows per page when none is given: enough for 8 concurrent calls of 100 requests.
DEFAULT_PAGE_SIZE = 800
DEFAULT_MAX_ATTEMPTS = 5


class SyncJob:
    """A table kept in step with a collection: the parts every way of processing it shares.

    See :class:`~gemini_vectors.Vectorizer` (its public face) for the arguments.
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
        adopt: bool = False,
    ) -> None:
        try:
            from gemini_vectors.sync.source import SourceTable, create_engine
            from gemini_vectors.sync.state import SyncState
        except ImportError as exc:  # SQLAlchemy is an optional dependency of the core
            raise ConfigurationError(
                f"the Vectorizer needs SQLAlchemy ({exc}); "
                "install it with: pip install 'gemini-vectors[sync]'"
            ) from exc

        if columns is not None:
            expect_many(columns, "columns", of="column names")
        expect_many(metadata_columns, "metadata_columns", of="column names")
        for what, value in (("table", table), ("id_column", id_column)):
            if not isinstance(value, str) or not value:
                raise ArgumentError(f"{what} must be a non-empty str, got {value!r}")
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
        self.adopt = adopt
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
        self._writer: RowWriter | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(job={self.job!r}, table={self.source.qualified_name!r}, "
            f"collection={self.collection_name!r}, store={self.store.url!r})"
        )

    def close(self) -> None:
        """Close the store (when opened from a URL) and the database connections."""
        if self._owns_store:
            self.store.close()
        self.engine.dispose()
        if self.state.engine is not self.engine:
            self.state.engine.dispose()

    def __enter__(self) -> SyncJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the job and its alias ----------------------------------------------------------------------------

    def _config(self, *, adopted: bool) -> dict[str, Any]:
        return {
            "table": self.source.canonical_name,
            "id_column": self.source.id_column,
            "columns": [str(c) for c in self.source.columns],
            "metadata_columns": list(self.source.metadata_columns),
            "path_root": str(self.source.path_root) if self.source.path_root is not None else None,
            "adopted": adopted,
        }

    def _check_job(self, rec: JobRecord, *, update: bool = True) -> JobRecord:
        if not self.source.is_named(rec.source_table):
            raise ConfigurationError(
                f"sync job {self.job!r} reads table {rec.source_table!r}, "
                f"not {self.source.qualified_name!r}. One collection follows one table (its deletions "
                f"follow that table): sync {self.source.qualified_name!r} into a collection of its own "
                "(collection=, --collection)"
            )
        if not update:
            return rec  # a report (``--status``) changes nothing
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
            adopted = bool(rec.config.get("adopted", False))
            self.state.update_job_config(
                self.job, config=self._config(adopted=adopted), fingerprint=self.source.fingerprint()
            )
        return rec

    def job_record(self, *, update: bool = True) -> JobRecord | None:
        """The job as recorded by an earlier sync, or None.

        Args:
            update: Record a changed store URL or column list (a sync about to run); False for reports.
        """
        rec = self.state.get_job(self.job)
        return self._check_job(rec, update=update) if rec is not None else None

    def ensure_job(self) -> JobRecord:
        """The job's record, created on first use with the alias ``collection -> collection``.

        Raises:
            ConfigurationError: the collection belongs to another job, or exists already and was not
                created by this one (guarantee 2: pass ``adopt=True`` to let the job write there).
        """
        rec = self.job_record()
        if rec is not None:
            return rec
        self.state.ensure()
        # two first syncs at once (of this job or of two jobs naming one collection) take turns here
        with self.state.exclusive("collection", self.collection_name, what="the creation of a sync job"):
            return self._create_job()

    def _create_job(self) -> JobRecord:
        rec = self.job_record()
        if rec is not None:
            return rec
        others = [j for j in self.state.jobs_for_collection(self.collection_name) if j.job != self.job]
        if others:
            other = others[0]
            raise ConfigurationError(
                f"collection {self.collection_name!r} is kept in step with table {other.source_table!r} "
                f"by sync job {other.job!r}. One collection follows one table, or the two would overwrite "
                "each other's ids and delete each other's vectors: sync "
                f"{self.source.qualified_name!r} into a collection of its own (collection=, --collection)"
            )
        stored = self.store.stored_spec(self.collection_name)
        if stored is not None and not self.adopt:
            raise ConfigurationError(
                f"collection {self.collection_name!r} already exists in {self.store.url} and no sync job "
                "created it. A sync deletes the records of rows that are not in its table, so it does not "
                "take over a collection it did not make: sync into a new collection (collection=, "
                "--collection), or adopt this one (adopt=True, --adopt): the job then writes its rows "
                "there and deletes only records it wrote itself"
            )
        spec = self.default_spec()
        rec = self.state.create_job(
            self.job,
            source_table=self.source.qualified_name,
            config=self._config(adopted=stored is not None),
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

    def ownership(self, rec: JobRecord | None = None) -> Ownership:
        """What the job owns in its collections (all of a collection it created; its own records of an
        adopted one)."""
        rec = rec if rec is not None else self.state.get_job(self.job)
        adopted = bool(rec.config.get("adopted", False)) if rec is not None else self.adopt
        return Ownership.for_job(self.job, adopted=adopted)

    def ownership_of(self, physical: str, rec: JobRecord | None = None) -> Ownership:
        """The ownership in physical collection ``physical``: a re-embed's new collection is all the job's."""
        own = self.ownership(rec)
        if physical != self.collection_name:
            return replace(own, whole_collection=True)
        return own

    def writer(self, physical: str, rec: JobRecord | None = None) -> RowWriter:
        """The write path into physical collection ``physical``."""
        return RowWriter(
            self.source,
            self.state,
            self.job,
            self.ownership_of(physical, rec),
            max_attempts=self.max_attempts,
        )

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

    def open(self, physical: str, spec: EmbeddingSpec, embedder: Embedder | None = None) -> Collection:
        """The physical collection ``physical`` (created when missing) with an embedder of ``spec``."""
        backend = self.store.open_collection(physical, spec)
        return Collection(backend, embedder or self.embedder_for(spec), chunk_size=self.page_size)

    # -- one pass at a time ---------------------------------------------------------------------------

    def pass_lock(self, target: str) -> AbstractContextManager[None]:
        """Hold the job's pass lock for ``target``: a concurrent pass waits until this one ends."""
        return self.state.exclusive("pass", self.job, target, what=f"the pass of sync job {self.job!r}")

    # -- the pass -------------------------------------------------------------------------------------

    def run_pass(
        self, coll: Collection, target: str, *, restart: bool = False, worker: str = ""
    ) -> SyncSummary:
        """One pass over the table into ``coll`` (physical name ``target``), resuming from its checkpoint.

        Raises:
            ConfigurationError: the id column holds one value in several rows.
            RequestRejectedError: the API refused the requests as a whole (progress so far is kept).
        """
        with self.pass_lock(target):
            return self._run_pass(coll, target, restart=restart, worker=worker)

    def _run_pass(self, coll: Collection, target: str, *, restart: bool, worker: str) -> SyncSummary:
        from gemini_vectors.sync.state import LogCounts

        start = time.monotonic()
        job = self.job
        who = worker or worker_name("sync")
        twice = self.source.duplicate_ids()
        if twice:
            raise self.source.not_unique(twice)
        unkeyed = self.source.count_null_ids()
        if unkeyed:
            log.warning(
                "sync job %r: %d rows of %s have a NULL %s and are left out (a record needs an id)",
                job,
                unkeyed,
                self.source.qualified_name,
                self.source.id_column,
            )
        writer = self.writer(target)
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
        total = SyncSummary(resumed=resumed, collection=target, unkeyed=unkeyed)
        show = show_progress(self.progress)
        count = self.source.count() if show else None
        # the backend may defer its index for a first load (pgvector builds HNSW faster in one go)
        expected = max(0, (count if count is not None else self.source.count()) - done_rows)
        with (
            tqdm(
                total=count,
                initial=min(done_rows, count or 0),
                unit="row",
                desc=f"sync {job}",
                disable=not show,
            ) as bar,
            coll.backend.bulk_load(expected),
        ):
            for page in self.source.pages(after, self.page_size):
                t0 = time.monotonic()
                res = writer.write(page, coll, hold_exhausted=True)
                with self.state.begin() as conn:
                    self.state.record_failures(job, res.failures, conn)
                    if clear_all_ok:
                        self.state.clear_errors(job, res.stored_ok, conn)
                # the checkpoint moves only once the page's vectors are in the store
                self.state.advance(
                    job,
                    target,
                    self.source.format_id(page[-1].key),
                    LogCounts(len(page), res.embedded, res.unchanged, res.deleted, res.failed),
                    worker=who,
                    seconds=time.monotonic() - t0,
                )
                total += res.summary(len(page))
                bar.update(len(page))
                bar.set_postfix(embedded=total.embedded, failed=total.failed, refresh=False)
        t0 = time.monotonic()
        deleted = self.sweep_deleted(coll, writer=writer)
        if deleted:
            self.state.log(job, who, LogCounts(deleted=deleted), time.monotonic() - t0)
        self.state.finish_pass(job, target)
        total += SyncSummary(deleted=deleted)
        return total.with_seconds(time.monotonic() - start)

    def sweep_deleted(
        self, coll: Collection, *, dry_run: bool = False, writer: RowWriter | None = None
    ) -> int:
        """Delete the job's vectors whose rows no longer exist; returns how many (would be) deleted."""
        writer = writer or self.writer(coll.name)
        deleted = writer.sweep(coll.backend, dry_run=dry_run)
        if not dry_run:
            stale_errors = self.state.error_ids(self.job)
            if stale_errors:
                self.state.clear_errors(self.job, self.source.missing(stale_errors))
        return deleted
