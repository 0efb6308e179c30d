"""The :class:`Vectorizer`: keep a vector collection in step with a table of an existing database.

A sync **pass** reads the table in primary key order, a page at a time, embeds only the new and changed
rows (by content hash), and deletes the vectors whose rows are gone; an interrupted pass resumes from its
checkpoint (see :mod:`gemini_vectors.sync.job`). Every vector is written through one write path
(:mod:`gemini_vectors.sync.writer`), which re-reads each row under a share lock right before storing its
vector, so a row that changes while it is being embedded never gets the vector of its old content.

The logical collection name resolves through an alias kept in the state tables (see
:mod:`gemini_vectors.sync.state`) to a physical collection, which a re-embed replaces atomically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from gemini_vectors.collection import item_content_hash
from gemini_vectors.content import check_item
from gemini_vectors.errors import ContentError, SpecMismatchError
from gemini_vectors.spec import EmbeddingSpec, Modality, get_model
from gemini_vectors.store import StoreCollection
from gemini_vectors.sync.job import DEFAULT_MAX_ATTEMPTS, DEFAULT_PAGE_SIZE, SyncJob
from gemini_vectors.sync.pricing import CostEstimate, estimate_cost, item_tokens, prefix_tokens
from gemini_vectors.sync.summary import PageResult, SyncSummary, show_progress, worker_name

if TYPE_CHECKING:
    from gemini_vectors.sync.reembed import ReembedSummary
    from gemini_vectors.sync.state import JobRecord
    from gemini_vectors.sync.watch import Watcher

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PAGE_SIZE",
    "PageResult",
    "SyncEstimate",
    "SyncSummary",
    "Vectorizer",
    "worker_name",
]

log = logging.getLogger(__name__)


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


class Vectorizer(SyncJob):
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
        adopt: Let a new job write into a collection that exists already and that no sync job created
            (one built by ``index`` or ``Collection.add``). The job then deletes only records it wrote
            itself. Without it such a first sync is refused (guarantee 2).
    """

    # -- sync ---------------------------------------------------------------------------------------------

    def __enter__(self) -> Vectorizer:
        return self

    def sync(self, *, full: bool = False) -> SyncSummary:
        """Embed new and changed rows, delete the vectors of deleted rows; resumes an interrupted pass.

        Args:
            full: Start a new pass from the first row even if an interrupted one could be resumed.

        Raises:
            RequestRejectedError: the API refused the requests as a whole (a wrong key, a missing
                permission, an unknown model, a spent project quota); nothing is recorded against a row.
            EmbeddingError: the API kept failing (after the Embedder's retries); progress so far is kept.
            StoreError: the store failed; progress so far is kept.
            SpecMismatchError: the embedder's spec differs from the one the job's vectors have.
        """
        rec = self.ensure_job()
        while True:
            with self.pass_lock(rec.physical):
                now = self.job_record() or rec
                if now.physical != rec.physical:  # a re-embed switched meanwhile: lock the new one
                    rec = now
                    continue
                return self._sync_locked(now, full=full)

    def _sync_locked(self, rec: JobRecord, *, full: bool) -> SyncSummary:
        """:meth:`sync`, holding the pass lock (so no other pass can write while the spec may change)."""
        if self._embedder is not None and self._embedder.spec != rec.spec:
            if not self._holds_vectors(rec):
                # Nothing was ever stored under the recorded spec (a first sync that failed, say): the
                # spec is not fixed yet, so the one asked for now replaces it.
                log.info(
                    "sync job %r: no vectors stored yet; its spec becomes %s",
                    self.job,
                    self._embedder.spec.describe(),
                )
                if self.store.stored_spec(rec.physical) is not None:
                    self.store.drop_collection(rec.physical)
                self.state.reset_spec(self.job, self._embedder.spec)
                rec = self.job_record() or rec
            else:
                # after a re-embed the alias names the new spec; an explicit old embedder is a mistake
                raise SpecMismatchError(rec.collection, rec.spec, self._embedder.spec)
        coll = self.open(rec.physical, rec.spec)
        return self._run_pass(coll, rec.physical, restart=full, worker="")

    def _holds_vectors(self, rec: JobRecord) -> bool:
        """Whether the job's vectors exist anywhere (so its spec can no longer change without a re-embed)."""
        if rec.previous_physical is not None or self.state.get_reembed(self.job) is not None:
            return True
        if bool(rec.config.get("adopted", False)):
            return True
        if self.store.stored_spec(rec.physical) is None:
            return False
        return self.store.open_collection(rec.physical).count() > 0

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
        own = self.ownership()
        spec = spec or current
        model = get_model(spec.model)
        reserved = prefix_tokens(model.name)
        backend: StoreCollection | None = None
        if not into_new_collection and self.store.stored_spec(physical) is not None:
            backend = self.store.open_collection(physical)
        tokens: dict[Modality, int] = {}
        rows = to_embed = unchanged = failed = skipped = 0
        show = show_progress(self.progress)
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
                        checked.append((r.id, item_content_hash(r.item), item_tokens(stats, model.name)))
                    except (ContentError, OSError):
                        failed += 1
                stored = backend.content_hashes([c[0] for c in checked]) if backend is not None else {}
                for rid, chash, item_tok in checked:
                    if own.same_content(stored.get(rid), chash):
                        unchanged += 1
                        continue
                    to_embed += 1
                    for modality, n in item_tok.items():
                        tokens[modality] = tokens.get(modality, 0) + n
                bar.update(len(page))
        to_delete = (
            self.writer(physical).sweep(backend, dry_run=True)
            if backend is not None
            else 0
        )
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
