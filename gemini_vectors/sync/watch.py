"""Continuous sync from PostgreSQL: triggers queue changed keys, workers drain the queue.

``install()`` adds row triggers to the source table that insert the primary key of every inserted,
deleted or updated row into ``gemini_vectors_queue`` (updates only when a content, metadata or id column
changed), and a statement trigger that queues a sweep when the table is truncated. Writers never wait for
workers: a trigger only appends a queue row (a row whose id is NULL is not queued: it cannot be keyed).

A worker takes a batch in one transaction:

1. ``SELECT ... FOR UPDATE SKIP LOCKED`` the oldest available queue entries, so workers on any number of
   machines take disjoint entries without waiting for each other;
2. takes a transaction-scoped advisory lock per row id (``pg_try_advisory_xact_lock``), skipping ids
   another worker holds, and also claims the other queued entries of the ids it got: a row is never
   processed by two workers at once, so it is never embedded twice;
3. reads the alias with ``FOR SHARE`` (a re-embed's switch waits for the batch to finish), reads the
   rows and writes them through the one write path (:mod:`~gemini_vectors.sync.writer`): it embeds what
   changed, re-reads the rows under a share lock and stores only vectors of content that is still there,
   and deletes vectors of gone rows;
4. deletes the finished entries and commits. The entries of a row that kept changing while it was
   embedded stay queued, to be taken again at once.

A request-level failure (a wrong API key, a missing permission, an unknown model, a spent project quota)
is no failure of the rows: the batch rolls back untouched and the workers stop with the API's message.

A worker that dies holds nothing: its transaction rolls back and the entries are claimable again. An
entry whose row fails (the API rejects it, a file is unreadable, the store is down) gets its attempts
counted and is retried after an exponential backoff; after ``max_attempts`` it moves to the errors table
with its reason instead of blocking the queue.

The statements use SQLAlchemy Core with bound parameters; the DDL composes identifiers with
:mod:`psycopg.sql` and never pastes a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from gemini_vectors.arguments import check_count
from gemini_vectors.errors import ConfigurationError, EmbeddingError, RequestRejectedError, StoreError
from gemini_vectors.sync.state import ErrorRecord, LogCounts, Progress, lock_key, utcnow
from gemini_vectors.sync.summary import PageResult, SyncSummary, worker_name
from gemini_vectors.sync.writer import row_lock_namespace

if TYPE_CHECKING:
    from psycopg import sql

    from gemini_vectors.collection import Collection
    from gemini_vectors.spec import EmbeddingSpec
    from gemini_vectors.sync.job import SyncJob
    from gemini_vectors.sync.state import JobRecord

log = logging.getLogger(__name__)

#: Failures of a whole batch (not of one item): counted against every row of it, retried with backoff.
#: A RequestRejectedError, though an EmbeddingError, is not one of them: it stops the workers instead.
BATCH_ERRORS: tuple[type[BaseException], ...] = (EmbeddingError, StoreError, sa.exc.OperationalError)
#: The queue entry a TRUNCATE leaves: its row id is empty, its op ``T``.
TRUNCATE_OP = "T"


@dataclass(frozen=True)
class WatchStatus:
    """Queue depth, errors and throughput of one job (``gemini-vectors sync --status``)."""

    job: str
    table: str
    collection: str
    physical: str | None
    spec: EmbeddingSpec | None
    installed: bool
    queue_depth: int
    queue_rows: int
    retrying: int
    oldest_seconds: float | None
    errors: int
    recent_errors: list[ErrorRecord] = field(default_factory=list)
    last_minute: dict[str, int] = field(default_factory=dict)
    last_hour: dict[str, int] = field(default_factory=dict)
    progress: Progress | None = None
    reembed: str | None = None

    def lines(self) -> list[str]:
        """The report ``--status`` prints."""
        spec = self.spec.describe() if self.spec else "-"
        out = [
            f"job {self.job}: table {self.table} -> collection {self.collection} "
            f"(physical {self.physical or '-'}, {spec})",
            f"triggers: {'installed' if self.installed else 'not installed'}",
        ]
        age = f", oldest {self.oldest_seconds:.0f} s" if self.oldest_seconds is not None else ""
        out.append(
            f"queue: {self.queue_depth} entries for {self.queue_rows} rows, {self.retrying} retrying{age}"
        )
        for label, t in (("last minute", self.last_minute), ("last hour", self.last_hour)):
            if t:
                out.append(
                    f"{label}: {t['rows']} rows ({t['embedded']} embedded, {t['unchanged']} unchanged, "
                    f"{t['deleted']} deleted, {t['failed']} failed) by {t['workers']} workers"
                )
        if self.progress is not None:
            p = self.progress
            out.append(
                f"last pass: {p.status}, {p.rows} rows, {p.embedded} embedded, {p.failed} failed"
                + (f", checkpoint {p.checkpoint}" if p.status == "running" and p.checkpoint else "")
            )
        if self.reembed:
            out.append(f"re-embed in progress: {self.reembed}")
        out.append(f"errors: {self.errors}")
        for e in self.recent_errors:
            out.append(f"  {e.row_id}: {e.attempts} attempts, {e.reason[:160]}")
        return out


def _short(job: str) -> str:
    return hashlib.sha256(job.encode()).hexdigest()[:10]


def _ident(schema: str | None, name: str) -> sql.Identifier:
    from psycopg import sql

    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


class Watcher:
    """Triggers, queue and workers that keep a collection in step with a PostgreSQL table.

    Args:
        vectorizer: The job to keep in step.
        batch_size: Queue entries a worker takes per transaction.
        poll_interval: Seconds an idle worker waits before looking again.
        backoff: Seconds before the first retry of a failed row; doubles per attempt (capped at 1 h).
    """

    def __init__(
        self,
        vectorizer: SyncJob,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        backoff: float = 2.0,
    ) -> None:
        self.v = vectorizer
        self.batch_size = check_count(batch_size, "batch_size", error=ConfigurationError)
        self.poll_interval = poll_interval
        self.backoff = backoff
        self._ns = row_lock_namespace(vectorizer.job)
        self._collections: dict[tuple[str, EmbeddingSpec], Collection] = {}
        self._lock = threading.Lock()

    @property
    def job(self) -> str:
        """The job's name."""
        return self.v.job

    def _require_postgres(self) -> None:
        if self.v.engine.dialect.name != "postgresql" or not self.v.state.is_postgres:
            raise ConfigurationError(
                "continuous sync (--watch) needs a PostgreSQL source that also keeps the state; "
                f"the source is {self.v.engine.dialect.name}. "
                "Run `gemini-vectors sync` on a schedule instead."
            )

    def _names(self, conn: sa.Connection) -> tuple[sql.Identifier, sql.Identifier, str, str, sql.Identifier]:
        state_schema = self.v.state.schema or conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        suffix = _short(self.job)
        fn = _ident(state_schema, f"gemini_vectors_enqueue_{suffix}")
        queue = _ident(state_schema, self.v.state.t("queue").name)
        table = _ident(self.v.source.schema, self.v.source.name)
        return fn, queue, f"gemini_vectors_{suffix}_ins_del", f"gemini_vectors_{suffix}_upd", table

    def _truncate_trigger(self) -> str:
        return f"gemini_vectors_{_short(self.job)}_trunc"

    # -- install ------------------------------------------------------------------------------------------

    def install(self) -> None:
        """Create the queue and the triggers (idempotent; re-running updates them to the current columns)."""
        from psycopg import sql

        self._require_postgres()
        self.v.state.ensure()
        self.v.ensure_job()
        src = self.v.source
        with self.v.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key("install", self.job))))
            raw = conn.connection.driver_connection
            assert raw is not None
            fn, queue, trg_ins_del, trg_upd, table = self._names(conn)
            rid = sql.Identifier(src.id_column)
            job = sql.Literal(self.job)
            # A NULL id is never queued: the row cannot be keyed, and the queue's NOT NULL would make
            # the application's own INSERT fail. A TRUNCATE queues one sweep of the whole collection.
            body = sql.SQL(
                "BEGIN\n"
                "  IF TG_OP = 'TRUNCATE' THEN\n"
                "    INSERT INTO {queue} (job, row_id, op) VALUES ({job}, '', 'T');\n"
                "    RETURN NULL;\n"
                "  END IF;\n"
                "  IF TG_OP = 'DELETE' THEN\n"
                "    IF OLD.{rid} IS NOT NULL THEN\n"
                "      INSERT INTO {queue} (job, row_id, op) VALUES ({job}, OLD.{rid}::text, 'D');\n"
                "    END IF;\n"
                "    RETURN NULL;\n"
                "  END IF;\n"
                "  IF TG_OP = 'UPDATE' AND OLD.{rid} IS DISTINCT FROM NEW.{rid}\n"
                "     AND OLD.{rid} IS NOT NULL THEN\n"
                "    INSERT INTO {queue} (job, row_id, op) VALUES ({job}, OLD.{rid}::text, 'D');\n"
                "  END IF;\n"
                "  IF NEW.{rid} IS NOT NULL THEN\n"
                "    INSERT INTO {queue} (job, row_id, op) VALUES ({job}, NEW.{rid}::text, left(TG_OP, 1));\n"
                "  END IF;\n"
                "  RETURN NULL;\n"
                "END"
            ).format(queue=queue, job=job, rid=rid)
            body_text = body.as_string(raw)
            changed = sql.SQL(" OR ").join(
                sql.SQL("OLD.{c}{cast} IS DISTINCT FROM NEW.{c}{cast}").format(
                    c=sql.Identifier(name), cast=sql.SQL(self._cast(name))
                )
                for name in src.watched_columns
            )
            statements = [
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS {body}"
                ).format(fn=fn, body=sql.Literal(body_text)),
                sql.SQL("DROP TRIGGER IF EXISTS {t} ON {table}").format(
                    t=sql.Identifier(trg_ins_del), table=table
                ),
                sql.SQL(
                    "CREATE TRIGGER {t} AFTER INSERT OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION {fn}()"
                ).format(t=sql.Identifier(trg_ins_del), table=table, fn=fn),
                sql.SQL("DROP TRIGGER IF EXISTS {t} ON {table}").format(
                    t=sql.Identifier(trg_upd), table=table
                ),
                sql.SQL(
                    "CREATE TRIGGER {t} AFTER UPDATE ON {table} FOR EACH ROW WHEN ({changed}) "
                    "EXECUTE FUNCTION {fn}()"
                ).format(t=sql.Identifier(trg_upd), table=table, changed=changed, fn=fn),
                sql.SQL("DROP TRIGGER IF EXISTS {t} ON {table}").format(
                    t=sql.Identifier(self._truncate_trigger()), table=table
                ),
                sql.SQL(
                    "CREATE TRIGGER {t} AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
                ).format(t=sql.Identifier(self._truncate_trigger()), table=table, fn=fn),
            ]
            for statement in statements:
                raw.execute(statement)

    def _cast(self, column: str) -> str:
        col = self.v.source.table.c[column]
        # json (unlike jsonb) has no equality operator
        if isinstance(col.type, sa.JSON) and col.type.__class__.__name__ != "JSONB":
            return "::jsonb"
        return ""

    def uninstall(self) -> None:
        """Drop the triggers and the trigger function (the queue table and its entries stay)."""
        from psycopg import sql

        self._require_postgres()
        with self.v.engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            fn, _queue, trg_ins_del, trg_upd, table = self._names(conn)
            for trg in (trg_ins_del, trg_upd, self._truncate_trigger()):
                raw.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trg), table))
            raw.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(fn))

    def installed(self) -> bool:
        """Whether this job's triggers are on the source table."""
        if self.v.engine.dialect.name != "postgresql":
            return False
        suffix = _short(self.job)
        with self.v.engine.connect() as conn:
            n = conn.execute(
                sa.text("SELECT count(*) FROM pg_trigger WHERE tgname IN (:a, :b, :c) AND NOT tgisinternal"),
                {
                    "a": f"gemini_vectors_{suffix}_ins_del",
                    "b": f"gemini_vectors_{suffix}_upd",
                    "c": self._truncate_trigger(),
                },
            ).scalar_one()
        return int(n) >= 2

    # -- workers ------------------------------------------------------------------------------------------

    def _collection(self, physical: str, spec: EmbeddingSpec) -> Collection:
        with self._lock:
            coll = self._collections.get((physical, spec))
            if coll is None:
                coll = self.v.open(physical, spec)
                self._collections[(physical, spec)] = coll
            return coll

    def process_batch(self, worker: str | None = None) -> SyncSummary | None:
        """Take one batch from the queue and process it; None when nothing was available.

        Returns an empty summary (``rows == 0``) when every available row was held by another worker.

        Raises:
            RequestRejectedError: the API refused the requests as a whole; the batch rolled back and
                its entries wait, with no attempt counted.
        """
        self._require_postgres()
        who = worker or worker_name("watch")
        state = self.v.state
        q = state.t("queue")
        start = time.monotonic()
        with self.v.engine.connect() as conn, conn.begin():
            picked = conn.execute(
                sa.select(q.c.id, q.c.row_id, q.c.attempts, q.c.op)
                .where(q.c.job == self.job, q.c.available_at <= sa.func.now())
                .order_by(q.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not picked:
                return None
            rec = state.get_job(self.job, conn, for_share=True)
            if rec is None:
                raise ConfigurationError(f"sync job {self.job!r} has no record; run install() first")
            coll = self._collection(rec.physical, rec.spec)
            truncations = [r.id for r in picked if r.op == TRUNCATE_OP]
            if truncations:
                return self._after_truncate(conn, coll, rec, truncations, who, start)
            row_ids = list(dict.fromkeys(r.row_id for r in picked))
            # one worker per row id at a time, across machines; ids held elsewhere are left for later
            locked: list[str] = list(
                conn.execute(
                    sa.text(
                        "SELECT r FROM unnest(CAST(:ids AS text[])) AS r "
                        "WHERE pg_try_advisory_xact_lock(:ns, hashtext(r))"
                    ),
                    {"ids": row_ids, "ns": self._ns},
                ).scalars()
            )
            if not locked:
                return SyncSummary()
            mine = set(locked)
            entries: dict[str, list[tuple[int, int]]] = {}
            for r in picked:
                if r.row_id in mine:
                    entries.setdefault(r.row_id, []).append((r.id, r.attempts))
            more = conn.execute(
                sa.select(q.c.id, q.c.row_id, q.c.attempts)
                .where(
                    q.c.job == self.job,
                    q.c.row_id.in_(locked),
                    q.c.id.not_in([r.id for r in picked]),
                    q.c.op != TRUNCATE_OP,
                )
                .with_for_update(skip_locked=True)
            ).all()
            for extra in more:
                entries.setdefault(extra.row_id, []).append((extra.id, extra.attempts))

            writer = self.v.writer(rec.physical, rec)
            savepoint = conn.begin_nested()
            try:
                rows = self.v.source.fetch(locked, conn=conn)
                present = {r.id for r in rows}
                gone = [i for i in locked if i not in present]
                res = writer.write(rows, coll, hold_exhausted=False, gone=gone, conn=conn)
                savepoint.commit()
            except RequestRejectedError:
                savepoint.rollback()
                raise  # not the rows' fault: the whole transaction rolls back, no attempt is counted
            except BATCH_ERRORS as exc:
                savepoint.rollback()
                log.warning("watch batch of %d rows failed: %s", len(locked), exc)
                reason = f"{type(exc).__name__}: {exc}"
                res = PageResult(failures={rid: (None, reason) for rid in locked})
                res.failed = len(locked)
            self._settle(conn, entries, res)
            counts = LogCounts(len(locked), res.embedded, res.unchanged, res.deleted, res.failed)
            state.log(self.job, who, counts, time.monotonic() - start, conn)
        return res.summary(len(locked)).with_seconds(time.monotonic() - start)

    def _after_truncate(
        self,
        conn: sa.Connection,
        coll: Collection,
        rec: JobRecord,
        entries: list[int],
        who: str,
        start: float,
    ) -> SyncSummary:
        """The table was truncated: sweep the vectors whose rows are gone, then drop the entries."""
        # one sweep at a time per job; another worker that meets a TRUNCATE entry skips it meanwhile
        got = conn.execute(
            sa.select(sa.func.pg_try_advisory_xact_lock(lock_key("sweep", self.job)))
        ).scalar_one()
        if not got:
            return SyncSummary()
        deleted = self.v.sweep_deleted(coll, writer=self.v.writer(rec.physical, rec))
        q = self.v.state.t("queue")
        conn.execute(q.delete().where(q.c.id.in_(entries)))
        self.v.state.log(self.job, who, LogCounts(deleted=deleted), time.monotonic() - start, conn)
        return SyncSummary(deleted=deleted, rows=len(entries), seconds=time.monotonic() - start)

    def _settle(
        self, conn: sa.Connection, entries: dict[str, list[tuple[int, int]]], res: PageResult
    ) -> None:
        """Delete the entries of finished rows; count an attempt (or give up) for failed ones."""
        state = self.v.state
        q = state.t("queue")
        # a row that kept changing while it was embedded keeps its entries, for the next batch to take
        done = [
            eid
            for rid, es in entries.items()
            if rid not in res.failures and rid not in res.moved
            for eid, _ in es
        ]
        for start in range(0, len(done), 1000):
            conn.execute(q.delete().where(q.c.id.in_(done[start : start + 1000])))
        # a moved row is taken again soon (not at once: an application transaction may be holding it)
        again = [eid for rid, es in entries.items() if rid in res.moved for eid, _ in es]
        if again:
            conn.execute(
                q.update()
                .where(q.c.id.in_(again))
                .values(available_at=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, 0.5))
            )
        ok_rows = [rid for rid in entries if rid not in res.failures and rid not in res.moved]
        state.clear_errors(self.job, ok_rows, conn)
        given_up: dict[str, tuple[str | None, str]] = {}
        attempts: dict[str, int] = {}
        for rid, (chash, reason) in res.failures.items():
            es = entries.get(rid, [])
            n = max((a for _, a in es), default=0) + 1
            ids = [eid for eid, _ in es]
            if n >= self.v.max_attempts:
                given_up[rid] = (chash, reason)
                attempts[rid] = n
                conn.execute(q.delete().where(q.c.id.in_(ids)))
            else:
                delay = min(self.backoff * 2 ** (n - 1), 3600.0)
                conn.execute(
                    q.update()
                    .where(q.c.id.in_(ids))
                    .values(
                        attempts=n,
                        last_error=reason[:4000],
                        available_at=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, delay),
                    )
                )
        state.record_failures(self.job, given_up, conn, attempts=attempts)

    def run(
        self,
        workers: int = 1,
        *,
        drain: bool = False,
        stop: threading.Event | None = None,
        on_batch: Callable[[SyncSummary], None] | None = None,
    ) -> SyncSummary:
        """Run worker threads until ``stop`` is set (or, with ``drain``, until nothing is available).

        Args:
            workers: Worker threads in this process (each has its own connection and transactions;
                run the command on several machines for more).
            drain: Return once the queue has no available entry (entries waiting for a retry stay).
            stop: Set it to make the workers finish their batch and return (Ctrl-C does the same).
            on_batch: Called after each batch with its summary (from the worker's thread).
        """
        check_count(workers, "workers", error=ConfigurationError)
        self._require_postgres()
        stop = stop or threading.Event()
        total = SyncSummary()
        lock = threading.Lock()
        failures: list[BaseException] = []

        def loop(index: int) -> None:
            nonlocal total
            name = worker_name(f"w{index}")
            while not stop.is_set():
                try:
                    summary = self.process_batch(name)
                except RequestRejectedError as exc:
                    # no batch can succeed until the key, permission, model or quota is fixed
                    log.error("watch worker %s stops: %s", name, exc)
                    failures.append(exc)
                    stop.set()
                    return
                except Exception as exc:  # a worker outlives any one batch; the batch rolled back
                    log.warning("watch worker %s: %s: %s", name, type(exc).__name__, exc)
                    if drain:
                        failures.append(exc)
                        return
                    stop.wait(self.poll_interval)
                    continue
                if summary is None:
                    if drain:
                        return
                    stop.wait(self.poll_interval)
                    continue
                if summary.rows == 0:
                    stop.wait(min(self.poll_interval, 0.05))
                    continue
                with lock:
                    total += summary
                if on_batch is not None:
                    on_batch(summary)

        threads = [threading.Thread(target=loop, args=(i,), name=f"gv-watch-{i}") for i in range(workers)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            # Ctrl-C: let every worker finish (commit) its batch, then report what was done
            stop.set()
            for t in threads:
                t.join()
        if failures:
            raise failures[0]
        return total

    # -- status and errors --------------------------------------------------------------------------------

    def status(self) -> WatchStatus:
        """Queue depth, errors and throughput of the job."""
        v = self.v
        state = v.state
        rec = v.job_record(update=False)
        depth = rows = retrying = 0
        oldest: float | None = None
        if state.is_postgres and state.exists():
            q = state.t("queue")
            with v.engine.connect() as conn:
                row = conn.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.count(sa.distinct(q.c.row_id)),
                        sa.func.count().filter(q.c.attempts > 0),
                        sa.func.min(q.c.enqueued_at),
                    ).where(q.c.job == self.job)
                ).one()
            depth, rows, retrying = int(row[0]), int(row[1]), int(row[2])
            if row[3] is not None:
                oldest = max(0.0, (utcnow() - row[3]).total_seconds())
        now = utcnow()
        minute = state.throughput(self.job, now - dt.timedelta(minutes=1)) if state.exists() else {}
        hour = state.throughput(self.job, now - dt.timedelta(hours=1)) if state.exists() else {}
        reembed = state.get_reembed(self.job)
        return WatchStatus(
            job=self.job,
            table=v.source.qualified_name,
            collection=v.collection_name,
            physical=rec.physical if rec else None,
            spec=rec.spec if rec else None,
            installed=self.installed(),
            queue_depth=depth,
            queue_rows=rows,
            retrying=retrying,
            oldest_seconds=oldest,
            errors=state.count_errors(self.job),
            recent_errors=state.list_errors(self.job, 10),
            last_minute=minute,
            last_hour=hour,
            progress=state.get_progress(self.job, rec.physical) if rec else None,
            reembed=f"into {reembed[0]} ({reembed[1].describe()}), {reembed[2]}" if reembed else None,
        )

    def requeue_errors(self) -> int:
        """Put every row of the errors table back on the queue (and clear the errors); returns how many."""
        self._require_postgres()
        state = self.v.state
        ids = state.error_ids(self.job)
        if not ids:
            return 0
        q = state.t("queue")
        with state.begin() as conn:
            conn.execute(q.insert(), [{"job": self.job, "row_id": i, "op": "R"} for i in ids])
            state.clear_errors(self.job, ids, conn)
        return len(ids)
