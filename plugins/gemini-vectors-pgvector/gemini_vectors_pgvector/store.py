"""The PostgreSQL/pgvector backend: :class:`PgVectorStore` and its :class:`PgVectorCollection`.

Each collection is one table ``(id text PRIMARY KEY, embedding vector|halfvec, metadata jsonb,
content_hash text)`` with an HNSW (or binary-quantized HNSW) index on the embedding and a GIN index on the
metadata. A registry table, ``gemini_vectors_collections``, maps collection names to tables and records
each collection's embedding spec and storage plan; the spec is checked before anything is written.

Writes go through ``COPY ... FROM STDIN WITH (FORMAT BINARY)`` into a temporary staging table, then one
``INSERT ... ON CONFLICT (id) DO UPDATE`` merge per batch, in one transaction. The merge is idempotent, so
a batch whose connection dies (server restart, ``pg_terminate_backend``, network) is simply run again on a
fresh connection, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import time
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import psycopg
import psycopg_pool
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps
from psycopg_pool import ConnectionPool

from gemini_vectors.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    WriteError,
)
from gemini_vectors.filters import Filter, parse_filter, validate_metadata
from gemini_vectors.index_choice import IndexChoice, parse_index
from gemini_vectors.redaction import redact_text
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import (
    Match,
    Record,
    StoreCollection,
    Vector,
    VectorStore,
    as_vector,
    check_ef_search,
)
from gemini_vectors_pgvector.filter_sql import Query, filter_params, filter_shape, filter_to_sql
from gemini_vectors_pgvector.storage import (
    MAX_EF_SEARCH,
    StoragePlan,
    plan_storage,
    table_name_for,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[Any]
Row = tuple[str, Any, dict[str, Any], "str | None"]

REGISTRY_TABLE = "gemini_vectors_collections"
APPLICATION_NAME = "gemini-vectors"

#: Errors after which the whole unit of work is safe to run again on a fresh connection: the connection
#: died (admin shutdown, server gone, pool timeout) or the server rolled the transaction back (deadlock,
#: serialization failure); psycopg files all of them under OperationalError. Every unit of work here is
#: idempotent, and the number of attempts is bounded.
RETRYABLE: tuple[type[BaseException], ...] = (psycopg.OperationalError,)
#: SQLSTATE classes psycopg files under OperationalError that are not transient: 54, program limit
#: exceeded (an index row too large, too many arguments...); the same statement fails again every time.
NOT_TRANSIENT_SQLSTATE_CLASSES = frozenset({"54"})


def is_transient(exc: BaseException) -> bool:
    """Whether running the unit of work again may succeed (a RETRYABLE error that is not a limit)."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, RETRYABLE) and sqlstate[:2] not in NOT_TRANSIENT_SQLSTATE_CLASSES


#: The longest text a primary key holds here, in bytes. A B-tree entry must fit in a third of a page
#: (2,704 bytes with 8 kB pages, headers included), or the INSERT fails with ProgramLimitExceeded after
#: the batch was embedded; 2,000 bytes stays clear of it without relying on the index compressing the key.
MAX_KEY_BYTES = 2000

#: A pooled connection idle longer than this is pinged before it is handed out (see _check_connection).
PING_AFTER_IDLE_SECONDS = 1.0
#: Tries of DROP INDEX (50 ms lock timeout each) before a bulk load gives up deferring the index.
DROP_INDEX_TRIES = 5


# -- JSON that keeps a float a float ------------------------------------------------------------------
# jsonb keeps numbers as decimals, and prints one without a fraction when it has none: 1e16, written by
# json.dumps as "1e+16", comes back as 10000000000000000, an int (2.5e20 one beyond 64 bits, which the
# next write refuses). A float whose repr has an exponent and no fraction is written out in full with
# ".0" instead; jsonb keeps that scale, so it reads back as the same float, with the same value.


def _awkward(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return (value >= 1e16 or value <= -1e16) and math.isfinite(value)
    if kind is dict:
        return any(_awkward(v) for v in value.values())
    if kind is list or kind is tuple:
        return any(_awkward(v) for v in value)
    return False


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is float and (value >= 1e16 or value <= -1e16) and value.is_integer():
        return f"{int(value)}.0"
    if kind is dict:
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value, allow_nan=False)


def json_text(obj: Any) -> str:
    """``obj`` as JSON text whose floats read back from jsonb as floats (the dumps of every connection)."""
    if _awkward(obj):
        return _encode(obj)
    return json.dumps(obj, allow_nan=False)


