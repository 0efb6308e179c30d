"""The one write path of the table vectorizer: check, embed, re-check under a lock, write, report.

Sync passes, watch workers and the re-embed (its online passes and its Batch Mode results) all store
vectors through :class:`RowWriter`, so the guarantees live here and nowhere else:

**A stored vector is the vector of the content stored beside it** (guarantee 1). Embedding takes
seconds, and a row may change or vanish meanwhile. So a vector is computed outside any lock, and then,
in one transaction of the source database, the rows are read again with ``FOR SHARE`` (no writer can
change or delete them until it ends) and the vectors are written only for rows whose raw values are
still those that were embedded (:attr:`~gemini_vectors.sync.source.SourceRow.version`). A row that
moved is embedded again (a few rounds at most), a row that vanished loses its vector. Whatever changes
after the lock is released fires the watch trigger again, or is seen by the next pass.

**A writer changes only what it owns** (guarantee 2). In a collection the job created, every record is
the job's. In one it adopted (``adopt=True``), every content hash it stores carries the job's tag
(:class:`Ownership`), and it deletes only records bearing that tag.

**A request-level failure is never an item failure** (guarantee 3): a
:class:`~gemini_vectors.errors.RequestRejectedError` (bad key, permission, unknown model, project quota)
passes through untouched, with nothing written or recorded; only the items the API blamed are failures.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gemini_vectors.arguments import check_record_id
from gemini_vectors.collection import item_content_hash
from gemini_vectors.content import check_item
from gemini_vectors.errors import ContentError, MetadataError, PartialEmbeddingError
from gemini_vectors.filters import validate_metadata
from gemini_vectors.spec import get_model
from gemini_vectors.store import Record, StoreCollection, Vector
from gemini_vectors.sync.pricing import prefix_tokens
from gemini_vectors.sync.summary import PageResult

if TYPE_CHECKING:
    import sqlalchemy as sa

    from gemini_vectors.collection import Collection
    from gemini_vectors.sync.source import SourceRow, SourceTable
    from gemini_vectors.sync.state import SyncState

log = logging.getLogger(__name__)

#: Times a batch embeds rows that keep changing under it before it leaves them to the next trigger/pass.
DEFAULT_ROUNDS = 3
_TAG_SEP = "@"


def row_lock_namespace(job: str) -> int:
    """The first key of the per-row advisory locks of ``job`` (the second is ``hashtext(row id)``).

    Watch workers hold these for the rows of their batch; the write path takes them before it deletes a
    vector, so a row inserted again meanwhile cannot lose the vector a worker just stored for it.
    """
    return int.from_bytes(hashlib.sha256(job.encode()).digest()[:4], "big", signed=True)


@dataclass(frozen=True)
class Ownership:
    """Which records of a collection a sync job owns, and the stamp it puts on the ones it writes.

    Attributes:
        tag: A short digest of the job's name; in an adopted collection stored hashes read
            ``<content hash>@<tag>``.
        whole_collection: The job created the collection, so every record in it is the job's (records
            of older versions carry no tag). False for a collection the job adopted.
    """

    tag: str
    whole_collection: bool = True

    @classmethod
    def for_job(cls, job: str, *, adopted: bool = False) -> Ownership:
        """The ownership of job ``job``."""
        return cls(hashlib.sha256(job.encode()).hexdigest()[:12], whole_collection=not adopted)

    def stamp(self, content_hash: str) -> str:
        """The hash to store for content of ``content_hash``: tagged in an adopted collection, where
        the tag is what tells the job's records from the others; plain in the job's own collection."""
        return content_hash if self.whole_collection else f"{content_hash}{_TAG_SEP}{self.tag}"

    def is_stamped(self, stored: str | None) -> bool:
        """Whether a stored hash bears this job's tag."""
        return stored is not None and stored.endswith(_TAG_SEP + self.tag)

    def same_content(self, stored: str | None, content_hash: str) -> bool:
        """Whether the stored hash says the record holds the vector of ``content_hash``."""
        if stored is None:
            return False
        return stored == content_hash or stored == f"{content_hash}{_TAG_SEP}{self.tag}"

    def owns(self, stored: str | None) -> bool:
        """Whether a record with this stored hash is the job's to change or delete."""
        return self.whole_collection or self.is_stamped(stored)


@dataclass
class _Write:
    """A row to write: its vector (None: the stored one, for a metadata-only change)."""

    row: SourceRow
    content_hash: str
    vector: Vector | None = None
    embed: bool = True


