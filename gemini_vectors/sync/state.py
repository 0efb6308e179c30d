"""The sync's own records, kept in tables of the source database (or another database you name).

Why there: the state must survive the process (a run killed with SIGKILL resumes from it), be shared by
workers on several machines (they all reach the source database), and change in the same transaction as
the watch queue. Keeping it in the source database needs nothing from the vector store but the
VectorStore contract, so every store plugin works the same. All tables are created on first use, with
SQLAlchemy Core, so any SQLAlchemy dialect can hold them; the watch queue and its triggers are
PostgreSQL-only.

Tables (prefix ``gemini_vectors_``, in ``state_schema``; default: the connection's default schema):

* ``sync_jobs``: one row per job (a table synced into a logical collection): what is read, which store,
  and the **alias**: the physical collection the logical name resolves to and its embedding spec.
  A re-embed switches over by updating this one row (atomic).
* ``sync_progress``: per job and physical collection, the current pass: status and checkpoint (the last
  primary key of the last page written), so a killed run resumes after it.
* ``sync_errors``: rows that failed, with the reason, the content hash and the number of attempts.
* ``sync_log``: one line per page or queue batch (rows, embedded, ... seconds), for throughput.
* ``reembeds`` and ``batch_jobs``: a re-embed in progress and its Gemini Batch Mode jobs (the job names
  are saved before polling, so an interrupted run resumes polling instead of paying twice).
* ``queue``: changed primary keys queued by the watch triggers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gemini_vectors.errors import ConfigurationError, StoreError
from gemini_vectors.redaction import redact_url
from gemini_vectors.spec import EmbeddingSpec

log = logging.getLogger(__name__)

PREFIX = "gemini_vectors_"
_NAME = 200


def utcnow() -> dt.datetime:
    """Now, timezone-aware, for state timestamps."""
    return dt.datetime.now(dt.UTC)


def _ts(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def build_tables(schema: str | None) -> dict[str, sa.Table]:
    """The state tables, bound to a fresh MetaData in ``schema``."""
    md = sa.MetaData(schema=schema)
    jobs = sa.Table(
        PREFIX + "sync_jobs",
        md,
        sa.Column("job", sa.String(_NAME), primary_key=True),
        sa.Column("source_table", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("store_url", sa.Text, nullable=False),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("physical", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("previous_physical", sa.Text),
        sa.Column("previous_spec", sa.Text),
        _ts("switched_at"),
        _ts("created_at", nullable=False),
    )
    progress = sa.Table(
        PREFIX + "sync_progress",
        md,
        sa.Column("job", sa.String(_NAME), primary_key=True),
        sa.Column("target", sa.String(_NAME), primary_key=True),
        sa.Column("pass_no", sa.Integer, nullable=False, default=0),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("checkpoint", sa.Text),
        sa.Column("rows", sa.BigInteger, nullable=False, default=0),
        sa.Column("embedded", sa.BigInteger, nullable=False, default=0),
        sa.Column("failed", sa.BigInteger, nullable=False, default=0),
        _ts("started_at"),
        _ts("updated_at"),
        _ts("finished_at"),
    )
    errors = sa.Table(
        PREFIX + "sync_errors",
        md,
        sa.Column("job", sa.String(_NAME), primary_key=True),
        # any id the store takes (pgvector's reach 2 KB); MySQL keys need a length
        sa.Column("row_id", sa.Text().with_variant(sa.String(3072), "mysql"), primary_key=True),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _ts("first_failed_at", nullable=False),
        _ts("last_failed_at", nullable=False),
    )
    log = sa.Table(
        PREFIX + "sync_log",
        md,
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(_NAME), nullable=False),
        sa.Column("worker", sa.String(_NAME), nullable=False),
        _ts("at", nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("embedded", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Index(PREFIX + "sync_log_job_at", "job", "at"),
    )
    reembeds = sa.Table(
        PREFIX + "reembeds",
        md,
        sa.Column("job", sa.String(_NAME), primary_key=True),
        sa.Column("target", sa.String(_NAME), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch_mode", sa.Boolean, nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
    )
    batch_jobs = sa.Table(
        PREFIX + "batch_jobs",
        md,
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(_NAME), nullable=False),
        sa.Column("target", sa.String(_NAME), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False, unique=True),
        sa.Column("batch_name", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("rows", sa.Text, nullable=False),
        sa.Column("last_key", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
    )
    queue = sa.Table(
        PREFIX + "queue",
        md,
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(_NAME), nullable=False),
        sa.Column("row_id", sa.Text, nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        _ts("enqueued_at", nullable=False, server_default=sa.func.now()),
        _ts("available_at", nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Index(PREFIX + "queue_job_id", "job", "id"),
        sa.Index(PREFIX + "queue_job_row", "job", "row_id"),
    )
    return {
        "jobs": jobs,
        "progress": progress,
        "errors": errors,
        "log": log,
        "reembeds": reembeds,
        "batch_jobs": batch_jobs,
        "queue": queue,
    }


@dataclass(frozen=True)
class JobRecord:
    """A sync job as recorded: what it reads, where it writes, and the alias of its collection."""

    job: str
    source_table: str
    config: Mapping[str, Any]
    fingerprint: str
    store_url: str
    collection: str
    physical: str
    spec: EmbeddingSpec
    previous_physical: str | None
    previous_spec: EmbeddingSpec | None
    switched_at: dt.datetime | None


@dataclass(frozen=True)
class Progress:
    """The current pass of a job over one physical collection."""

    status: str
    checkpoint: str | None
    pass_no: int
    rows: int
    embedded: int
    failed: int
    started_at: dt.datetime | None
    updated_at: dt.datetime | None
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class ErrorRecord:
    """A row that failed, and why."""

    row_id: str
    reason: str
    attempts: int
    content_hash: str | None
    last_failed_at: dt.datetime


@dataclass(frozen=True)
class LogCounts:
    """The counters of one page or queue batch."""

    rows: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0


@dataclass(frozen=True)
class BatchRecord:
    """A Gemini Batch Mode job submitted for a re-embed."""

    id: int
    display_name: str
    batch_name: str | None
    status: str
    rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    last_key: str = ""


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    digest = hashlib.sha256("\x00".join(("gemini_vectors.sync", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# exclusive sections in this process, for state databases without advisory locks
_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


class SyncState:
    """The state tables of one database and schema, and the operations on them.

    Args:
        engine: The database that holds the state (usually the source database).
        schema: The schema of the state tables (created when missing); None: the default schema.
    """

    def __init__(self, engine: sa.Engine, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self.tables = build_tables(schema)
        self._ready = False
        self._seen = False

    @property
    def is_postgres(self) -> bool:
        """Whether the state lives in PostgreSQL (which the watch queue needs)."""
        return self.engine.dialect.name == "postgresql"

    def t(self, name: str) -> sa.Table:
        """One of the state tables by short name (``jobs``, ``progress``, ``queue``...)."""
        return self.tables[name]

    # -- setup --------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the state tables were created already (a dry run must not create them)."""
        if self._ready or self._seen:
            return True
        # once seen, never asked again: searches resolve the alias on every request
        self._seen = sa.inspect(self.engine).has_table(self.t("jobs").name, schema=self.schema)
        return self._seen

    def ensure(self) -> None:
        """Create the schema and the state tables when missing (safe when several processes race)."""
        if self._ready:
            return
        with self.engine.begin() as conn:
            if self.is_postgres:
                # CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE; serialize them.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key("ddl", self.schema or ""))))
                if self.schema:
                    conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            elif self.schema and self.engine.dialect.name != "sqlite":
                conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            md = next(iter(self.tables.values())).metadata
            tables = [t for n, t in self.tables.items() if n != "queue" or self.is_postgres]
            md.create_all(conn, tables=tables, checkfirst=True)
            if self.is_postgres:
                self._widen_row_ids(conn)
        self._ready = True

    def _widen_row_ids(self, conn: sa.Connection) -> None:
        """Tables made by versions that kept error row ids in varchar(512) take any id now."""
        errors = self.t("errors")
        length = conn.execute(
            sa.text(
                "SELECT character_maximum_length FROM information_schema.columns "
                "WHERE table_schema = coalesce(:schema, current_schema()) AND table_name = :table "
                "AND column_name = 'row_id'"
            ),
            {"schema": self.schema, "table": errors.name},
        ).scalar()
        if length is not None:
            from psycopg import sql

            raw = conn.connection.driver_connection
            assert raw is not None
            name = sql.Identifier(self.schema, errors.name) if self.schema else sql.Identifier(errors.name)
            raw.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN row_id TYPE text").format(name))

    @contextmanager
    def exclusive(self, *parts: str, what: str = "") -> Iterator[None]:
        """Hold a lock named by ``parts`` across processes and machines until the block ends.

        On PostgreSQL a session advisory lock held by a connection of its own, with no transaction left
        open, so a process that is killed lets go at once. Elsewhere a lock of this process only (the
        watch queue, the one multi-machine mode, needs PostgreSQL anyway). A second holder waits.
        """
        if not self.is_postgres:
            name = f"{self.engine.url!r}/{self.schema or ''}/" + "/".join(parts)
            with _LOCAL_LOCKS_GUARD:
                lock = _LOCAL_LOCKS.setdefault(name, threading.Lock())
            if not lock.acquire(blocking=False):
                log.warning("waiting for %s in this process", what or "/".join(parts))
                lock.acquire()
            try:
                yield
            finally:
                lock.release()
            return
        key = lock_key(*parts)
        with self.engine.connect() as conn:
            if not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one():
                log.warning("waiting for %s, held by another process", what or "/".join(parts))
                conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
            conn.commit()  # the lock is the session's: no transaction stays open meanwhile
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction on the state database (tables created first)."""
        self.ensure()
        with self.engine.begin() as conn:
            yield conn

    # -- jobs and aliases ---------------------------------------------------------------------------------

    def _job(self, row: Any) -> JobRecord:
        return JobRecord(
            job=row.job,
            source_table=row.source_table,
            config=json.loads(row.config),
            fingerprint=row.fingerprint,
            store_url=row.store_url,
            collection=row.collection,
            physical=row.physical,
            spec=EmbeddingSpec.from_json(row.spec),
            previous_physical=row.previous_physical,
            previous_spec=EmbeddingSpec.from_json(row.previous_spec) if row.previous_spec else None,
            switched_at=row.switched_at,
        )

    def get_job(
        self, job: str, conn: sa.Connection | None = None, *, for_share: bool = False
    ) -> JobRecord | None:
        """The job's record, or None. ``for_share`` locks it against a switch until the transaction ends."""
        if conn is None and not self.exists():
            return None
        jobs = self.t("jobs")
        query = sa.select(jobs).where(jobs.c.job == job)
        if for_share and self.is_postgres:
            query = query.with_for_update(read=True)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.engine.connect() as own:
                row = own.execute(query).first()
        return self._job(row) if row is not None else None

    def jobs_for_collection(self, collection: str) -> list[JobRecord]:
        """Every job that writes into logical collection ``collection``."""
        if not self.exists():
            return []
        jobs = self.t("jobs")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs).where(jobs.c.collection == collection)).all()
        return [self._job(r) for r in rows]

    def create_job(
        self,
        job: str,
        *,
        source_table: str,
        config: Mapping[str, Any],
        fingerprint: str,
        store_url: str,
        collection: str,
        physical: str,
        spec: EmbeddingSpec,
    ) -> JobRecord:
        """Record a new job (or return the one another process recorded meanwhile)."""
        jobs = self.t("jobs")
        values = {
            "job": job,
            "source_table": source_table,
            "config": json.dumps(dict(config), sort_keys=True),
            "fingerprint": fingerprint,
            "store_url": redact_url(store_url),
            "collection": collection,
            "physical": physical,
            "spec": spec.to_json(),
            "created_at": utcnow(),
        }
        try:
            with self.begin() as conn:
                conn.execute(jobs.insert().values(**values))
        except sa.exc.IntegrityError:
            pass
        record = self.get_job(job)
        assert record is not None
        return record

    def update_job_config(self, job: str, *, config: Mapping[str, Any], fingerprint: str) -> None:
        """Record a changed configuration (columns...) of an existing job."""
        jobs = self.t("jobs")
        with self.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.job == job)
                .values(config=json.dumps(dict(config), sort_keys=True), fingerprint=fingerprint)
            )

    def update_job_store(self, job: str, store_url: str) -> None:
        """Record the (redacted) URL of the store the job writes to now."""
        jobs = self.t("jobs")
        with self.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.job == job).values(store_url=redact_url(store_url)))

    def switch(self, job: str, physical: str, spec: EmbeddingSpec) -> None:
        """Point the job's logical collection at ``physical`` (one UPDATE: atomic for every reader).

        On PostgreSQL the UPDATE waits for watch workers that hold the alias (``for_share``), so no
        worker writes into the old collection after the switch commits.
        """
        jobs = self.t("jobs")
        with self.begin() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.job == job).with_for_update()).first()
            if row is None:
                raise ConfigurationError(f"no sync job {job!r}")
            conn.execute(
                jobs.update()
                .where(jobs.c.job == job)
                .values(
                    physical=physical,
                    spec=spec.to_json(),
                    previous_physical=row.physical,
                    previous_spec=row.spec,
                    switched_at=utcnow(),
                )
            )

    def reset_spec(self, job: str, spec: EmbeddingSpec) -> None:
        """Give a job that has stored no vector yet another spec (its pass starts over)."""
        jobs = self.t("jobs")
        p = self.t("progress")
        with self.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.job == job).values(spec=spec.to_json()))
            conn.execute(p.delete().where(p.c.job == job))

    def forget_previous(self, job: str) -> None:
        """Clear the record of the previous physical collection (after it was dropped)."""
        jobs = self.t("jobs")
        with self.begin() as conn:
            conn.execute(
                jobs.update().where(jobs.c.job == job).values(previous_physical=None, previous_spec=None)
            )

    # -- progress -----------------------------------------------------------------------------------------

    def get_progress(self, job: str, target: str) -> Progress | None:
        """The current pass of ``job`` over physical collection ``target``."""
        if not self.exists():
            return None
        p = self.t("progress")
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(p).where(p.c.job == job, p.c.target == target)).first()
        if row is None:
            return None
        return Progress(
            row.status,
            row.checkpoint,
            row.pass_no,
            row.rows,
            row.embedded,
            row.failed,
            row.started_at,
            row.updated_at,
            row.finished_at,
        )

    def start_pass(self, job: str, target: str) -> None:
        """Begin a new pass from the first row."""
        p = self.t("progress")
        now = utcnow()
        values = {
            "status": "running",
            "checkpoint": None,
            "rows": 0,
            "embedded": 0,
            "failed": 0,
            "started_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        for _ in range(2):
            try:
                with self.begin() as conn:
                    done = conn.execute(
                        p.update()
                        .where(p.c.job == job, p.c.target == target)
                        .values(pass_no=p.c.pass_no + 1, **values)
                    )
                    if done.rowcount == 0:
                        conn.execute(p.insert().values(job=job, target=target, pass_no=1, **values))
                return
            except sa.exc.IntegrityError:
                continue  # another process inserted the row between our UPDATE and INSERT: update it
        raise StoreError(f"cannot start a pass of sync job {job!r} into {target!r}: its progress row races")

    def advance(
        self, job: str, target: str, checkpoint: str, counts: LogCounts, *, worker: str, seconds: float
    ) -> None:
        """Record that every row up to ``checkpoint`` is written (and log the page), in one transaction."""
        p = self.t("progress")
        now = utcnow()
        with self.begin() as conn:
            conn.execute(
                p.update()
                .where(p.c.job == job, p.c.target == target)
                .values(
                    checkpoint=checkpoint,
                    rows=p.c.rows + counts.rows,
                    embedded=p.c.embedded + counts.embedded,
                    failed=p.c.failed + counts.failed,
                    updated_at=now,
                )
            )
            self._log(conn, job, worker, counts, seconds, now)

    def finish_pass(self, job: str, target: str) -> None:
        """Mark the pass complete: the next run starts a new one from the first row."""
        p = self.t("progress")
        now = utcnow()
        with self.begin() as conn:
            conn.execute(
                p.update()
                .where(p.c.job == job, p.c.target == target)
                .values(status="done", updated_at=now, finished_at=now)
            )

    # -- log and throughput -------------------------------------------------------------------------------

    def _log(
        self, conn: sa.Connection, job: str, worker: str, counts: LogCounts, seconds: float, at: dt.datetime
    ) -> None:
        if counts == LogCounts():
            return
        conn.execute(
            self.t("log")
            .insert()
            .values(
                job=job,
                worker=worker,
                at=at,
                rows=counts.rows,
                embedded=counts.embedded,
                unchanged=counts.unchanged,
                deleted=counts.deleted,
                failed=counts.failed,
                seconds=seconds,
            )
        )

    def log(
        self, job: str, worker: str, counts: LogCounts, seconds: float, conn: sa.Connection | None = None
    ) -> None:
        """Log one unit of work for throughput figures."""
        if conn is not None:
            self._log(conn, job, worker, counts, seconds, utcnow())
            return
        with self.begin() as own:
            self._log(own, job, worker, counts, seconds, utcnow())

    def throughput(self, job: str, since: dt.datetime) -> dict[str, Any]:
        """Totals logged since ``since``: rows, embedded, unchanged, deleted, failed, and workers seen."""
        log = self.t("log")
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(log.c.rows), 0),
                    sa.func.coalesce(sa.func.sum(log.c.embedded), 0),
                    sa.func.coalesce(sa.func.sum(log.c.unchanged), 0),
                    sa.func.coalesce(sa.func.sum(log.c.deleted), 0),
                    sa.func.coalesce(sa.func.sum(log.c.failed), 0),
                    sa.func.count(sa.distinct(log.c.worker)),
                ).where(log.c.job == job, log.c.at >= since)
            ).one()
        keys = ("rows", "embedded", "unchanged", "deleted", "failed", "workers")
        return {k: int(v) for k, v in zip(keys, row, strict=True)}

    def work_by_worker(self, job: str) -> dict[str, int]:
        """Rows handled per worker name, over the whole log (tests and ``--status`` use it)."""
        log = self.t("log")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(log.c.worker, sa.func.sum(log.c.rows))
                .where(log.c.job == job)
                .group_by(log.c.worker)
            ).all()
        return {w: int(n) for w, n in rows}

    # -- errors -------------------------------------------------------------------------------------------

    def record_failures(
        self,
        job: str,
        failures: Mapping[str, tuple[str | None, str]],
        conn: sa.Connection | None = None,
        *,
        attempts: Mapping[str, int] | None = None,
    ) -> None:
        """Upsert error rows: ``failures`` maps row id to (content hash, reason).

        Attempts count up by one for a row failing again with the same content, and restart at 1 when the
        content changed; ``attempts`` sets them instead (the watch queue counts its own).
        """
        if not failures:
            return
        if conn is None:
            with self.begin() as own:
                self.record_failures(job, failures, own, attempts=attempts)
            return
        e = self.t("errors")
        now = utcnow()
        ids = list(failures)
        existing = {
            r.row_id: r
            for start in range(0, len(ids), 1000)
            for r in conn.execute(
                sa.select(e.c.row_id, e.c.attempts, e.c.content_hash).where(
                    e.c.job == job, e.c.row_id.in_(ids[start : start + 1000])
                )
            )
        }
        for rid, (chash, reason) in failures.items():
            old = existing.get(rid)
            if attempts is not None and rid in attempts:
                n = attempts[rid]
            elif old is not None and (chash is None or old.content_hash == chash):
                n = old.attempts + 1
            else:
                n = 1
            reason = reason[:4000]
            if old is None:
                conn.execute(
                    e.insert().values(
                        job=job,
                        row_id=rid,
                        content_hash=chash,
                        reason=reason,
                        attempts=n,
                        first_failed_at=now,
                        last_failed_at=now,
                    )
                )
            else:
                conn.execute(
                    e.update()
                    .where(e.c.job == job, e.c.row_id == rid)
                    .values(content_hash=chash, reason=reason, attempts=n, last_failed_at=now)
                )

    def clear_errors(
        self, job: str, ids: Sequence[str] | None = None, conn: sa.Connection | None = None
    ) -> int:
        """Forget the errors of these rows (all of the job's when None); returns how many were forgotten."""
        if not self.exists() or (ids is not None and not ids):
            return 0
        if conn is None:
            with self.begin() as own:
                return self.clear_errors(job, ids, own)
        e = self.t("errors")
        if ids is None:
            return int(conn.execute(e.delete().where(e.c.job == job)).rowcount or 0)
        total = 0
        id_list = list(ids)
        for start in range(0, len(id_list), 1000):
            chunk = id_list[start : start + 1000]
            total += int(conn.execute(e.delete().where(e.c.job == job, e.c.row_id.in_(chunk))).rowcount or 0)
        return total

    def exhausted(self, job: str, hashes: Mapping[str, str], max_attempts: int) -> dict[str, str]:
        """Rows whose unchanged content failed ``max_attempts`` times already, with the last reason.

        A sync does not send them again (that would pay for the same rejection every run) until their
        content changes or their errors are cleared (``gemini-vectors sync --retry-errors``).
        """
        if not hashes or not self.exists():
            return {}
        e = self.t("errors")
        ids = list(hashes)
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                for r in conn.execute(
                    sa.select(e.c.row_id, e.c.content_hash, e.c.reason).where(
                        e.c.job == job,
                        e.c.row_id.in_(ids[start : start + 1000]),
                        e.c.attempts >= max_attempts,
                    )
                ):
                    if r.content_hash == hashes.get(r.row_id):
                        out[r.row_id] = r.reason
        return out

    def list_errors(self, job: str, limit: int = 20) -> list[ErrorRecord]:
        """The job's most recent errors."""
        if not self.exists():
            return []
        e = self.t("errors")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(e)
                .where(e.c.job == job)
                .order_by(e.c.last_failed_at.desc(), e.c.row_id)
                .limit(limit)
            ).all()
        return [ErrorRecord(r.row_id, r.reason, r.attempts, r.content_hash, r.last_failed_at) for r in rows]

    def count_errors(self, job: str) -> int:
        """How many rows of the job are in the errors table."""
        if not self.exists():
            return 0
        e = self.t("errors")
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(e.c.job == job)).scalar_one())

    def error_ids(self, job: str) -> list[str]:
        """Every row id in the job's errors table."""
        if not self.exists():
            return []
        e = self.t("errors")
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(e.c.row_id).where(e.c.job == job)).scalars())

    # -- re-embeds and batch jobs -------------------------------------------------------------------------

    def get_reembed(self, job: str) -> tuple[str, EmbeddingSpec, str, bool] | None:
        """The job's unfinished re-embed: (target, spec, status, batch_mode), or None."""
        if not self.exists():
            return None
        r = self.t("reembeds")
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(r)
                .where(r.c.job == job, r.c.status.in_(["building", "switched"]))
                .order_by(r.c.created_at.desc())
            ).first()
        if row is None:
            return None
        return row.target, EmbeddingSpec.from_json(row.spec), row.status, bool(row.batch_mode)

    def reembed_targets(self, job: str) -> list[str]:
        """Every physical collection a re-embed of the job ever built."""
        if not self.exists():
            return []
        r = self.t("reembeds")
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(r.c.target).where(r.c.job == job)).scalars())

    def start_reembed(self, job: str, target: str, spec: EmbeddingSpec, batch_mode: bool) -> None:
        """Record a re-embed of ``job`` into ``target`` (status ``building``)."""
        r = self.t("reembeds")
        now = utcnow()
        with self.begin() as conn:
            conn.execute(
                r.insert().values(
                    job=job,
                    target=target,
                    spec=spec.to_json(),
                    status="building",
                    batch_mode=batch_mode,
                    created_at=now,
                    updated_at=now,
                )
            )

    def set_reembed_status(self, job: str, target: str, status: str) -> None:
        """Move a re-embed to ``status`` (``building``, ``switched``, ``done``, ``aborted``)."""
        r = self.t("reembeds")
        with self.begin() as conn:
            conn.execute(
                r.update()
                .where(r.c.job == job, r.c.target == target)
                .values(status=status, updated_at=utcnow())
            )

    def add_batch(
        self,
        job: str,
        target: str,
        display_name: str,
        rows: Sequence[tuple[str, str, dict[str, Any]]],
        last_key: str,
    ) -> int:
        """Record a batch job about to be created (status ``creating``), before any money is spent."""
        b = self.t("batch_jobs")
        now = utcnow()
        with self.begin() as conn:
            result = conn.execute(
                b.insert().values(
                    job=job,
                    target=target,
                    display_name=display_name,
                    batch_name=None,
                    status="creating",
                    items=len(rows),
                    rows=json.dumps([list(r) for r in rows]),
                    last_key=last_key,
                    created_at=now,
                    updated_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def batch_submitted(self, record_id: int, batch_name: str, *, job: str, progress_target: str) -> None:
        """Save the created job's name and advance the submit checkpoint past its rows, atomically."""
        b = self.t("batch_jobs")
        p = self.t("progress")
        now = utcnow()
        with self.begin() as conn:
            last_key = conn.execute(sa.select(b.c.last_key).where(b.c.id == record_id)).scalar_one()
            conn.execute(
                b.update()
                .where(b.c.id == record_id)
                .values(batch_name=batch_name, status="submitted", updated_at=now)
            )
            conn.execute(
                p.update()
                .where(p.c.job == job, p.c.target == progress_target)
                .values(checkpoint=last_key, updated_at=now)
            )

    def set_batch_status(self, record_id: int, status: str) -> None:
        """Mark a batch record ``collected``, ``failed``..."""
        b = self.t("batch_jobs")
        with self.begin() as conn:
            conn.execute(b.update().where(b.c.id == record_id).values(status=status, updated_at=utcnow()))

    def batches(self, job: str, target: str, statuses: Sequence[str]) -> list[BatchRecord]:
        """The re-embed's batch records in these statuses, oldest first."""
        if not self.exists():
            return []
        b = self.t("batch_jobs")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(b)
                .where(b.c.job == job, b.c.target == target, b.c.status.in_(list(statuses)))
                .order_by(b.c.id)
            ).all()
        return [
            BatchRecord(
                r.id,
                r.display_name,
                r.batch_name,
                r.status,
                [(str(x[0]), str(x[1]), dict(x[2])) for x in json.loads(r.rows)],
                r.last_key,
            )
            for r in rows
        ]

    def count_batches(self, job: str, target: str) -> dict[str, int]:
        """Batch records of a re-embed by status."""
        if not self.exists():
            return {}
        b = self.t("batch_jobs")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(b.c.status, sa.func.count())
                .where(b.c.job == job, b.c.target == target)
                .group_by(b.c.status)
            ).all()
        return {s: int(n) for s, n in rows}


def wrap_db_error(what: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
    """A StoreError for a failed state or source operation (the driver's error stays on ``__cause__``)."""
    return StoreError(f"{what} failed: {exc}")
