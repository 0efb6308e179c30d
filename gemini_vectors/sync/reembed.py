"""Blue/green re-embedding when the model or the size changes, optionally through Gemini Batch Mode.

Vectors of two specs must never meet, so a new model or size needs a new collection. The job's logical
collection name resolves through an alias (the ``physical`` column of the job's row in the state tables)
to a physical collection. A re-embed:

1. records itself (``reembeds`` table) and creates the new physical collection ``<name>_v<N>`` beside
   the old one; searches keep going to the old one through the alias;
2. with Batch Mode, reads the table in pages and sends the rows whose content the new collection lacks
   as Batch Mode jobs (half price), each under the 20 MB inline limit and small enough that its inline
   results stay a manageable download. Before a job is created its record (rows, content hashes, a
   unique display name) is saved; right after, its name. A run interrupted anywhere resumes polling the
   jobs it already paid for (a job created just before a crash is found again by its display name);
3. polls the jobs and stores their vectors (with the content hashes the rows had when sent);
4. runs an online pass into the new collection: rows the batch did not cover (failed items, rows
   changed since) are embedded with the :class:`~gemini_vectors.Embedder`, deleted rows are removed;
5. switches the alias in one UPDATE (atomic; on PostgreSQL it waits for watch workers' batches in
   flight, which hold the alias with ``FOR SHARE``), then runs one more online pass for the rows the
   old side took while it was switching;
6. keeps the old collection until told to drop it (``drop_old`` / ``--drop-old``).

Batch requests are shaped as the Embedder shapes online ones (one Content per item, the document task
prefix for gemini-embedding-2 or ``taskType`` for gemini-embedding-001, the output size in the config),
so a row gets the same vector whichever way it was embedded.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gemini_vectors.content import Item, check_item
from gemini_vectors.errors import ConfigurationError, ContentError, EmbeddingError, SpecMismatchError
from gemini_vectors.retry import client_secrets, is_retryable, request_rejected, server_retry_delay
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.sync.pricing import prefix_tokens
from gemini_vectors.sync.summary import SyncSummary

if TYPE_CHECKING:
    from google.genai import types

    from gemini_vectors.collection import Collection
    from gemini_vectors.embedder import Embedder
    from gemini_vectors.sync.job import SyncJob
    from gemini_vectors.sync.source import SourceRow
    from gemini_vectors.sync.state import BatchRecord

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Items per Batch Mode job: 500 x 3,072 dims come back as ~30 MB of JSON, a bearable single download.
DEFAULT_BATCH_ITEMS = 500
#: Estimated request bytes per job, under the API's 20 MB inline limit with room for JSON overhead.
DEFAULT_BATCH_BYTES = 15 * MiB
DEFAULT_POLL_INTERVAL = 30.0

_TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


@dataclass(frozen=True)
class ReembedSummary:
    """What a re-embed did.

    Attributes:
        collection: The logical collection.
        old: The physical collection searched before (kept unless dropped).
        new: The physical collection built.
        old_spec: Its spec before.
        new_spec: The new spec.
        switched: Whether the alias now points at ``new``.
        batch_jobs: Batch Mode jobs created by this run.
        batch_embedded: Vectors stored from Batch Mode results by this run.
        batch_failed: Batch items that failed (embedded online instead).
        online: The online pass before the switch (rows the batch did not cover, changed, deleted).
        after_switch: The pass after the switch (rows the old side took while switching); its
            ``failed`` is the number of rows without a vector in the new collection.
        dropped: The collection dropped, if ``drop_old``.
        resumed: Whether an interrupted re-embed was continued.
        seconds: Wall time.
    """

    collection: str
    old: str
    new: str
    old_spec: EmbeddingSpec
    new_spec: EmbeddingSpec
    switched: bool
    batch_jobs: int = 0
    batch_embedded: int = 0
    batch_failed: int = 0
    online: SyncSummary = field(default_factory=SyncSummary)
    after_switch: SyncSummary = field(default_factory=SyncSummary)
    dropped: str | None = None
    resumed: bool = False
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.switched:
            return f"{self.collection}: nothing to do, it already holds {self.new_spec.describe()} vectors"
        parts = [
            f"{self.collection}: {self.old} ({self.old_spec.describe()}) -> "
            f"{self.new} ({self.new_spec.describe()})",
            f"batch mode: {self.batch_jobs} jobs, {self.batch_embedded} embedded, {self.batch_failed} failed"
            if self.batch_jobs or self.batch_embedded
            else "",
            f"online: {self.online}",
            f"after the switch: embedded {self.after_switch.embedded}, deleted {self.after_switch.deleted}, "
            f"failed {self.after_switch.failed}",
            f"old collection {self.dropped} dropped"
            if self.dropped
            else f"old collection {self.old} kept (drop it with --drop-old)",
        ]
        return "; ".join(p for p in parts if p) + (" (resumed)" if self.resumed else "")


def unit_vector(
    values: Sequence[float] | None, dimensions: int
) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    """``values`` as a unit float32 vector, or None when it has the wrong length, a NaN, or no length."""
    if values is None or len(values) != dimensions:
        return None
    vec = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(vec).all() or norm == 0.0 or not np.isfinite(norm):
        return None
    out: np.ndarray[Any, np.dtype[np.float32]] = vec / norm
    return out


def _state_name(job: types.BatchJob) -> str:
    state = job.state
    return str(getattr(state, "value", state) or "")


class Reembedder:
    """Builds a job's collection again under a new spec, beside the old one, and switches over.

    Args:
        vectorizer: The sync job whose collection is re-embedded.
        embedder: An embedder for the new spec.
        batch_mode: Send the bulk through Gemini Batch Mode (Gemini Developer API only).
        batch_items: Items per Batch Mode job at most.
        batch_bytes: Estimated request bytes per Batch Mode job at most (the API's inline limit is 20 MB).
        poll_interval: Seconds between polls of unfinished Batch Mode jobs.
        before_switch: Called just before the alias switches (tests search the old collection there).
        say: Called with a line describing each phase (the CLI prints them).
    """

    def __init__(
        self,
        vectorizer: SyncJob,
        embedder: Embedder,
        *,
        batch_mode: bool = False,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        before_switch: Callable[[], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if batch_items < 1 or batch_bytes < 1:
            raise ConfigurationError("batch_items and batch_bytes must be positive")
        if batch_mode and embedder.vertexai:
            raise ConfigurationError("Batch Mode embeddings need the Gemini Developer API, not Vertex AI")
        self.v = vectorizer
        self.embedder = embedder
        self.batch_mode = batch_mode
        self.batch_items = batch_items
        self.batch_bytes = batch_bytes
        self.poll_interval = poll_interval
        self.before_switch = before_switch
        self.say = say or (lambda line: log.info("%s", line))
        self._jobs_created = 0
        self._batch_embedded = 0
        self._batch_failed = 0

    @property
    def job(self) -> str:
        """The sync job's name."""
        return self.v.job

    def _new_name(self, base: str) -> str:
        taken = set(self.v.state.reembed_targets(self.job))
        n = 2
        while True:
            name = f"{base}_v{n}"
            if name not in taken and self.v.store.stored_spec(name) is None:
                return name
            n += 1

    def run(self, *, drop_old: bool = False) -> ReembedSummary:
        """Re-embed, switch over and (with ``drop_old``) drop the old collection; resumes an interrupted run.

        Raises:
            ConfigurationError: nothing was synced yet, or another re-embed is unfinished.
        """
        start = time.monotonic()
        v, state = self.v, self.v.state
        rec = v.job_record()
        if rec is None:
            raise ConfigurationError(
                f"nothing to re-embed: job {self.job!r} was never synced (run sync first)"
            )
        new_spec = self.embedder.spec
        pending = state.get_reembed(self.job)
        resumed = False
        status = "building"
        if pending is not None:
            target, spec, status, batch_mode = pending
            if spec != new_spec:
                raise ConfigurationError(
                    f"a re-embed of {rec.collection!r} into {target!r} ({spec.describe()}) is unfinished; "
                    "run it again with that model and size, or abort it (--abort)"
                )
            resumed = True
            self.batch_mode = self.batch_mode or batch_mode
            self.say(f"resuming the re-embed into {target} ({status})")
        elif rec.spec == new_spec:
            return ReembedSummary(
                rec.collection, rec.physical, rec.physical, rec.spec, new_spec, switched=False
            )
        else:
            target = self._new_name(rec.collection)
            state.start_reembed(self.job, target, new_spec, self.batch_mode)
            self.say(
                f"building {target} ({new_spec.describe()}) beside {rec.physical} ({rec.spec.describe()})"
            )
        old_physical, old_spec = (
            (rec.physical, rec.spec)
            if status == "building"
            else (rec.previous_physical or rec.physical, rec.previous_spec or rec.spec)
        )
        try:
            coll = v.open(target, new_spec, self.embedder)
        except SpecMismatchError as exc:
            if status == "building":
                state.set_reembed_status(self.job, target, "aborted")
            raise ConfigurationError(
                f"the store {v.store.url} cannot hold {new_spec.describe()} vectors beside "
                f"{old_spec.describe()} ones ({exc}). Stores that keep one embedding spec per index "
                "(Pinecone) re-embed by syncing the table into a new index: run `gemini-vectors sync` "
                "with the new --store, --model and --dimensions and another --name"
            ) from exc
        online = SyncSummary()
        if status == "building":
            if self.batch_mode:
                self._batch_phase(coll, target)
            self.say("online pass: rows the batch did not cover, changed or deleted rows")
            online += v.run_pass(coll, target)
            if self.before_switch is not None:
                self.before_switch()
            state.switch(self.job, target, new_spec)
            state.set_reembed_status(self.job, target, "switched")
            self.say(f"switched {rec.collection} -> {target}")
        after = v.run_pass(coll, target, restart=True)
        state.set_reembed_status(self.job, target, "done")
        dropped = drop_previous(v) if drop_old else None
        return ReembedSummary(
            rec.collection,
            old_physical,
            target,
            old_spec,
            new_spec,
            switched=True,
            batch_jobs=self._jobs_created,
            batch_embedded=self._batch_embedded,
            batch_failed=self._batch_failed,
            online=online,
            after_switch=after,
            dropped=dropped,
            resumed=resumed,
            seconds=time.monotonic() - start,
        )

    # -- Batch Mode ---------------------------------------------------------------------------------------

    def _batch_phase(self, coll: Collection, target: str) -> None:
        v, state = self.v, self.v.state
        submit_key = f"{target}#batch"
        for rec in state.batches(self.job, target, ["creating"]):
            self._adopt_or_resubmit(rec, target, submit_key)
        prog = state.get_progress(self.job, submit_key)
        if prog is None or prog.status != "done":
            after: Any = None
            if prog is not None and prog.status == "running":
                if prog.checkpoint is not None:
                    after = v.source.parse_id(prog.checkpoint)
            else:
                state.start_pass(self.job, submit_key)
            self.say("submitting Batch Mode jobs")
            group: list[tuple[SourceRow, str]] = []
            group_bytes = 0
            model = self.embedder.model_info
            reserved = prefix_tokens(model.name)
            for page in v.source.pages(after, v.page_size):
                candidates: list[tuple[SourceRow, str, int]] = []
                for r in page:
                    if r.error is not None or r.item is None:
                        continue
                    try:
                        stats = check_item(
                            r.item, model, reserved_tokens=reserved if r.item.text_parts else 0
                        )
                    except (ContentError, OSError):
                        continue  # the online pass records why
                    from gemini_vectors.sync.source import item_hash

                    candidates.append((r, item_hash(r.item), stats.request_bytes))
                stored = coll.backend.content_hashes([r.id for r, _, _ in candidates]) if candidates else {}
                own = v.ownership_of(target)
                for r, chash, nbytes in candidates:
                    if own.same_content(stored.get(r.id), chash):
                        continue
                    if group and (len(group) >= self.batch_items or group_bytes + nbytes > self.batch_bytes):
                        self._submit(group, target, submit_key)
                        group, group_bytes = [], 0
                    group.append((r, chash))
                    group_bytes += nbytes
            if group:
                self._submit(group, target, submit_key)
            state.finish_pass(self.job, submit_key)
        self._collect(coll, target)

    def _submit(self, group: Sequence[tuple[SourceRow, str]], target: str, submit_key: str) -> None:
        v, state = self.v, self.v.state
        token = f"gv-{uuid.uuid4().hex[:20]}"
        rows = [(r.id, chash, dict(r.metadata)) for r, chash in group]
        last_key = v.source.format_id(group[-1][0].key)
        record_id = state.add_batch(self.job, target, token, rows, last_key)
        items = [r.item for r, _ in group if r.item is not None]
        name = self._create(token, items)
        state.batch_submitted(record_id, name, job=self.job, progress_target=submit_key)
        self._jobs_created += 1
        self.say(f"batch job {name}: {len(rows)} items")

    def _client(self) -> Any:
        return self.embedder.client

    def _create(self, token: str, items: Sequence[Item]) -> str:
        from google.genai import types

        contents, config = self.embedder.request_contents(items, TaskType.RETRIEVAL_DOCUMENT)
        src = types.EmbeddingsBatchJobSource(
            inlined_requests=types.EmbedContentBatch(contents=contents, config=config)
        )
        policy = self.embedder.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # create_embeddings is marked experimental
                    job = self._client().batches.create_embeddings(
                        model=self.embedder.spec.model,
                        src=src,
                        config=types.CreateEmbeddingsBatchJobConfig(display_name=token),
                    )
                if not job.name:
                    raise EmbeddingError("the Batch API created a job without a name")
                return str(job.name)
            except Exception as exc:
                rejected = request_rejected(exc, secrets=client_secrets(self._client()))
                if rejected is not None:
                    raise rejected from exc  # a wrong key or quota is no failure of the rows sent
                if not is_retryable(exc) or attempt == policy.max_attempts:
                    raise EmbeddingError(f"creating a Batch Mode job failed: {exc}") from exc
                # the job may exist although the answer was lost: never pay twice
                found = self._find(token)
                if found is not None:
                    return found
                time.sleep(policy.backoff(attempt, server_retry_delay(exc)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _find(self, display_name: str) -> str | None:
        """The name of the batch job created with ``display_name``, if the API has one."""
        for job in self._client().batches.list(config={"page_size": 100}):
            if job.display_name == display_name and job.name:
                return str(job.name)
        return None

    def _adopt_or_resubmit(self, rec: BatchRecord, target: str, submit_key: str) -> None:
        """A record saved just before a crash: find its job, or send its rows again if it was never made."""
        state = self.v.state
        name = self._find(rec.display_name)
        if name is not None:
            state.batch_submitted(rec.id, name, job=self.job, progress_target=submit_key)
            self.say(f"found batch job {name} created before the interruption")
            return
        state.set_batch_status(rec.id, "abandoned")
        rows = self.v.source.fetch([r[0] for r in rec.rows])
        group = []
        from gemini_vectors.sync.source import item_hash

        for r in rows:
            if r.item is not None and r.error is None:
                group.append((r, item_hash(r.item)))
        if group:
            self._submit(group, target, submit_key)

    def _collect(self, coll: Collection, target: str) -> None:
        state = self.v.state
        pending = state.batches(self.job, target, ["submitted"])
        if pending:
            self.say(f"waiting for {len(pending)} Batch Mode jobs")
        while pending:
            still: list[BatchRecord] = []
            for rec in pending:
                assert rec.batch_name is not None
                job = self._client().batches.get(name=rec.batch_name)
                state_name = _state_name(job)
                if state_name not in _TERMINAL:
                    still.append(rec)
                    continue
                if state_name == "JOB_STATE_SUCCEEDED":
                    self._store(coll, rec, job)
                    state.set_batch_status(rec.id, "collected")
                else:
                    # its rows are embedded online by the pass that follows
                    self._batch_failed += len(rec.rows)
                    state.set_batch_status(rec.id, "failed")
                    self.say(f"batch job {rec.batch_name} ended {state_name}; its items go online")
            pending = still
            if pending:
                time.sleep(self.poll_interval)

    def _store(self, coll: Collection, rec: BatchRecord, job: types.BatchJob) -> None:
        dest = job.dest
        responses: list[Any] = []
        if dest is not None:
            # when every item failed, the SDK files the answers under inlined_responses
            responses = list(dest.inlined_embed_content_responses or dest.inlined_responses or [])
        dims = self.embedder.spec.dimensions
        if len(responses) != len(rec.rows):
            log.warning(
                "batch job %s returned %d answers for %d requests; its items go online",
                rec.batch_name,
                len(responses),
                len(rec.rows),
            )
            self._batch_failed += len(rec.rows)
            return
        vectors: list[tuple[str, str, np.ndarray[Any, np.dtype[np.float32]]]] = []
        for (rid, chash, _meta), answer in zip(rec.rows, responses, strict=True):
            response = getattr(answer, "response", None)
            embedding = getattr(response, "embedding", None)
            vec = unit_vector(getattr(embedding, "values", None), dims)
            if vec is None:
                self._batch_failed += 1
                continue
            vectors.append((rid, chash, vec))
        # Results come hours after the rows were read: only the rows whose content is still what was
        # sent get these vectors (the online pass that follows embeds the others again).
        stored, _changed = self.v.writer(coll.name).write_vectors(coll, vectors)
        self._batch_embedded += stored


def drop_previous(vectorizer: SyncJob) -> str | None:
    """Drop every physical collection earlier re-embeds switched away from; returns their names.

    Not only the last one: a second re-embed before the first old collection was dropped would
    otherwise leave that one behind, with no record pointing at it.
    """
    rec = vectorizer.job_record()
    if rec is None:
        return None
    state = vectorizer.state
    building = state.get_reembed(vectorizer.job)
    unfinished = building[0] if building is not None and building[2] == "building" else None
    earlier = [rec.collection, *state.reembed_targets(vectorizer.job)]
    if rec.previous_physical:
        earlier.append(rec.previous_physical)
    dropped: list[str] = []
    adopted = bool(rec.config.get("adopted", False))
    for name in dict.fromkeys(earlier):
        if name in (rec.physical, unfinished):
            continue
        if vectorizer.store.stored_spec(name) is None:
            continue
        if adopted and name == rec.collection:
            # not the job's to drop (guarantee 2): only the records it wrote there go
            removed = _remove_own_records(vectorizer, name)
            log.info("kept adopted collection %s; removed the job's %d records from it", name, removed)
            continue
        vectorizer.store.drop_collection(name)
        dropped.append(name)
    state.forget_previous(vectorizer.job)
    return ", ".join(dropped) or None


def _remove_own_records(vectorizer: SyncJob, name: str) -> int:
    """Delete the records the job stamped in collection ``name`` (which it adopted); returns how many."""
    backend = vectorizer.store.open_collection(name)
    writer = vectorizer.writer(name)
    ids = list(backend.iter_ids(1000))
    return sum(writer.delete_owned(backend, ids[start : start + 1000]) for start in range(0, len(ids), 1000))


def abort_reembed(vectorizer: SyncJob) -> str | None:
    """Abandon an unfinished re-embed that has not switched: drop what it built; returns its name."""
    pending = vectorizer.state.get_reembed(vectorizer.job)
    if pending is None:
        return None
    target, _spec, status, _batch = pending
    if status != "building":
        raise ConfigurationError(f"the re-embed into {target!r} already switched over; it cannot be aborted")
    vectorizer.store.drop_collection(target)
    vectorizer.state.set_reembed_status(vectorizer.job, target, "aborted")
    return target