class RowWriter:
    """Writes rows of one job into a collection, keeping guarantees 1 to 3 (see the module).

    Args:
        source: The table the rows come from (re-read under a share lock before each write).
        state: The job's state (for the rows set aside after too many failures).
        job: The job's name.
        ownership: What the job owns in the collections it writes.
        max_attempts: Failures of unchanged content after which a row is held back (``hold_exhausted``).
        rounds: Times rows that change while being embedded are embedded again in one call.
    """

    def __init__(
        self,
        source: SourceTable,
        state: SyncState,
        job: str,
        ownership: Ownership,
        *,
        max_attempts: int,
        rounds: int = DEFAULT_ROUNDS,
    ) -> None:
        self.source = source
        self.state = state
        self.job = job
        self.ownership = ownership
        self.max_attempts = max_attempts
        self.rounds = rounds

    # -- rows read from the source --------------------------------------------------------------------

    def write(
        self,
        rows: Sequence[SourceRow],
        coll: Collection,
        *,
        hold_exhausted: bool,
        gone: Sequence[str] = (),
        conn: sa.Connection | None = None,
    ) -> PageResult:
        """Embed what changed among ``rows`` and store it; delete the vectors of ``gone`` ids that the
        source no longer has. Failures are returned, not recorded.

        Args:
            rows: Rows read from the source.
            coll: The collection to write (with the embedder of its spec).
            hold_exhausted: Do not send rows whose unchanged content already failed ``max_attempts`` times.
            gone: Ids that were asked for but not found (their vectors go, if the rows are still gone).
            conn: Re-read and lock the rows in this connection's transaction (a watch worker's, which then
                holds the locks until it commits); default: a short transaction of the write's own.

        Raises:
            RequestRejectedError: the API refused the requests as a whole; nothing was written.
            StoreError: the store failed; nothing of the failed write is reported as done.
        """
        res = PageResult()
        computed: dict[str, Vector] = {}
        pending = list(rows)
        missing = list(gone)
        first = True
        # A watch worker's share locks last until it commits: it must not embed again while holding them
        # (the application's writers would wait for the API), so its moved rows go back to the queue.
        rounds = 1 if conn is not None else self.rounds
        for _ in range(rounds):
            writes, clears = self._plan(pending, coll, res, hold_exhausted=hold_exhausted and first)
            self._embed(writes, coll, computed, res)
            moved = self._commit(writes, clears, missing, coll, res, conn)
            first, missing = False, []
            if not moved:
                return self._finish(res)
            log.info("%d rows changed while being embedded; embedding them again", len(moved))
            pending = moved
        res.moved.update(r.id for r in pending)
        return self._finish(res)

    @staticmethod
    def _finish(res: PageResult) -> PageResult:
        res.stored_ok = [i for i in res.stored_ok if i not in res.failures and i not in res.moved]
        res.failed = len(res.failures) + len(res.held)
        return res

    def _plan(
        self, rows: Sequence[SourceRow], coll: Collection, res: PageResult, *, hold_exhausted: bool
    ) -> tuple[list[_Write], list[SourceRow]]:
        """What to embed and write, what to clear; counts the rows that need nothing."""
        own = self.ownership
        # the limits of the API surface the embedder talks to (Vertex AI takes less video than Gemini)
        model = coll.embedder.model_info if coll.embedder is not None else get_model(coll.spec.model)
        reserved = prefix_tokens(model.name)
        candidates: list[tuple[SourceRow, str]] = []
        empty: list[SourceRow] = []
        for r in rows:
            res.failures.pop(r.id, None)
            if r.error is not None:
                res.failures[r.id] = (None, r.error)
                continue
            if r.item is None:
                empty.append(r)
                continue
            try:
                check_record_id(r.id, f"row {r.id!r}")
                coll.backend.check_ids([r.id], what="row")
                validate_metadata(r.metadata, where=f"metadata of row {r.id!r}")
                check_item(r.item, model, reserved_tokens=reserved if r.item.text_parts else 0)
                chash = item_content_hash(r.item)
            except (ContentError, MetadataError, OSError) as exc:
                res.failures[r.id] = (None, str(exc))
                continue
            candidates.append((r, chash))
            res.hashes[r.id] = chash
        ids = [r.id for r, _ in candidates] + [r.id for r in empty]
        stored = coll.backend.content_hashes(ids) if ids else {}
        writes: list[_Write] = []
        unchanged: list[tuple[SourceRow, str]] = []
        for r, chash in candidates:
            if own.same_content(stored.get(r.id), chash):
                unchanged.append((r, chash))
            else:
                writes.append(_Write(r, chash))
        if hold_exhausted and writes:
            res.held = self.state.exhausted(
                self.job, {w.row.id: w.content_hash for w in writes}, self.max_attempts
            )
            writes = [w for w in writes if w.row.id not in res.held]
        if unchanged:
            # Same content: the stored vector stays. Metadata columns may change alone, and a record of
            # an adopted collection may lack the job's stamp: both are rewritten with the stored vector.
            need = [
                (r, h)
                for r, h in unchanged
                if self.source.metadata_columns or stored.get(r.id) != own.stamp(h)
            ]
            current = (
                {rec.id: rec for rec in coll.backend.get([r.id for r, _ in need], include_vectors=True)}
                if need
                else {}
            )
            for r, chash in unchanged:
                old = current.get(r.id)
                if old is not None and (
                    dict(old.metadata) != dict(r.metadata) or old.content_hash != own.stamp(chash)
                ):
                    writes.append(_Write(r, chash, old.vector, embed=False))
                else:
                    res.unchanged += 1
                    res.stored_ok.append(r.id)
        res.skipped += len(empty)
        clears = [r for r in empty if r.id in stored and own.owns(stored[r.id])]
        return writes, clears

    def _embed(
        self, writes: list[_Write], coll: Collection, computed: dict[str, Vector], res: PageResult
    ) -> None:
        """Fill in the vectors to write; the rows the API blames become failures (and leave ``writes``)."""
        todo = [w for w in writes if w.embed and w.content_hash not in computed]
        embedder = coll.embedder
        if todo and embedder is None:
            raise ValueError(f"collection {coll.name!r} was opened without an embedder")
        while todo:
            assert embedder is not None
            try:
                vectors = embedder.embed_documents([w.row.item for w in todo])  # type: ignore[misc]
                ok = [True] * len(todo)
            except PartialEmbeddingError as exc:
                vectors, ok = exc.vectors, [bool(b) for b in exc.succeeded]
                for j, reason in exc.failures.items():
                    res.failures[todo[j].row.id] = (todo[j].content_hash, reason)
            except ContentError as exc:
                # every item was checked already, so this is rare: fail the one named, embed the rest
                bad = exc.index if exc.index is not None and exc.index < len(todo) else 0
                res.failures[todo[bad].row.id] = (todo[bad].content_hash, str(exc))
                todo = todo[:bad] + todo[bad + 1 :]
                continue
            for j, w in enumerate(todo):
                if ok[j]:
                    computed[w.content_hash] = vectors[j]
            break
        for w in writes:
            if w.embed and w.content_hash in computed:
                w.vector = computed[w.content_hash]
        writes[:] = [w for w in writes if w.vector is not None]

    def _commit(
        self,
        writes: Sequence[_Write],
        clears: Sequence[SourceRow],
        missing: Sequence[str],
        coll: Collection,
        res: PageResult,
        conn: sa.Connection | None,
    ) -> list[SourceRow]:
        """Write the vectors of rows that did not move, delete what is gone; returns the moved rows."""
        ids = list(dict.fromkeys([w.row.id for w in writes] + [r.id for r in clears] + list(missing)))
        if not ids:
            return []
        moved: list[SourceRow] = []
        with self._transaction(conn) as tx:
            fresh = {r.id: r for r in self.source.fetch(ids, conn=tx, lock=True)}
            absent = set(self.source.missing([i for i in ids if i not in fresh], conn=tx))
            # rows that exist but came back locked are being written right now: their writer's trigger
            # (or the next pass) brings them; nothing is stored for them here
            busy = {i for i in ids if i not in fresh and i not in absent}
            res.moved.update(busy)
            records: list[Record] = []
            doomed: list[str] = []
            embedded: list[str] = []
            refreshed: list[str] = []  # unchanged content, new metadata or stamp: no embedding
            for w in writes:
                now = fresh.get(w.row.id)
                if w.row.id in busy:
                    continue
                if now is None:
                    doomed.append(w.row.id)
                elif now.version != w.row.version:
                    moved.append(now)
                else:
                    assert w.vector is not None
                    stamp = self.ownership.stamp(w.content_hash)
                    records.append(Record(now.id, w.vector, dict(now.metadata), stamp))
                    (embedded if w.embed else refreshed).append(now.id)
            emptied: list[str] = []  # rows still there, share-locked, with no content any more
            for r in clears:
                now = fresh.get(r.id)
                if r.id in busy:
                    continue
                if now is None:
                    doomed.append(r.id)
                elif now.version != r.version:
                    moved.append(now)
                else:
                    emptied.append(r.id)
            for rid in missing:
                if rid in busy:
                    continue
                if rid in fresh:
                    moved.append(fresh[rid])  # back again: embed it like any row
                else:
                    doomed.append(rid)
            if records:
                # one lock order for every writer, so two writers of one store never deadlock
                records.sort(key=lambda rec: rec.id)
                coll.upsert_vectors(records)
            res.deleted += self.delete_owned(coll.backend, emptied)
            res.deleted += self._delete_gone(tx, coll.backend, doomed)
        res.embedded += len(embedded)
        res.unchanged += len(refreshed)
        res.stored_ok.extend(r.id for r in records)
        return moved

    def _delete_gone(self, tx: sa.Connection, backend: StoreCollection, ids: Sequence[str]) -> int:
        """Delete the vectors of rows that are gone, holding the rows' advisory locks meanwhile.

        A row that does not exist cannot be share-locked, so an INSERT of the same id could race the
        delete: a watch worker would store the new row's vector and the delete would then remove it. The
        workers hold the per-row advisory lock for their whole batch; taking it here (skipping rows a
        worker holds: it deals with them) orders the two. Until this transaction commits, a worker that
        wants the row waits, and finds no vector when it may go on.
        """
        if not ids:
            return 0
        if self.source.engine.dialect.name == "postgresql":
            import sqlalchemy as sa

            got = list(
                tx.execute(
                    sa.text(
                        "SELECT r FROM unnest(CAST(:ids AS text[])) AS r "
                        "WHERE pg_try_advisory_xact_lock(:ns, hashtext(r))"
                    ),
                    {"ids": list(ids), "ns": row_lock_namespace(self.job)},
                ).scalars()
            )
            ids = self.source.missing(got, conn=tx)  # still gone, now that nobody can be on them
        return self.delete_owned(backend, ids)

    def delete_owned(self, backend: StoreCollection, ids: Sequence[str]) -> int:
        """Delete the records among ``ids`` that exist and that the job owns; returns how many."""
        if not ids:
            return 0
        stored = backend.content_hashes(list(ids))
        doomed = sorted(i for i, h in stored.items() if self.ownership.owns(h))
        for start in range(0, len(doomed), 1000):
            backend.delete(ids=doomed[start : start + 1000])
        return len(doomed)

    @contextmanager
    def _transaction(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        if conn is not None:
            yield conn
            return
        with self.source.engine.begin() as own:
            yield own

    # -- vectors made elsewhere (Batch Mode) ----------------------------------------------------------

    def write_vectors(
        self, coll: Collection, vectors: Sequence[tuple[str, str, Vector]]
    ) -> tuple[int, list[str]]:
        """Store vectors computed earlier for ``(row id, content hash, vector)``, for the rows whose
        content still has that hash (checked under a share lock); returns (stored, ids left out).

        The rows left out changed or vanished since: the online pass that follows embeds or deletes them.
        """
        if not vectors:
            return 0, []
        records: list[Record] = []
        left: list[str] = []
        with self.source.engine.begin() as tx:
            fresh = {r.id: r for r in self.source.fetch([v[0] for v in vectors], conn=tx, lock=True)}
            for rid, chash, vec in vectors:
                now = fresh.get(rid)
                if now is None or now.item is None or now.error is not None:
                    left.append(rid)
                    continue
                try:
                    same = item_content_hash(now.item) == chash
                except (ContentError, OSError):
                    same = False
                if not same:
                    left.append(rid)
                    continue
                records.append(Record(rid, vec, dict(now.metadata), self.ownership.stamp(chash)))
            records.sort(key=lambda rec: rec.id)
            for start in range(0, len(records), 500):
                coll.upsert_vectors(records[start : start + 500])
        return len(records), left

    # -- the sweep ------------------------------------------------------------------------------------

    def sweep(self, backend: StoreCollection, *, dry_run: bool = False) -> int:
        """Delete the job's vectors whose rows no longer exist; returns how many (would be) deleted."""
        doomed: list[str] = []
        batch: list[str] = []
        for sid in backend.iter_ids(1000):
            batch.append(sid)
            if len(batch) == 1000:
                doomed.extend(self.source.missing(batch))
                batch = []
        if batch:
            doomed.extend(self.source.missing(batch))
        if not self.ownership.whole_collection and doomed:
            owned: list[str] = []
            for start in range(0, len(doomed), 1000):
                chunk = doomed[start : start + 1000]
                stored = backend.content_hashes(chunk)
                owned.extend(i for i in chunk if self.ownership.owns(stored.get(i)))
            doomed = owned
        if dry_run:
            return len(doomed)
        # deleted after the listing, so no store pages while its ids change under the cursor; a row
        # inserted again meanwhile is checked once more, under its row lock, right before its vector goes
        deleted = 0
        for start in range(0, len(doomed), 1000):
            with self.source.engine.begin() as tx:
                deleted += self._delete_gone(tx, backend, doomed[start : start + 1000])
        return deleted