def _lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` from some text."""
    digest = hashlib.sha256("\x00".join(("gemini_vectors", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _to_float32(value: Any) -> Vector:
    if isinstance(value, HalfVector):
        return value.to_numpy().astype(np.float32)
    if isinstance(value, np.ndarray):
        return value.astype(np.float32, copy=False)
    return np.asarray(value.to_numpy(), dtype=np.float32)


def _check_text(value: str, what: str) -> None:
    # PostgreSQL text and jsonb cannot hold NUL; refuse before sending rather than fail mid-batch.
    if "\x00" in value:
        raise MetadataError(f"{what} contains a NUL character, which PostgreSQL cannot store")


_PLAIN_TYPES = (str, int, bool)
_FLOAT32 = np.dtype(np.float32)


def _portable_metadata(metadata: Mapping[str, Any], rid: str) -> dict[str, Any]:
    """``metadata`` as a dict of portable values; plain dicts of plain values pass without copying.

    The fast path skips :func:`validate_metadata`'s copy for the common case (a dict of strings, ints,
    bools, finite floats and lists of strings); anything else goes through it, to be normalized or refused.
    """
    if type(metadata) is dict:
        for key, value in metadata.items():
            kind = type(value)
            if type(key) is not str or not key:
                break
            if kind in _PLAIN_TYPES or (kind is float and math.isfinite(value)):
                continue
            if kind is list and all(type(item) is str for item in value):
                continue
            break
        else:
            return metadata
    return validate_metadata(metadata, where=f"metadata of {rid!r}")


@dataclass(frozen=True)
class SearchStatement:
    """One search as SQL: what :meth:`PgVectorCollection.query` sends.

    Attributes:
        text: The statement, with ``%s`` placeholders.
        params: Its parameters, in order (pgvector values for the vector ones).
        settings: Session settings the statement runs under (``hnsw.ef_search``, ``hnsw.iterative_scan``).
    """

    text: str
    params: list[Any]
    settings: dict[str, str] = field(default_factory=dict)


class PgVectorCollection(StoreCollection):
    """One collection: a table of the store, planned by :class:`~gemini_vectors_pgvector.StoragePlan`."""

    max_id_length = MAX_KEY_BYTES
    accepts_ef_search = True
    max_ef_search = MAX_EF_SEARCH

    def __init__(
        self, store: PgVectorStore, name: str, spec: EmbeddingSpec, table: str, plan: StoragePlan
    ) -> None:
        super().__init__(name, spec)
        self._store = store
        self._table_name = table
        self._table = store._ident(table)
        self._plan = plan
        self._statements: dict[tuple[Hashable, bool], str] = {}
        self._loading = False

    @property
    def table_name(self) -> str:
        """The (unquoted) name of the table that holds the collection."""
        return self._table_name

    @property
    def plan(self) -> StoragePlan:
        """How the vectors are stored and indexed."""
        return self._plan

    def __repr__(self) -> str:
        return f"PgVectorCollection({self.name!r}, table={self._table_name!r}, {self.spec.describe()})"

    # -- helpers -------------------------------------------------------------------------------------

    def _run(self, what: str, fn: Callable[[Conn], T], *, single_statement: bool = False) -> T:
        try:
            return self._store._run(what, fn, single_statement=single_statement)
        except psycopg.errors.UndefinedTable as exc:
            raise CollectionNotFoundError.dropped_since_opened(self.name) from exc
        except psycopg.Error as exc:
            raise StoreError(f"{what} on collection {self.name!r} failed: {self._store._say(exc)}") from exc

    def _param(self, vector: Vector) -> Any:
        return HalfVector(vector) if self._plan.column_type == "halfvec" else vector

    @property
    def _vector_type(self) -> Query:
        return sql.SQL("{}({})").format(sql.SQL(self._plan.column_type), sql.Literal(self._plan.dimensions))

    # -- writing -------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id (duplicate ids in one call: the last one wins).

        Raises:
            ValueError: a vector has the wrong length or is not finite (nothing is written).
            MetadataError: an id or metadata breaks the portable rules (nothing is written).
            WriteError: some batches could not be written after retries; names the ids not written.
        """
        rows = self._prepare(records)
        size = self._store.batch_size
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            try:
                self._store._run("upsert", lambda conn, b=batch: self._write_batch(conn, b))  # type: ignore[misc]
            except (psycopg.Error, StoreError) as exc:
                said = f"{type(exc).__name__}: {self._store._say(exc)}"
                failed = {row[0]: said for row in rows[start:]}
                if isinstance(exc, psycopg.errors.UndefinedTable):
                    raise CollectionNotFoundError.dropped_since_opened(self.name) from exc
                raise WriteError(f"upsert into collection {self.name!r} failed", failed) from exc

    def _prepare(self, records: Sequence[Record]) -> list[Row]:
        """Check every record before anything is written; keep the last of each id; sort by id.

        The sort gives concurrent upserts of overlapping ids one lock order, so they cannot deadlock.
        Only checks happen here; converting vectors for the wire is left to :meth:`_copy`, where it
        overlaps with the server's work on the rows already sent.
        """
        latest: dict[str, Record] = {}
        for r in records:
            if not isinstance(r.id, str) or not r.id or "\x00" in r.id:
                raise MetadataError(f"record ids must be non-empty strings without NUL, got {r.id!r}")
            latest[r.id] = r
        self.check_ids(latest, what="record")  # also for callers that bypass Collection.add
        dims = self.spec.dimensions
        shape = (dims,)
        rows: list[Row] = []
        for rid in sorted(latest):
            r = latest[rid]
            vec = r.vector
            # Fast path for what the core hands over (float32 rows of the right length): a finite sum
            # proves every element finite; anything else, or an overflowing sum, gets the full check.
            if not (
                type(vec) is np.ndarray
                and vec.dtype is _FLOAT32
                and vec.shape == shape
                and math.isfinite(vec.sum())
            ):
                vec = as_vector(vec, dims, what=f"vector of {rid!r}")
            if r.content_hash is not None:
                _check_text(r.content_hash, f"content hash of {rid!r}")
            rows.append((rid, vec, _portable_metadata(r.metadata, rid), r.content_hash))
        return rows

    def _wire_rows(self, rows: Sequence[Row]) -> Iterator[Row]:
        """``rows`` with vectors as the column's pgvector type, converted as they are sent."""
        if self._plan.column_type != "halfvec":
            yield from rows  # pgvector's dumper takes float32 arrays as they are
            return
        for row in rows:
            yield (row[0], HalfVector(row[1]), row[2], row[3])

    def _copy(self, conn: Conn, target: sql.Identifier, rows: Sequence[Row]) -> None:
        with conn.cursor() as cur:
            stmt = sql.SQL("COPY {} (id, embedding, metadata, content_hash) FROM STDIN WITH (FORMAT BINARY)")
            with cur.copy(stmt.format(target)) as copy:
                copy.set_types(["text", self._plan.column_type, "jsonb", "text"])
                for row in self._wire_rows(rows):
                    copy.write_row(row)

    def _merge(self, conn: Conn, rows: Sequence[Row]) -> None:
        # Created on every call rather than remembered per connection: a rolled-back transaction
        # takes a just-created temp table with it.
        stage = sql.Identifier(f"gv_stage_{self._plan.column_type}_{self._plan.dimensions}")
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} "
                "(id text, embedding {}, metadata jsonb, content_hash text) ON COMMIT DELETE ROWS"
            ).format(stage, self._vector_type)
        )
        self._copy(conn, stage, rows)
        conn.execute(
            sql.SQL(
                "INSERT INTO {table} (id, embedding, metadata, content_hash) "
                "SELECT id, embedding, metadata, content_hash FROM {stage} "
                "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                "metadata = EXCLUDED.metadata, content_hash = EXCLUDED.content_hash"
            ).format(table=self._table, stage=stage)
        )

    def _write_batch(self, conn: Conn, rows: Sequence[Row]) -> None:
        """Write one batch in the caller's transaction: new ids by COPY, known ids by staged merge.

        Staging every row would write each one twice; rows whose ids are not in the table yet go
        straight in with COPY, which is all a first load needs. If another writer inserts one of those
        ids meanwhile, the COPY fails on the primary key, is rolled back to its savepoint, and the
        whole batch goes through the ``ON CONFLICT`` merge instead, so the outcome is the same.
        """
        existing = {
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(self._table),
                [[row[0] for row in rows]],
            )
        }
        fresh = [row for row in rows if row[0] not in existing]
        known = [row for row in rows if row[0] in existing]
        if fresh:
            try:
                with conn.transaction():
                    self._copy(conn, self._table, fresh)
            except psycopg.errors.UniqueViolation:
                known = list(rows)
        if known:
            self._merge(conn, known)

    # -- the vector index ------------------------------------------------------------------------------

    @property
    def _index_lock(self) -> int:
        return _lock_key("ann-index", self._store.schema or "", self._table_name)

    @property
    def _index_ident(self) -> sql.Identifier:
        return self._store._ident(ann_index_name(self._table_name, self._plan))

    def _index_exists(self, conn: Conn) -> bool:
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [self._index_ident.as_string(None)]
        ).fetchone()
        return bool(row and row[0])

    def index_ready(self) -> bool:
        """Whether the collection's vector index exists (False while a bulk load defers it)."""
        if self._plan.index == "none":
            return False
        return self._run("index_ready", self._index_exists, single_statement=True)

    def build_index(self) -> bool:
        """Build the collection's vector index if it is missing; returns whether this call built it.

        The build runs as one ``CREATE INDEX`` with ``maintenance_work_mem`` sized for the graph (up to
        the store's ``index_build_memory_mb``) and ``max_parallel_maintenance_workers`` set, as pgvector's
        docs advise. It waits for no one: while a bulk load of another process is still running, or
        another process is building, it returns False, and that load builds the index when it ends.
        Searches answer meanwhile, by exact scan; writes wait for the build.
        """
        ddl = self._store.ann_index_ddl(self._table_name, self._plan)
        if ddl is None:
            return False
        store = self._store
        plan = self._plan

        def run(conn: Conn) -> bool:
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [self._index_lock]).fetchone()
            if not (got and got[0]):
                return False  # a bulk load holds it (shared) and builds at its end, or a build is running
            if self._index_exists(conn):
                return False
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone()
            memory = store.index_build_memory(int(rows[0]) if rows else 0, plan)
            conn.execute(
                "SELECT set_config('maintenance_work_mem', %s, true), "
                "set_config('max_parallel_maintenance_workers', %s, true)",
                [f"{memory}MB", str(store.index_build_workers)],
            )
            start = time.monotonic()
            conn.execute(ddl)
            log.info(
                "built the %s index of collection %r over %s rows in %.1fs",
                plan.index,
                self.name,
                rows[0] if rows else 0,
                time.monotonic() - start,
            )
            return True

        return self._run("build_index", run)

    @contextmanager
    def bulk_load(self, expected: int | None = None) -> Iterator[None]:
        """Defer the vector index for a load of ``expected`` records into an empty or small collection.

        pgvector builds an HNSW index several times faster in one go than row by row. When ``expected``
        is at least the store's ``defer_index_min_rows`` and the collection holds at most a quarter as
        many records, the index is dropped for the load and built once when the block ends, normally
        or by an exception (not on KeyboardInterrupt: the next open of the collection builds it then).
        Searches during the load answer by exact scan. Loads in several processes at once are one
        load: each holds a shared advisory lock, and the last to finish builds the index. A load that
        cannot drop the index within 2 seconds (a long query holds the table) runs with it live. A
        large load ends with ``ANALYZE``, so the planner has statistics for filtered searches at once.
        """
        store = self._store
        if (
            self._loading
            or self._plan.index == "none"
            or expected is None
            or expected < store.defer_index_min_rows
        ):
            yield
            return
        self._loading = True
        lock = self._index_lock
        try:
            try:
                holder = psycopg.connect(store._conninfo, autocommit=True, application_name=APPLICATION_NAME)
            except psycopg.Error as exc:
                raise StoreError(f"bulk load into {self.name!r}: cannot connect: {store._say(exc)}") from exc
            built_by_exit = False
            with holder:
                try:
                    holder.execute("SELECT pg_advisory_lock_shared(%s)", [lock])
                    self._defer_index(holder, expected)
                except psycopg.errors.UndefinedTable as exc:
                    raise CollectionNotFoundError.dropped_since_opened(self.name) from exc
                except psycopg.Error as exc:
                    raise StoreError(f"bulk load into {self.name!r} failed: {store._say(exc)}") from exc
                try:
                    yield
                    built_by_exit = True
                except Exception:
                    built_by_exit = True
                    raise
                finally:
                    with contextlib.suppress(psycopg.Error):  # a dead session has released it already
                        holder.execute("SELECT pg_advisory_unlock_shared(%s)", [lock])
                    if built_by_exit:
                        self._build_after_load()
        finally:
            self._loading = False

    def _defer_index(self, conn: Conn, expected: int) -> None:
        """Drop the vector index when the collection is small enough for a rebuild to pay off."""
        small = expected // 4
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) AS held").format(self._table),
            [small + 1],
        ).fetchone()
        if row is None or int(row[0]) > small:
            return
        drop = sql.SQL("DROP INDEX IF EXISTS {}").format(self._index_ident)
        # DROP INDEX waits for the table's ACCESS EXCLUSIVE lock, and every search queues behind a
        # waiting DROP: short tries, so a long reader of the table stalls searches for 50 ms at most.
        conn.execute("SET lock_timeout = '50ms'")
        try:
            for attempt in range(DROP_INDEX_TRIES):
                try:
                    conn.execute(drop)
                except psycopg.errors.LockNotAvailable:
                    if attempt + 1 < DROP_INDEX_TRIES:
                        time.sleep(0.2)
                    continue
                log.info("collection %r: vector index deferred for a load of %d records", self.name, expected)
                return
            log.info("collection %r: the table is busy; loading with the vector index live", self.name)
        except psycopg.errors.InsufficientPrivilege:
            # a writer that does not own the table may write rows but not drop its index
            log.info(
                "collection %r: this role does not own the table; loading with the vector index live",
                self.name,
            )
        finally:
            conn.execute("RESET lock_timeout")

    def _build_after_load(self) -> None:
        try:
            self.build_index()
            # A table just loaded has no statistics until autovacuum samples it, and without them the
            # planner takes a filtered search for a full scan; ANALYZE samples a bounded number of rows.
            self._run(
                "analyze",
                lambda conn: conn.execute(sql.SQL("ANALYZE {}").format(self._table)),
                single_statement=True,
            )
        except (StoreError, CollectionNotFoundError) as exc:
            log.warning(
                "collection %r: the vector index was not built after the load (%s); searches scan "
                "exactly until it is: the next open of the collection, or build_index(), builds it",
                self.name,
                exc,
            )

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both (records matching either); unknown ids are ignored."""
        if not ids and filter is None:
            return
        conds: list[Query] = []
        params: list[Any] = []
        if ids:
            conds.append(sql.SQL("id = ANY(%s)"))
            params.append(list(ids))
        if filter is not None:
            cond, fparams = filter_to_sql(filter)
            conds.append(cond)
            params.extend(fparams)
        query = sql.SQL("DELETE FROM {} WHERE {}").format(self._table, sql.SQL(" OR ").join(conds))
        self._run("delete", lambda conn: conn.execute(query, params), single_statement=True)

    def clear(self) -> None:
        """Delete every record, keeping the collection and its spec."""
        self._run("clear", lambda conn: conn.execute(sql.SQL("TRUNCATE {}").format(self._table)))

    def drop(self) -> None:
        """Drop the table and its registry row."""
        self._store._drop(self.name, self._table_name)

    # -- reading -------------------------------------------------------------------------------------

    def count(self) -> int:
        """The number of records in the collection."""
        row = self._run(
            "count",
            lambda conn: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone(),
            single_statement=True,
        )
        return int(row[0]) if row else 0

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id, in id order, fetched by keyset pagination (no transaction is held between pages)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        first = sql.SQL("SELECT id FROM {} ORDER BY id LIMIT %s").format(self._table)
        after = sql.SQL("SELECT id FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(self._table)
        last: str | None = None
        while True:
            if last is None:
                page = self._run(
                    "iter_ids",
                    lambda conn: conn.execute(first, [batch_size]).fetchall(),
                    single_statement=True,
                )
            else:
                page = self._run(
                    "iter_ids",
                    lambda conn, a=last: conn.execute(after, [a, batch_size]).fetchall(),  # type: ignore[misc]
                    single_statement=True,
                )
            for (rid,) in page:
                yield rid
            if len(page) < batch_size:
                return
            last = page[-1][0]

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        cols = sql.SQL("id, metadata, content_hash" + (", embedding" if include_vectors else ""))
        query = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(cols, self._table)
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), 10_000):
            chunk = wanted[start : start + 10_000]
            rows = self._run(
                "get",
                lambda conn, c=chunk: conn.execute(query, [c]).fetchall(),  # type: ignore[misc]
                single_statement=True,
            )
            for row in rows:
                vec = _to_float32(row[3]) if include_vectors else np.zeros(0, dtype=np.float32)
                found[row[0]] = Record(row[0], vec, row[1], row[2])
        return [found[i] for i in wanted if i in found]

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id, without reading vectors or metadata."""
        query = sql.SQL("SELECT id, content_hash FROM {} WHERE id = ANY(%s)").format(self._table)
        out: dict[str, str | None] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 10_000):
            chunk = wanted[start : start + 10_000]
            out.update(
                self._run(
                    "content_hashes",
                    lambda conn, c=chunk: conn.execute(query, [c]).fetchall(),  # type: ignore[misc]
                    single_statement=True,
                )
            )
        return out

    # -- search --------------------------------------------------------------------------------------

    @property
    def ef_search(self) -> int:
        """The HNSW candidate list of this collection's queries (its plan's, or the default)."""
        return self._plan.effective_ef_search

    def set_ef_search(self, value: int) -> None:
        """Keep ``value`` as the collection's ``ef_search``, in its registry row (other handles on the
        collection see it when they next open it).

        Raises:
            CollectionNotFoundError: the collection was dropped since this handle opened it (perhaps
                created again since: that is another collection); open it again.
        """
        check_ef_search(self, value, per_query=False)
        # Only the ef_search key changes, and only in the plan this handle opened: a handle whose
        # collection was re-created meanwhile must not write its old plan over the new one.
        statement = sql.SQL(
            "UPDATE {} SET storage = jsonb_set(storage, '{{ef_search}}', to_jsonb(%s::int)) "
            "WHERE name = %s AND table_name = %s AND storage - 'ef_search' = %s::jsonb"
        ).format(self._store._registry)
        current = {k: v for k, v in self._plan.to_dict().items() if k != "ef_search"}
        params = [value, self.name, self._table_name, Jsonb(current)]
        done = self._run(
            "set_ef_search", lambda conn: conn.execute(statement, params).rowcount, single_statement=True
        )
        if done != 1:
            # the registry row of this handle's table is gone: only a drop removes it
            raise CollectionNotFoundError.dropped_since_opened(self.name)
        self._plan = replace(self._plan, ef_search=value)

    def search_sql(
        self, vector: Vector, k: int, filter: Filter | None = None, *, ef_search: int | None = None
    ) -> SearchStatement:
        """The statement :meth:`query` runs for these arguments, with its parameters and settings.

        For comparing with hand-written SQL (``bench/search_latency.py`` does), and for ``EXPLAIN``:
        run ``SET`` for each of :attr:`SearchStatement.settings` once on a connection, then
        :attr:`SearchStatement.text` with :attr:`SearchStatement.params`.
        """
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        parsed = parse_filter(filter)
        ef = self._plan.effective_ef_search if ef_search is None else check_ef_search(self, ef_search)
        return self._search_statement(q, k, parsed, False, ef)

    def _search_statement(
        self, q: Vector, k: int, flt: Filter | None, include_vectors: bool, ef_search: int
    ) -> SearchStatement:
        """The top-k statement for ``q``: its text (cached per shape), parameters and session settings."""
        plan = self._plan
        # Composing a statement is most of the Python work of a query; its text depends only on the
        # filter's shape (fields and values are bound parameters), so it is composed once per shape.
        shape = None if flt is None else filter_shape(flt)
        key = (shape, include_vectors)
        text = self._statements.get(key)
        if text is None:
            if len(self._statements) >= 256:
                self._statements.clear()
            cond = None if flt is None else filter_to_sql(flt)[0]
            text = self._statements[key] = self._compose_search(cond, include_vectors)
        fparams = [] if flt is None else filter_params(flt)
        qparam = self._param(q)
        # Candidates for the exact stage: k * rerank_factor. Sign bits rank so coarsely that the
        # binary plan's recall is bounded by its candidate count, so there a larger ef_search widens
        # the candidates too (0.77 -> 0.92 recall@10 at ef_search 200 in the search bench); a
        # Matryoshka prefix ranks well, and more candidates cost heap reads of full vectors.
        candidates = k * plan.rerank_factor
        if plan.index == "binary":
            candidates = max(candidates, ef_search)
        if plan.index == "binary":
            params: list[Any] = [qparam, *fparams, qparam, candidates, qparam, k]
            scan = candidates
        elif plan.index == "mrl":
            assert plan.prefix_dimensions is not None
            prefix = HalfVector(q[: plan.prefix_dimensions])
            params = [qparam, *fparams, prefix, candidates, qparam, k]
            scan = candidates
        else:
            params = [qparam, *fparams, qparam, k]
            scan = k
        settings: dict[str, str] = {}
        if plan.index != "none":
            # HNSW returns at most ef_search candidates per scan: at least the rows the scan must give
            # (capped by pgvector at 1000). Beyond those, or when a filter drops candidates, pgvector
            # 0.8's iterative scan walks on until enough rows pass (bounded by hnsw.max_scan_tuples);
            # relaxed_order is its fast variant, and the statements re-sort exactly. An unfiltered scan
            # that finds its rows in the first ef_search candidates never iterates, so the setting can
            # stay on for every query, and a connection keeps one set of settings.
            settings["hnsw.ef_search"] = str(min(MAX_EF_SEARCH, max(ef_search, scan)))
            settings["hnsw.iterative_scan"] = "relaxed_order"
        # psycopg prepares a statement after five runs, and PostgreSQL then tries a generic plan, one
        # made without the parameter values: for a filtered search it sorts every matching row instead
        # of walking the HNSW graph (177 ms instead of ~5 at 50,000 x 3,072). A custom plan per run
        # keeps the index path, and costs a plan per query, which an unprepared statement pays anyway.
        settings["plan_cache_mode"] = "force_custom_plan"
        return SearchStatement(text, params, settings)

    def _compose_search(self, cond: Query | None, include_vectors: bool) -> str:
        plan = self._plan
        qcast = sql.SQL("%s::{}").format(self._vector_type)
        where: Query = sql.SQL("") if cond is None else sql.SQL(" WHERE {}").format(cond)
        vec_col: Query = sql.SQL(", embedding") if include_vectors else sql.SQL("")
        if plan.index in ("binary", "mrl"):
            # Candidates come through the small index (sign bits, or the Matryoshka prefix); the exact
            # cosine distance on the full column then orders them.
            if plan.index == "binary":
                bits = sql.SQL("bit({})").format(sql.Literal(plan.dimensions))
                order = sql.SQL(
                    "binary_quantize(embedding)::{bits} <~> binary_quantize({qcast})::{bits}"
                ).format(bits=bits, qcast=qcast)
            else:
                order = sql.SQL("{} <=> %s::{}").format(self._prefix_expression, self._prefix_type)
            statement: Query = sql.SQL(
                "SELECT id, metadata, 1 - (embedding <=> {qcast}) AS score{vec} FROM ("
                "SELECT id, metadata, embedding FROM {table}{where} "
                "ORDER BY {order} LIMIT %s"
                ") AS candidates ORDER BY embedding <=> {qcast} LIMIT %s"
            ).format(qcast=qcast, vec=vec_col, table=self._table, where=where, order=order)
        else:
            # MATERIALIZED keeps the inner ORDER BY ... LIMIT as the index scan; the outer ORDER BY
            # restores exact order, which hnsw.iterative_scan = relaxed_order does not promise. It
            # must be "distance + 0": PostgreSQL 17+ knows the CTE's rows come out of an ordered index
            # scan on the same expression and drops a plain "ORDER BY distance" as redundant (pgvector's
            # README gives the same spelling for this reason).
            statement = sql.SQL(
                "WITH top AS MATERIALIZED (SELECT id, metadata, embedding <=> {qcast} AS distance{vec} "
                "FROM {table}{where} ORDER BY embedding <=> {qcast} LIMIT %s) "
                "SELECT id, metadata, 1 - distance AS score{vec} FROM top ORDER BY distance + 0"
            ).format(qcast=qcast, vec=vec_col, table=self._table, where=where)
        # Identifiers are quoted the standard way, which needs no connection.
        return statement.as_string(None)

    @property
    def _prefix_type(self) -> Query:
        return sql.SQL("halfvec({})").format(sql.Literal(self._plan.prefix_dimensions))

    @property
    def _prefix_expression(self) -> Query:
        """The indexed prefix of a Matryoshka plan (a generated column of the table)."""
        return sql.SQL("embedding_prefix")

    def _exact_sql(
        self, q: Vector, k: int, flt: Filter | None, include_vectors: bool
    ) -> tuple[Query, list[Any]]:
        """The top-k statement as an exact scan of the rows matching ``flt``, bypassing any index.

        ``distance + 0`` is an ORDER BY expression no vector index can serve, so the planner sorts
        every matching row whatever the planner settings; the rows and scores have the same shape as
        :meth:`_search_statement`'s. Ties go by id, so the result does not depend on the scan order.
        """
        qcast = sql.SQL("%s::{}").format(self._vector_type)
        where: Query = sql.SQL("")
        fparams: list[Any] = []
        if flt is not None:
            cond, fparams = filter_to_sql(flt)
            where = sql.SQL(" WHERE {}").format(cond)
        vec_col: Query = sql.SQL(", embedding") if include_vectors else sql.SQL("")
        statement = sql.SQL(
            "SELECT id, metadata, 1 - distance AS score{vec} FROM ("
            "SELECT id, metadata, embedding <=> {qcast} AS distance{vec} FROM {table}{where}"
            ") AS matching ORDER BY distance + 0, id LIMIT %s"
        ).format(qcast=qcast, vec=vec_col, table=self._table, where=where)
        return statement, [self._param(q), *fparams, k]

    def query(
        self,
        vector: Vector,
        k: int,
        filter: Filter | None = None,
        *,
        include_vectors: bool = False,
        ef_search: int | None = None,
    ) -> list[Match]:
        """The ``k`` records closest to ``vector`` by cosine similarity that match ``filter``, best first.

        One round trip on a warm pooled connection: the statement runs in autocommit mode, and its
        index settings (``hnsw.ef_search``, iterative scan) are kept on the connection, sent only when
        they change. Fewer than ``k`` rows come back only when fewer than ``k`` records match: when the
        index scan returns fewer, the query runs again as an exact scan of the matching rows.

        Args:
            ef_search: The HNSW candidate list for this query (1..1000); None: :attr:`ef_search`.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        ef = self._plan.effective_ef_search if ef_search is None else ef_search
        search = self._search_statement(q, k, filter, include_vectors, ef)
        store = self._store

        def run(conn: Conn) -> list[tuple[Any, ...]]:
            store.apply_session_settings(conn, search.settings)
            rows = conn.execute(search.text, search.params).fetchall()
            if len(rows) < k and self._plan.index != "none":
                # The index scan gave up early (the iterative scan stops at hnsw.max_scan_tuples, the
                # candidate stage at its count), or fewer than k rows match: only an exact scan of the
                # matching rows tells these apart, and it returns the true top k when k match.
                exact, exact_params = self._exact_sql(q, k, filter, include_vectors)
                rows = conn.execute(exact, exact_params).fetchall()
            return rows

        return [
            Match(row[0], float(row[2]), row[1], _to_float32(row[3]) if include_vectors else None)
            for row in self._run("query", run, single_statement=True)
        ]

    def explain_query(
        self,
        vector: Vector,
        k: int,
        filter: Filter | None = None,
        *,
        analyze: bool = False,
        ef_search: int | None = None,
    ) -> str:
        """The PostgreSQL plan of the statement :meth:`query` runs, with the same settings."""
        search = self.search_sql(vector, k, filter, ef_search=ef_search)
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        store = self._store

        def run(conn: Conn) -> str:
            store.apply_session_settings(conn, search.settings)
            rows = conn.execute(prefix + search.text, search.params).fetchall()
            return "\n".join(str(r[0]) for r in rows)

        return self._run("explain", run, single_statement=True)


def ann_index_name(table: str, plan: StoragePlan) -> str:
    """The name of the plan's vector index on ``table`` (suffixes as they have always been)."""
    return table + {"hnsw": "_hnsw", "binary": "_bq", "mrl": "_mrl"}.get(plan.index, "_none")


class PgVectorStore(VectorStore):
    """A PostgreSQL database with pgvector, holding collections as tables.

    Args:
        conninfo: A libpq connection string or ``postgresql://`` URL (without gemini-vectors options).
        url: The URL to show in reprs and errors (its password is redacted); defaults to ``conninfo``.
        schema: Schema for the registry and the collection tables (created when missing); default: the
            connection's current schema (usually ``public``).
        index: Index for collections created through this store: ``"hnsw"``, ``"binary"``, ``"none"``
            or ``"mrl:<d>"`` (Matryoshka: HNSW on the first ``d`` dimensions, re-ranked on the full
            vector; see :func:`~gemini_vectors_pgvector.plan_storage`). Existing collections keep theirs.
        pool_size: Maximum connections in the pool.
        batch_size: Records per COPY + merge transaction.
        max_attempts: Tries per unit of work when the connection dies or the transaction is rolled back.
        hnsw_m: HNSW ``m`` for new collections.
        hnsw_ef_construction: HNSW ``ef_construction`` for new collections.
        rerank_factor: With ``index="binary"`` or ``"mrl:<d>"``, candidates per result re-ranked exactly
            (default 10 for binary, 4 for mrl).
        ef_search: HNSW candidate list per query for collections created through this store (1..1000;
            default 100, recall@10 >= 0.95 on the search bench where pgvector's own 40 gives 0.73).
            A collection keeps its own in the registry; change it with ``Collection.ef_search = n``.
        defer_index_min_rows: A bulk load (:meth:`PgVectorCollection.bulk_load`) of at least this many
            records into a collection holding at most a quarter as many drops the ANN index and builds
            it once at the end, as pgvector's docs advise for bulk loads.
        index_build_workers: ``max_parallel_maintenance_workers`` for index builds (the server caps it).
        index_build_memory_mb: The most ``maintenance_work_mem`` an index build asks for; the build
            asks for what the graph needs (estimated from the rows), up to this.
        create_extension: Run ``CREATE EXTENSION IF NOT EXISTS vector`` when it is missing.
        server: An object to keep alive with the store (the embedded server handle).
    """

    # The registry's primary key is the collection name: the same B-tree limit as record ids.
    max_collection_name_length = MAX_KEY_BYTES

    def __init__(
        self,
        conninfo: str,
        *,
        url: str | None = None,
        schema: str | None = None,
        index: IndexChoice | str = "hnsw",
        pool_size: int = 4,
        batch_size: int = 5000,
        max_attempts: int = 4,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 64,
        rerank_factor: int | None = None,
        ef_search: int | None = None,
        defer_index_min_rows: int = 10_000,
        index_build_workers: int | None = None,
        index_build_memory_mb: int = 1024,
        create_extension: bool = True,
        server: object | None = None,
    ) -> None:
        choice = parse_index(index)  # refused here, before anything connects
        counts = {
            "pool_size": pool_size,
            "batch_size": batch_size,
            "max_attempts": max_attempts,
            "rerank_factor": 1 if rerank_factor is None else rerank_factor,
            "defer_index_min_rows": defer_index_min_rows,
            "index_build_memory_mb": index_build_memory_mb,
        }
        for option, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{option} must be an integer >= 1, got {value!r}")
        if ef_search is not None and (
            isinstance(ef_search, bool)
            or not isinstance(ef_search, int)
            or not 1 <= ef_search <= MAX_EF_SEARCH
        ):
            raise ConfigurationError(
                f"ef_search must be an integer 1..{MAX_EF_SEARCH} (pgvector's cap), got {ef_search!r}"
            )
        workers = (
            index_build_workers if index_build_workers is not None else max(2, (os.cpu_count() or 2) - 1)
        )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ConfigurationError(
                f"index_build_workers must be an integer >= 0, got {index_build_workers!r}"
            )
        self.url = url if url is not None else conninfo  # the setter keeps the redacted form only
        # The raw forms, so that a driver message echoing a piece of either is redacted too.
        self._secret_sources = (conninfo, url or "")
        self.schema = schema
        #: The ``index=`` option, in its text form (``"hnsw"``, ``"mrl:512"``...).
        self.index: str = str(choice)
        self._index_choice = choice
        self.defer_index_min_rows = defer_index_min_rows
        self.index_build_workers = workers
        self.index_build_memory_mb = index_build_memory_mb
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._tuning: dict[str, Any] = {
            "hnsw_m": hnsw_m,
            "hnsw_ef_construction": hnsw_ef_construction,
            "rerank_factor": rerank_factor,
            "ef_search": ef_search,
        }
        self._server = server
        self._conninfo = conninfo
        self._registry = self._ident(REGISTRY_TABLE)
        # Per pooled connection: when it last finished a unit of work, and the session settings it holds.
        self._last_used: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
        self._session: weakref.WeakKeyDictionary[Conn, dict[str, str]] = weakref.WeakKeyDictionary()
        self._ensure_extension(conninfo, create_extension)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"application_name": APPLICATION_NAME, "autocommit": True},
            configure=self._configure,
            check=self._check_connection,
            open=True,
            name="gemini-vectors",
        )
        # Until its first connection is ready the pool grows on every request that waits, and a
        # pool of two serves a one-thread caller from both in turn (it hands out the longest idle),
        # each backend with its own colder caches; ready first, it grows only under concurrency.
        try:
            self._pool.wait(timeout=30.0)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise StoreError(f"cannot open a connection pool to {self.url} within 30 s") from exc

    def __repr__(self) -> str:
        return f"PgVectorStore({self.url!r}, index={self.index!r})"

    def __enter__(self) -> PgVectorStore:
        return self

    # -- connections ---------------------------------------------------------------------------------

    def _ensure_extension(self, conninfo: str, create: bool) -> None:
        try:
            with psycopg.connect(conninfo, autocommit=True, application_name=APPLICATION_NAME) as conn:
                have = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
                if have is not None:
                    return
                if not create:
                    raise StoreError(f"the pgvector extension is not installed in {self.url}")
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.errors.UniqueViolation:
                    pass  # another process created it at the same moment
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise StoreError(
                        f"the pgvector extension is not installed in {self.url} and this user may not "
                        "create it; ask an administrator to run: CREATE EXTENSION vector"
                    ) from exc
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to {self.url}: {self._say(exc)}") from exc
        except psycopg.Error as exc:  # a malformed URL or conninfo (ProgrammingError)
            raise StoreError(f"cannot connect to {self.url}: {self._say(exc)}; check the URL") from exc

    def _say(self, exc: BaseException) -> str:
        """The text of a driver error with every secret of the connection string removed."""
        return redact_text(str(exc).strip(), *self._secret_sources)

    @staticmethod
    def _configure(conn: Conn) -> None:
        register_vector(conn)
        set_json_dumps(json_text, context=conn)

    def _ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name) if self.schema else sql.Identifier(name)

    def _run(self, what: str, fn: Callable[[Conn], T], *, single_statement: bool = False) -> T:
        """Run ``fn`` in one transaction; run it again on a fresh connection if the connection dies.

        Only idempotent units of work come here, so running one twice is safe. Pooled connections are
        in autocommit mode; ``fn`` runs in an explicit transaction unless ``single_statement``, when each
        of its statements is its own transaction: no BEGIN and COMMIT go to the server, and one
        statement costs one round trip. Reads and single-statement writes (a DELETE) use that; anything
        that needs two statements to be atomic does not.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                # getconn/putconn rather than pool.connection(): its `with conn:` costs a commit call
                # per unit of work, which autocommit connections do not need.
                conn = self._pool.getconn()
                try:
                    if single_statement:
                        result = fn(conn)
                    else:
                        with conn.transaction():
                            result = fn(conn)
                except BaseException:
                    self._session.pop(conn, None)  # a failed statement may leave anything behind
                    raise
                finally:
                    self._pool.putconn(conn)  # a broken connection is replaced, a busy one rolled back
                self._last_used[conn] = time.monotonic()
                return result
            except RETRYABLE as exc:
                if not is_transient(exc):
                    raise  # the same statement fails the same way again: no retry
                # one dead connection often means all of them (server restart, failover, an admin's
                # pg_terminate_backend): every pooled connection is pinged again before its next use
                self._last_used.clear()
                if attempt == self.max_attempts:
                    raise StoreError(
                        f"{what} failed {attempt} times on {self.url}: {self._say(exc)}"
                    ) from exc
                delay = min(2.0, 0.05 * 2 ** (attempt - 1))
                log.warning(
                    "%s on %s failed (%s: %s); retrying in %.2fs (attempt %d of %d)",
                    what,
                    self.url,
                    type(exc).__name__,
                    self._say(exc),
                    delay,
                    attempt + 1,
                    self.max_attempts,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_connection(self, conn: Conn) -> None:
        """The pool's check of a connection it hands out: a ping, unless it worked a moment ago.

        A ping per checkout is a round trip per query. A connection that completed a unit of work
        within :data:`PING_AFTER_IDLE_SECONDS` is handed out unchecked (HikariCP's "alive bypass
        window"); if it died in between, the unit of work fails with an OperationalError and
        :meth:`_run` runs it again on a fresh connection.
        """
        last = self._last_used.get(conn)
        if last is None or time.monotonic() - last > PING_AFTER_IDLE_SECONDS:
            ConnectionPool.check_connection(conn)

    def apply_session_settings(self, conn: Conn, wanted: Mapping[str, str]) -> None:
        """Make the session settings ``wanted`` hold on ``conn``, sending only what differs.

        Planner and index settings (``hnsw.ef_search``...) are kept per pooled connection rather than
        sent before every query: a search whose settings the connection already has costs one round
        trip. Only for autocommit use (:meth:`_run` with ``single_statement``), where a session setting
        cannot be undone by a rollback; a failure forgets what the connection was known to hold.
        """
        known = self._session.setdefault(conn, {})
        changed = [(name, value) for name, value in wanted.items() if known.get(name) != value]
        if not changed:
            return
        calls = sql.SQL(", ").join(sql.SQL("set_config(%s, %s, false)") for _ in changed)
        conn.execute(sql.SQL("SELECT {}").format(calls), [part for pair in changed for part in pair])
        known.update(changed)

    def _run_wrapped(self, what: str, fn: Callable[[Conn], T]) -> T:
        try:
            return self._run(what, fn)
        except psycopg.Error as exc:
            raise StoreError(f"{what} failed on {self.url}: {self._say(exc)}") from exc

    def close(self) -> None:
        """Close the connection pool (the embedded server stops when the process exits)."""
        self._pool.close()

    # -- the registry ----------------------------------------------------------------------------------

    def _registry_exists(self, conn: Conn) -> bool:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = coalesce(%s, current_schema()) AND c.relname = %s)",
            [self.schema, REGISTRY_TABLE],
        ).fetchone()
        return bool(row and row[0])

    def _registry_row(self, conn: Conn, name: str) -> tuple[str, EmbeddingSpec, StoragePlan] | None:
        if not self._registry_exists(conn):
            return None
        row = conn.execute(
            sql.SQL("SELECT table_name, spec, storage FROM {} WHERE name = %s").format(self._registry), [name]
        ).fetchone()
        if row is None:
            return None
        return row[0], EmbeddingSpec.from_dict(row[1]), StoragePlan.from_dict(row[2])

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded for collection ``name``, or None; reads only, creates nothing."""
        row = self._run_wrapped("stored_spec", lambda conn: self._registry_row(conn, name))
        return row[1] if row else None

    def list_collections(self) -> list[str]:
        """The names of every collection in the registry table, sorted."""

        def run(conn: Conn) -> list[str]:
            if not self._registry_exists(conn):
                return []
            rows = conn.execute(
                sql.SQL("SELECT name FROM {} ORDER BY name").format(self._registry)
            ).fetchall()
            return [r[0] for r in rows]

        return self._run_wrapped("list_collections", run)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> PgVectorCollection:
        """A handle on the existing collection ``name``, whose stored spec must be ``spec``."""
        row = self._run_wrapped("attach_collection", lambda conn: self._registry_row(conn, name))
        if row is None:
            raise CollectionNotFoundError(f"no collection {name!r} in {self.url}")
        table, stored, plan = row
        if stored != spec:
            raise SpecMismatchError(name, stored, spec)
        collection = PgVectorCollection(self, name, stored, table, plan)
        if plan.index != "none" and not collection.index_ready():
            # A bulk load that was killed leaves the index unbuilt; build it now unless a load is on.
            # Opening must not need DDL rights (a read-only search service): without them, searches
            # scan exactly until an owner opens the collection or calls build_index().
            try:
                collection.build_index()
            except StoreError as exc:
                log.warning(
                    "collection %r has no vector index (a bulk load did not finish) and it could not be "
                    "built here (%s); searches scan exactly until its owner runs build_index()",
                    name,
                    exc,
                )
        return collection

    def create_collection(self, name: str, spec: EmbeddingSpec) -> PgVectorCollection:
        """Create the table, its indexes and the registry row in one transaction.

        Creation is serialized by an advisory lock, so when two processes race, the second sees the
        first one's row and gets the collection (same spec) or :class:`SpecMismatchError` (another spec).
        """
        self.check_collection_name(name)
        _check_text(name, "collection name")
        plan = plan_storage(spec.dimensions, self._index_choice, **self._tuning)
        # A table of its own per creation: a handle opened before a drop and a re-creation under the same
        # name still names the dropped table, so its statements fail (UndefinedTable) instead of reading
        # or writing the new collection, which may hold another spec's vectors of the same length.
        table = table_name_for(name, incarnation=secrets.token_hex(4))

        def run(conn: Conn) -> tuple[str, EmbeddingSpec, StoragePlan]:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key("registry", self.schema or "")])
            existing = self._registry_row(conn, name)
            if existing is not None:
                return existing
            if self.schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                    "table_name text NOT NULL UNIQUE, spec jsonb NOT NULL, storage jsonb NOT NULL, "
                    "created_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._registry)
            )
            for statement in self._table_ddl(table, plan):
                conn.execute(statement)
            conn.execute(
                sql.SQL("INSERT INTO {} (name, table_name, spec, storage) VALUES (%s, %s, %s, %s)").format(
                    self._registry
                ),
                [name, table, Jsonb(spec.to_dict()), Jsonb(plan.to_dict())],
            )
            return table, spec, plan

        table, stored, plan = self._run_wrapped("create_collection", run)
        if stored != spec:
            raise SpecMismatchError(name, stored, spec)
        return PgVectorCollection(self, name, stored, table, plan)

    def _table_ddl(self, table: str, plan: StoragePlan) -> list[Query]:
        ident = self._ident(table)
        vtype = sql.SQL("{}({})").format(sql.SQL(plan.column_type), sql.Literal(plan.dimensions))
        prefix: Query = sql.SQL("")
        if plan.index == "mrl":
            # The prefix in a column of its own, computed by the server from the full vector: a scan
            # that the planner picks for a filtered search then reads 1 KB inline per row, not the
            # full vector out of TOAST (59 ms against 8 with an expression index, at 20,000 x 3,072)
            prefix = sql.SQL(
                ", embedding_prefix halfvec({p}) GENERATED ALWAYS AS "
                "((subvector(embedding, 1, {p}))::halfvec({p})) STORED"
            ).format(p=sql.Literal(plan.prefix_dimensions))
        ddl: list[Query] = [
            sql.SQL(
                "CREATE TABLE {} (id text PRIMARY KEY, embedding {} NOT NULL, "
                "metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb, content_hash text{})"
            ).format(ident, vtype, prefix),
            sql.SQL("CREATE INDEX {} ON {} USING gin (metadata)").format(
                sql.Identifier(table + "_gin"), ident
            ),
        ]
        index = self.ann_index_ddl(table, plan)
        if index is not None:
            ddl.append(index)
        return ddl

    def index_build_memory(self, rows: int, plan: StoragePlan) -> int:
        """The ``maintenance_work_mem`` (MB) a vector index build over ``rows`` asks for.

        What pgvector's in-memory graph needs, roughly: per element its indexed vector and two layers'
        worth of neighbour slots, plus a margin; at least 64 MB, at most ``index_build_memory_mb``.
        """
        if plan.index == "binary":
            vector_bytes = plan.dimensions // 8
        elif plan.index == "mrl":
            vector_bytes = 2 * (plan.prefix_dimensions or plan.dimensions)
        else:
            vector_bytes = (2 if plan.column_type == "halfvec" else 4) * plan.dimensions
        per_element = vector_bytes + 2 * plan.hnsw_m * 16 + 128
        estimate = math.ceil(rows * per_element * 1.3 / 2**20)
        return max(64, min(self.index_build_memory_mb, estimate))

    def ann_index_ddl(self, table: str, plan: StoragePlan) -> Query | None:
        """``CREATE INDEX IF NOT EXISTS`` for the plan's vector index on ``table``; None without one."""
        if plan.index == "none":
            return None
        ident = self._ident(table)
        with_ = sql.SQL("WITH (m = {}, ef_construction = {})").format(
            sql.Literal(plan.hnsw_m), sql.Literal(plan.hnsw_ef_construction)
        )
        name = sql.Identifier(ann_index_name(table, plan))
        if plan.index == "hnsw":
            assert plan.opclass is not None
            expression: Query = sql.SQL("embedding {}").format(sql.SQL(plan.opclass))
        elif plan.index == "binary":
            expression = sql.SQL("(binary_quantize(embedding)::bit({})) bit_hamming_ops").format(
                sql.Literal(plan.dimensions)
            )
        else:
            expression = sql.SQL("embedding_prefix halfvec_cosine_ops")
        return sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw ({}) {}").format(
            name, ident, expression, with_
        )

    def _drop(self, name: str, table: str) -> None:
        def run(conn: Conn) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key("registry", self.schema or "")])
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._ident(table)))
            if self._registry_exists(conn):
                # this table's row only: a stale handle must not unregister a collection created since
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE name = %s AND table_name = %s").format(self._registry),
                    [name, table],
                )

        self._run_wrapped("drop", run)

    def collection_info(self, name: str) -> Mapping[str, Any] | None:
        """The registry row of ``name``: table name, spec and storage plan (None when missing)."""
        row = self._run_wrapped("collection_info", lambda conn: self._registry_row(conn, name))
        if row is None:
            return None
        return {"name": name, "table": row[0], "spec": row[1], "storage": row[2]}
