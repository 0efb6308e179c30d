"""``QdrantStore``: gemini-vectors collections as Qdrant collections, on qdrant-client.

Layout of one collection (see :mod:`.naming` for the names and :mod:`.storage` for the plans):

* one Qdrant collection per creation of a gemini-vectors collection (``docs~~<incarnation>``), under a
  Qdrant alias of the collection's name (``docs``) through which every lookup by name goes; a handle
  addresses the Qdrant collection it opened, so once that is dropped its requests fail by themselves
  (:meth:`~gemini_vectors.errors.CollectionNotFoundError.dropped_since_opened`), even after the name
  was created again for another spec, at no extra request per query. A collection made before
  incarnations (its Qdrant name is its name) is checked again before each request instead;
* with one unnamed dense vector (cosine distance)
  stored as the plan planned from the spec says (float32, float16, or int8/binary quantization with
  rescoring); or, with ``index="mrl:<d>"``, a full and a ``d``-dim prefix named vector, the HNSW graph on
  the prefix only, searched in two stages by one ``query_points`` (prefetch on the prefix, re-rank on the
  full vector);
* the embedding spec, the user's collection name and the plan (storage, index layout, ``ef_search``
  default) live in the collection's
  **metadata** (``{"gemini_vectors": {...}}``), written in the request that creates the collection, so
  there is no moment when the collection exists without its spec. It is read back and compared on every
  open, and again before every write (:class:`~gemini_vectors.errors.SpecMismatchError` before anything
  is sent);
* a point per record: its id the UUIDv5 of the record id, its payload the user's metadata under its own
  keys plus ``__gv_id`` (the record id), ``__gv_content_hash`` and ``__gv_keys`` (the keys it has);
* on a server, a payload index for each key the first time a filter names it (``keyword``, ``bool`` or
  ``float`` from the filter's value), and for ``__gv_keys`` from the start.

Writes go in batches of at most ``batch_size`` points and ``max_batch_bytes`` (Qdrant's request limit is
32 MB by default; 256 points is the top of the batch size Qdrant's bulk-upload guide recommends).
Transient failures (429, 5xx, dropped connections, gRPC UNAVAILABLE...) are retried with backoff; a batch
the server rejects is split in halves until the records it rejects are found, and those raise one
:class:`~gemini_vectors.errors.WriteError` naming them, after everything else was written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from gemini_vectors.backend_kit import (
    TRANSIENT_GRPC_CODES,
    ClientFailures,
    SharedClient,
    batches_by_size,
    call_with_retries,
    check_integer_option,
    check_recorded_owner,
    check_seconds_option,
    check_still_recorded,
    checked_record,
    chunks,
    collection_failure,
    describe_failure,
    grpc_code,
    refuse_unknown,
    write_isolating,
)
from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    WriteError,
)
from gemini_vectors.filters import Filter, MetadataValue
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

from .filters import as_filter, index_hints, translate
from .naming import (
    HASH_KEY,
    ID_KEY,
    INCARNATION_HEX_DIGITS,
    INCARNATION_SEPARATOR,
    INTERNAL_KEYS,
    KEYS_KEY,
    MAX_QDRANT_NAME,
    check_prefix,
    escape_name,
    new_incarnation,
    physical_name,
    point_id,
)
from .storage import (
    DEFAULT_RERANK_FACTOR,
    FULL_VECTOR,
    INDEX_KINDS,
    PREFIX_VECTOR,
    CollectionPlan,
    collection_quantization_config,
    plan_for,
    search_params,
    vectors_config,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The key of the collection metadata that holds what gemini-vectors records.
METADATA_KEY = "gemini_vectors"
METADATA_FORMAT = 1
#: Points per upsert request (Qdrant's bulk-upload guide: 64-256 points a batch).
DEFAULT_BATCH_SIZE = 256
#: Bytes per upsert request: half of the server's default ``service.max_request_size_mb`` (32 MB).
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Ids per retrieve or delete request.
ID_CHUNK = 1000
#: HTTP answers worth retrying: rate limited, or the server (or a proxy before it) is in trouble.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: A float32 in the JSON of a request: at most ~16 characters and a separator (a bound, for batching).
BYTES_PER_DIMENSION = 18


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call is worth repeating as it is (rate limit, overload, a dropped connection)."""
    from qdrant_client.http.exceptions import ResponseHandlingException

    if isinstance(exc, ResponseHandlingException):
        return True  # the request did not get an answer: connection refused, reset, timed out
    status = _status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return grpc_code(exc) in TRANSIENT_GRPC_CODES


def is_not_found(exc: BaseException) -> bool:
    """Whether a failed call says the collection does not exist (server 404, gRPC, local mode)."""
    if _status(exc) == 404 or grpc_code(exc) == "NOT_FOUND":
        return True
    return isinstance(exc, ValueError | KeyError) and "not found" in str(exc).lower()


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


#: What a failure of the Qdrant client means, for the kit's retries, bisection and errors.
FAILURES = ClientFailures(
    "Qdrant", log, is_transient=is_transient, is_not_found=is_not_found, server_delay=_retry_after
)


def _record_entry(
    name: str, spec: EmbeddingSpec, plan: CollectionPlan, incarnation: str | None
) -> dict[str, Any]:
    """The gemini_vectors entry of a collection's metadata (the whole of it: an update replaces it)."""
    entry = {"format": METADATA_FORMAT, "name": name, "spec": spec.to_dict(), **plan.to_dict()}
    if incarnation is not None:
        # read through the alias on open, it names the Qdrant collection a new handle addresses
        entry["incarnation"] = incarnation
    return entry


_alias_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_alias_locks_guard = threading.Lock()


def _alias_lock(client: Any) -> threading.Lock:
    """The lock under which stores sharing ``client`` look at a name and take it as an alias."""
    with _alias_locks_guard:
        lock = _alias_locks.get(client)
        if lock is None:
            lock = _alias_locks[client] = threading.Lock()
        return lock


def _record_metadata(
    name: str, spec: EmbeddingSpec, plan: CollectionPlan, incarnation: str | None
) -> dict[str, Any]:
    return {METADATA_KEY: _record_entry(name, spec, plan, incarnation)}


def _incarnation_of(entry: Mapping[str, Any]) -> str | None:
    value = entry.get("incarnation")
    if isinstance(value, str) and len(value) == INCARNATION_HEX_DIGITS:
        try:
            int(value, 16)
        except ValueError:
            return None
        return value
    return None


def _parse_metadata(
    metadata: Mapping[str, Any] | None,
) -> tuple[str, EmbeddingSpec, CollectionPlan, str | None] | None:
    """``(name, spec, plan, incarnation)`` from a collection's metadata, or None if gemini-vectors did
    not make it (incarnation None: a collection made before incarnations).

    Raises:
        ConfigurationError: the spec is ours but the plan is not one this version reads (a newer one
            wrote it).
    """
    entry = (metadata or {}).get(METADATA_KEY)
    if not isinstance(entry, Mapping):
        return None
    try:
        name, spec = str(entry["name"]), EmbeddingSpec.from_dict(entry["spec"])
    except (ValueError, KeyError, TypeError):
        return None
    try:
        plan = CollectionPlan.from_dict(entry)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"collection {name!r} records a plan this version of gemini-vectors-qdrant does not read "
            f"({exc}); upgrade gemini-vectors-qdrant"
        ) from None
    return name, spec, plan, _incarnation_of(entry)


def _strict_ef_limit(info: Any) -> int | None:
    """The largest ``hnsw_ef`` a server's strict mode lets a search of this collection ask for, if any."""
    strict = getattr(getattr(info, "config", None), "strict_mode_config", None)
    if strict is None or not getattr(strict, "enabled", False):
        return None
    limit = getattr(strict, "search_max_hnsw_ef", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def _decode_payload(
    payload: Mapping[str, Any] | None,
) -> tuple[str | None, dict[str, MetadataValue], str | None]:
    payload = payload or {}
    meta: dict[str, MetadataValue] = {}
    for key, value in payload.items():
        if key in INTERNAL_KEYS or value is None:
            continue
        meta[key] = [str(v) for v in value] if isinstance(value, list) else value
    record_id = payload.get(ID_KEY)
    content_hash = payload.get(HASH_KEY)
    return (
        record_id if isinstance(record_id, str) else None,
        meta,
        content_hash if isinstance(content_hash, str) else None,
    )


def _vector_of(raw: Any, name: str = "") -> Vector:
    if isinstance(raw, Mapping):  # named vectors: ours is the one named (the unnamed one is "")
        raw = raw.get(name, next(iter(raw.values()), None) if name == "" else None)
    if raw is None:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(raw, dtype=np.float32)


class QdrantCollection(StoreCollection):
    """One gemini-vectors collection in its Qdrant collection."""

    # The record id lives in the payload (the point id is its UUIDv5): Qdrant sets no length limit on it;
    # a record whose request would pass max_batch_bytes is refused by name in upsert instead.
    max_id_length = None
    # Qdrant's hnsw_ef per search request. Qdrant sets no upper limit of its own; a server in strict
    # mode may (search_max_hnsw_ef), and then it is this collection's max_ef_search.
    accepts_ef_search = True

    def __init__(
        self,
        store: QdrantStore,
        name: str,
        spec: EmbeddingSpec,
        qdrant_name: str,
        plan: CollectionPlan,
        *,
        max_ef_search: int | None = None,
        incarnation: str | None = None,
    ) -> None:
        super().__init__(name, spec)
        self._store = store
        #: The Qdrant collection this handle opened (``docs~~<incarnation>``; ``docs`` without one).
        self.qdrant_name = qdrant_name
        self.incarnation = incarnation
        self.stored_plan = plan
        self.max_ef_search = max_ef_search
        self._indexed: set[str] | None = None

    def __repr__(self) -> str:
        spec = self.spec.describe()
        return (
            f"QdrantCollection({self.name!r}, qdrant={self.qdrant_name!r}, {spec}, {self.plan}, "
            f"index={self.index})"
        )

    @property
    def plan(self) -> str:
        """The storage plan of the indexed vector (see :mod:`gemini_vectors_qdrant.storage`)."""
        return self.stored_plan.storage

    @property
    def index(self) -> IndexChoice:
        """The index layout: ``hnsw`` (one unnamed vector) or ``mrl:<d>`` (two-stage search)."""
        return self.stored_plan.index

    @property
    def ef_search(self) -> int | None:
        """The default ``hnsw_ef`` of this collection's searches, recorded with it; None: Qdrant's default.

        Qdrant's default is the collection's ``ef_construct`` (100 unless configured). qdrant-client's
        local mode searches exactly, so there it changes nothing.
        """
        return self.stored_plan.ef_search

    def set_ef_search(self, value: int) -> None:
        """Record a new default ``hnsw_ef`` in the collection's metadata (other stores see it on open).

        Raises:
            ArgumentError: not a positive integer, or above the server's strict-mode limit.
            CollectionNotFoundError: the collection was dropped.
            SpecMismatchError: it was recreated for another spec meanwhile.
        """
        value = check_ef_search(self, value, per_query=False)
        store = self._store
        recorded = store._check_recorded(self.name, self.qdrant_name, self.spec)
        # from the recorded plan, not ours: what another store recorded meanwhile is kept
        plan = dataclasses.replace(recorded, ef_search=value)
        self._call(
            "recording ef_search",
            store.client.update_collection,
            self.qdrant_name,
            metadata=_record_metadata(self.name, self.spec, plan, self.incarnation),
        )
        self.stored_plan = plan

    def _vector_name(self) -> str:
        """The name of the vector that holds the whole record vector ("": the unnamed one)."""
        return FULL_VECTOR if self.stored_plan.prefix_dimensions is not None else ""

    def _with_vectors(self, wanted: bool) -> Any:
        if wanted and self.stored_plan.prefix_dimensions is not None:
            return [FULL_VECTOR]  # the prefix is ours, not the user's
        return wanted

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return self._store._call(fn, *args, **kwargs)
        except Exception as exc:
            raise self._error(exc, what) from exc

    def _check_current(self) -> None:
        """Before a request of a handle on a collection made before incarnations: is it still that one?

        Its Qdrant name is the collection's name, which, once dropped and created again by this version,
        is the alias of another Qdrant collection (perhaps of another spec) that the request would reach.
        One more request (the lookup an open does); a handle on an incarnated collection needs none.
        """
        if self.incarnation is None:
            self._store._check_recorded(self.name, self.qdrant_name, self.spec)

    def _error(self, exc: BaseException, what: str) -> Exception:
        store = self._store
        if self.incarnation is not None and is_not_found(exc):
            # the Qdrant collection of this incarnation is gone; one under the name since is another
            return CollectionNotFoundError.dropped_since_opened(self.name)
        return collection_failure(
            exc, FAILURES, what=what, name=self.name, native=self.qdrant_name, url=store.url, said=store._said
        )

    # -- indexes -----------------------------------------------------------------------------

    def _ensure_indexes(self, flt: Filter | None) -> None:
        """Create the payload indexes a filter wants, once (local mode has no indexes to make)."""
        store = self._store
        if store.local or not store.index_filtered_keys or flt is None:
            return
        hints = index_hints(flt)
        if self._indexed is None:
            info = self._call("reading the payload indexes", store.client.get_collection, self.qdrant_name)
            self._indexed = set((info.payload_schema or {}).keys())
        from qdrant_client import models

        schema = {
            "keyword": models.PayloadSchemaType.KEYWORD,
            "bool": models.PayloadSchemaType.BOOL,
            "float": models.PayloadSchemaType.FLOAT,
        }
        for path, kind in hints.items():
            field = path.strip('"')
            if field in self._indexed or path in self._indexed:
                continue  # an index exists; a second one would replace it, not join it
            try:
                store._call(
                    store.client.create_payload_index,
                    self.qdrant_name,
                    field_name=path,
                    field_schema=schema[kind],
                    wait=False,
                )
            except Exception as exc:  # an index is an optimization: the filter works without it
                log.warning(
                    "creating a %s payload index on %s in %s failed: %s", kind, path, self.qdrant_name, exc
                )
            self._indexed.add(field)

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id; see :class:`~gemini_vectors.store.StoreCollection`."""
        if not records:
            return
        from qdrant_client import models

        store = self._store
        dims = self.spec.dimensions
        prefix = self.stored_plan.prefix_dimensions
        latest: dict[str, tuple[int, Any, int]] = {}
        for pos, r in enumerate(records):
            vec, meta = checked_record(self, pos, r)
            payload: dict[str, Any] = {**meta, ID_KEY: r.id, KEYS_KEY: sorted(meta)}
            if r.content_hash is not None:
                payload[HASH_KEY] = r.content_hash
            vector: Any = vec.tolist()
            if prefix is not None:
                # the prefix as given: the cosine distance normalizes it in Qdrant
                vector = {FULL_VECTOR: vector, PREFIX_VECTOR: vector[:prefix]}
            size = (
                len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
                + (dims + (prefix or 0)) * BYTES_PER_DIMENSION
                + 64
            )
            if size > store.max_batch_bytes:
                raise MetadataError(
                    f"record {pos} ({r.id[:40]!r}): its metadata and vector take about {size:,} bytes in a "
                    f"request, and a Qdrant request to {store.url} may carry {store.max_batch_bytes:,} "
                    "(max_batch_bytes; the server's default limit is 32 MB); store large text elsewhere "
                    "and keep a reference in the metadata"
                )
            latest.pop(r.id, None)  # the last occurrence of an id wins
            latest[r.id] = (
                pos,
                models.PointStruct(id=point_id(r.id), vector=vector, payload=payload),
                size,
            )
        # The recorded spec is read again before the first write: a collection dropped and recreated for
        # another spec meanwhile must not receive these vectors, nor one recreated with another layout
        # (its vectors are named differently).
        recorded_plan = store._check_recorded(self.name, self.qdrant_name, self.spec)
        if recorded_plan.index != self.stored_plan.index:
            raise StoreError(
                f"collection {self.name!r} ({self.qdrant_name}) was recreated with index="
                f"{str(recorded_plan.index)!r} since it was opened here with {str(self.index)!r}; open it "
                "again and repeat the upsert"
            )
        failures: dict[str, str] = {}
        for batch in batches_by_size(
            ((record_id, point, size) for record_id, (_, point, size) in latest.items()),
            max_items=store.batch_size,
            max_bytes=store.max_batch_bytes,
        ):
            failures.update(self._send(batch))
        if failures:
            raise WriteError(
                f"Qdrant did not store records of collection {self.name!r} ({self.qdrant_name}) "
                f"in {store.url}",
                failures,
            )

    def _send(self, batch: Sequence[tuple[str, Any]]) -> dict[str, str]:
        """Upsert one batch; returns the records not written, with the reason, bisecting a rejected batch."""
        store = self._store

        def send(part: Sequence[tuple[str, Any]]) -> None:
            store._call(store.client.upsert, self.qdrant_name, points=[p for _, p in part], wait=True)

        return write_isolating(
            batch, send, FAILURES, fatal=self._fatal, said=store._said, unit="points", where=self.qdrant_name
        )

    def _fatal(self, exc: BaseException) -> Exception | None:
        """The error that ends a whole write: the collection is gone (no record of it can be written)."""
        return self._error(exc, "upsert") if is_not_found(exc) else None

    # -- reading -----------------------------------------------------------------------------

    def query(
        self,
        vector: Vector,
        k: int,
        filter: Filter | None = None,
        *,
        include_vectors: bool = False,
        ef_search: int | None = None,
    ) -> list[Match]:
        """The ``k`` nearest records by cosine similarity that match ``filter``, best first.

        ``ef_search`` is Qdrant's ``hnsw_ef`` for this search (None: the collection's :attr:`ef_search`);
        with ``mrl:<d>`` it applies to the first stage, the one that walks the prefix's HNSW graph.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ArgumentError(f"k must be a positive integer, got {k!r}")
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        translated = translate(filter)
        if translated is False:
            return []
        self._check_current()
        self._ensure_indexes(filter)
        res = self._call(
            "query",
            self._store.client.query_points,
            self.qdrant_name,
            **self.query_arguments(
                q,
                k,
                as_filter(translated),
                include_vectors=include_vectors,
                ef_search=ef_search,
                exact_engine=self._store.local,
            ),
        )
        name = self._vector_name()
        out: list[Match] = []
        for point in res.points:
            record_id, meta, _ = _decode_payload(point.payload)
            vec = _vector_of(point.vector, name) if include_vectors else None
            out.append(
                Match(record_id if record_id is not None else str(point.id), float(point.score), meta, vec)
            )
        return out

    def query_arguments(
        self,
        q: Vector,
        k: int,
        qdrant_filter: Any,
        *,
        include_vectors: bool = False,
        ef_search: int | None = None,
        exact_engine: bool = False,
    ) -> dict[str, Any]:
        """The keyword arguments of the ``query_points`` request of one search (after the collection name).

        Args:
            qdrant_filter: The Qdrant ``Filter`` (or None); with ``mrl:<d>`` it is applied in both stages.
            ef_search: ``hnsw_ef`` for this search; None: the collection's default.
            exact_engine: The engine searches exactly (qdrant-client's local mode, which warns about
                search parameters it ignores): no ``hnsw_ef`` or rescoring is sent.
        """
        from qdrant_client import models

        plan = self.stored_plan
        ef = ef_search if ef_search is not None else plan.ef_search
        params = None if exact_engine else search_params(plan.storage, ef)
        common: dict[str, Any] = {
            "query_filter": qdrant_filter,
            "with_payload": True,
            "with_vectors": self._with_vectors(include_vectors),
        }
        prefix = plan.prefix_dimensions
        if prefix is None:
            return {"query": q.tolist(), "limit": k, "search_params": params, **common}
        values = q.tolist()
        return {
            # stage 1: the HNSW graph of the prefix, k * rerank_factor candidates that pass the filter
            "prefetch": models.Prefetch(
                query=values[:prefix],
                using=PREFIX_VECTOR,
                limit=k * plan.rerank_factor,
                filter=qdrant_filter,
                params=params,
            ),
            # stage 2: those candidates re-ranked on the full vector (no graph there: m=0)
            "query": values,
            "using": FULL_VECTOR,
            "limit": k,
            **common,
        }

    def _retrieve(self, ids: Sequence[str], *, with_vectors: bool, with_payload: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        name = self._vector_name()
        self._check_current()
        for chunk in chunks(list(ids), ID_CHUNK):
            points = self._call(
                "get",
                self._store.client.retrieve,
                self.qdrant_name,
                ids=[point_id(i) for i in chunk],
                with_payload=with_payload,
                with_vectors=self._with_vectors(with_vectors),
            )
            for point in points:
                record_id, meta, content_hash = _decode_payload(point.payload)
                if record_id is not None:
                    found[record_id] = (
                        meta,
                        content_hash,
                        _vector_of(point.vector, name) if with_vectors else None,
                    )
        return found

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found = self._retrieve(wanted, with_vectors=include_vectors, with_payload=True)
        empty = np.zeros(0, dtype=np.float32)
        return [
            Record(i, found[i][2] if include_vectors else empty, found[i][0], found[i][1])
            for i in wanted
            if i in found
        ]

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id, without reading vectors or other metadata."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = self._retrieve(wanted, with_vectors=False, with_payload=[ID_KEY, HASH_KEY])
        return {i: found[i][1] for i in wanted if i in found}

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both; unknown ids are ignored."""
        from qdrant_client import models

        client = self._store.client
        if ids or filter is not None:
            self._check_current()
        if ids:
            for chunk in chunks(list(dict.fromkeys(ids)), ID_CHUNK):
                selector = models.PointIdsList(points=[point_id(i) for i in chunk])
                self._call("delete", client.delete, self.qdrant_name, points_selector=selector, wait=True)
        if filter is not None:
            translated = translate(filter)
            if translated is False:
                return
            self._ensure_indexes(filter)
            flt = as_filter(translated)
            by_filter = models.FilterSelector(filter=flt if flt is not None else models.Filter())
            self._call("delete", client.delete, self.qdrant_name, points_selector=by_filter, wait=True)

    def clear(self) -> None:
        """Delete every record, keeping the collection, its spec and its indexes."""
        from qdrant_client import models

        selector = models.FilterSelector(filter=models.Filter())
        self._check_current()
        self._call("clear", self._store.client.delete, self.qdrant_name, points_selector=selector, wait=True)

    # -- the rest ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of records in the collection (an exact count)."""
        self._check_current()
        res = self._call("count", self._store.client.count, self.qdrant_name, exact=True)
        return int(res.count)

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id, fetched ``batch_size`` at a time with Qdrant's scroll (ordered by point id)."""
        offset: Any = None
        size = max(1, int(batch_size))
        self._check_current()
        while True:
            points, offset = self._call(
                "iteration",
                self._store.client.scroll,
                self.qdrant_name,
                limit=size,
                offset=offset,
                with_payload=[ID_KEY],
                with_vectors=False,
            )
            for point in points:
                record_id = (point.payload or {}).get(ID_KEY)
                yield record_id if isinstance(record_id, str) else str(point.id)
            if offset is None:
                return

    def drop(self) -> None:
        """Delete the Qdrant collection with its records and its spec (and its alias, with it).

        A handle whose collection was dropped since deletes nothing: it names its own Qdrant collection,
        never the one created since under the name.
        """
        self._check_current()
        # Qdrant deletes a collection's aliases with it (server and local mode)
        self._call("drop", self._store.client.delete_collection, self.qdrant_name)
        self._indexed = None


class QdrantStore(VectorStore):
    """A Qdrant server, a Qdrant Cloud cluster or qdrant-client's local mode as a gemini-vectors store.

    Args:
        client: A ``qdrant_client.QdrantClient``.
        url: The URL it was opened with (kept without secrets, for messages).
        owns_client: Close ``client`` in :meth:`close`.
        shared: The shared local-mode client this store uses (released in :meth:`close`), if any.
        collection_prefix: First part of the Qdrant name of every collection (``""``: none), so that
            stores with different prefixes on one server do not see each other's collections.
        storage: The storage plan for new collections: ``auto`` (planned from the spec) or one of
            ``float32``, ``float16``, ``scalar``, ``binary`` (see :mod:`gemini_vectors_qdrant.storage`).
        index: The index layout of new collections: ``hnsw`` or ``mrl:<d>`` (Matryoshka two-stage
            search: an HNSW index on the first ``d`` dimensions, candidates re-ranked on the full vector;
            a collection whose vectors are not longer than ``d`` is refused).
        ef_search: The default ``hnsw_ef`` of new collections, recorded with each (None: Qdrant's
            default, the collection's ``ef_construct``, 100 unless configured).
        rerank_factor: With ``mrl:<d>``, prefix candidates per result re-ranked on the full vector.
        batch_size: Points per upsert request.
        max_batch_bytes: Bytes per upsert request (keep under the server's ``max_request_size_mb``).
        max_retries: How often a call that failed transiently is repeated.
        retry_backoff: Seconds before the first retry; doubled for each further one (with jitter).
        index_filtered_keys: Create a payload index for a key the first time a filter names it.
        api_key: Only to keep it out of error messages (the client holds it).
    """

    name_length_unit = "characters once escaped for Qdrant"

    def __init__(
        self,
        client: Any,
        *,
        url: str = "",
        owns_client: bool = True,
        shared: SharedClient[Any] | None = None,
        local: bool = False,
        collection_prefix: str = "",
        storage: str = "auto",
        index: str | IndexChoice = "hnsw",
        ef_search: int | None = None,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_retries: int = 5,
        retry_backoff: float = 0.5,
        index_filtered_keys: bool = True,
        api_key: str | None = None,
    ) -> None:
        for label, value, low in (
            ("batch_size", batch_size, 1),
            ("max_batch_bytes", max_batch_bytes, 1024),
            ("max_retries", max_retries, 0),
            ("rerank_factor", rerank_factor, 1),
        ):
            check_integer_option(label, value, low=low)
        check_seconds_option("retry_backoff", retry_backoff)
        bad_ef = isinstance(ef_search, bool) or not isinstance(ef_search, int) or ef_search < 1
        if ef_search is not None and bad_ef:
            raise ConfigurationError(
                f"ef_search must be a positive integer (Qdrant's hnsw_ef), got {ef_search!r}; leave it "
                "unset for Qdrant's default"
            )
        plan_for(EmbeddingSpec.for_model("gemini-embedding-2", 768), storage)  # refuse a bad plan now
        self.index = parse_index(index, kinds=INDEX_KINDS)
        self.ef_search = ef_search
        self.rerank_factor = rerank_factor
        self.client = client
        self.url = url
        self._owns_client = owns_client
        self._shared = shared
        self.local = local or shared is not None
        self.collection_prefix = check_prefix(collection_prefix)
        self.storage = storage
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.index_filtered_keys = index_filtered_keys
        self._api_key = api_key
        self._lock: Any = shared.lock if shared is not None else contextlib.nullcontext()
        self._closed = False
        self.max_collection_name_length = MAX_QDRANT_NAME - len(self.collection_prefix)

    def __repr__(self) -> str:
        return f"QdrantStore({self.url!r}, collection_prefix={self.collection_prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _said(self, exc: BaseException) -> str:
        """An exception's message, without the API key (a client may echo request headers)."""
        return describe_failure(exc, secrets=[self._api_key])

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client, retrying transient failures with exponential backoff and full jitter."""
        if self._closed:
            raise StoreError(f"{self!r} is closed; connect again")

        def locked() -> T:
            # the lock is held per try, not while waiting: other stores of a shared client go on meanwhile
            with self._lock:
                return fn(*args, **kwargs)

        return call_with_retries(
            locked, FAILURES, retries=self.max_retries, backoff=self.retry_backoff, said=self._said
        )

    def qdrant_name(self, name: str) -> str:
        """The Qdrant collection that holds collection ``name`` in this store."""
        return self.collection_prefix + escape_name(name)

    def name_length(self, name: str) -> int:
        """The length of ``name`` once escaped for Qdrant (the prefix is accounted for in the limit)."""
        return len(escape_name(name))

    def _read(self, qdrant_name: str) -> Any | None:
        """The ``CollectionInfo`` of a Qdrant collection or alias, or None when there is none."""
        try:
            # one request, not collection_exists first: a legacy handle makes it before each request
            return self._call(self.client.get_collection, qdrant_name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise StoreError(
                f"reading Qdrant collection {qdrant_name} in {self.url} failed: {self._said(exc)}"
            ) from exc

    def _recorded(
        self, name: str
    ) -> tuple[EmbeddingSpec, CollectionPlan, int | None, str, str | None] | None:
        """What is recorded for ``name`` now, read through its alias, or None without a collection.

        ``(spec, plan, strict-mode hnsw_ef limit, the Qdrant collection, incarnation)``; the Qdrant
        collection is the one the name resolves to now (the name itself for one made before
        incarnations).
        """
        qdrant_name = self.qdrant_name(name)
        info = self._read(qdrant_name)
        if info is None:
            return None
        try:
            recorded = _parse_metadata(info.config.metadata)
        except ConfigurationError as exc:
            raise StoreError(f"Qdrant collection {qdrant_name} in {self.url}: {exc}") from None
        recorded = check_recorded_owner(recorded, name, engine="Qdrant", native=qdrant_name, url=self.url)
        incarnation = recorded[3]
        physical = physical_name(qdrant_name, incarnation)
        return recorded[1], recorded[2], _strict_ef_limit(info), physical, incarnation

    def _check_recorded(self, name: str, qdrant_name: str, spec: EmbeddingSpec) -> CollectionPlan:
        """The plan recorded for ``name``, after checking that the name still resolves to the Qdrant
        collection ``qdrant_name`` (a handle's), under ``spec``.

        Raises:
            CollectionNotFoundError: the collection is gone, or the name now holds another one
                (dropped and created again since the handle opened it).
            SpecMismatchError: it holds another spec now.
        """
        recorded = check_still_recorded(
            self._recorded(name), spec, name=name, engine="Qdrant", native=qdrant_name
        )
        if recorded[3] != qdrant_name:  # the same spec, but not the collection the handle opened
            raise CollectionNotFoundError.dropped_since_opened(name)
        return recorded[1]

    def _handle(
        self, name: str, recorded: tuple[EmbeddingSpec, CollectionPlan, int | None, str, str | None]
    ) -> QdrantCollection:
        spec, plan, max_ef, physical, incarnation = recorded
        return QdrantCollection(
            self, name, spec, physical, plan, max_ef_search=max_ef, incarnation=incarnation
        )

    # -- the VectorStore contract -------------------------------------------------------------

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded in the metadata of ``name``'s Qdrant collection, or None when there is none.

        Raises:
            StoreError: the Qdrant collection exists but gemini-vectors did not make it for this name.
        """
        recorded = self._recorded(name)
        return recorded[0] if recorded is not None else None

    def _plan_for(self, spec: EmbeddingSpec) -> CollectionPlan:
        """The plan of a new collection for ``spec`` under this store's options.

        Raises:
            ConfigurationError: ``index='mrl:<d>'`` with ``d`` not shorter than the spec's vectors.
        """
        self.index.check_dimensions(spec.dimensions)
        prefix = self.index.prefix_dimensions if self.index.kind == "mrl" else None
        return CollectionPlan(
            plan_for(spec, self.storage, indexed_dimensions=prefix),
            self.index,
            self.ef_search,
            self.rerank_factor,
        )

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """Create a Qdrant collection of its own for this creation of ``name``, with the spec and plan
        in its metadata, and point the alias ``name`` at it.

        Raises:
            ConfigurationError: the store's ``index='mrl:<d>'`` does not fit ``spec`` (before anything
                is created).
        """
        from qdrant_client import models

        qdrant_name = self.qdrant_name(name)
        plan = self._plan_for(spec)
        # A name too long for the incarnation's 14 characters is created as before incarnations (its
        # handles check the name before each request instead).
        fits = len(qdrant_name) + len(INCARNATION_SEPARATOR) + INCARNATION_HEX_DIGITS <= MAX_QDRANT_NAME
        incarnation = new_incarnation() if fits else None
        physical = physical_name(qdrant_name, incarnation)
        taken = True  # the name: False when another store's creation holds it already
        try:
            self._call(
                self.client.create_collection,
                physical,
                vectors_config=vectors_config(spec, plan),
                quantization_config=collection_quantization_config(plan),
                metadata=_record_metadata(name, spec, plan, incarnation),
            )
            if incarnation is not None:
                # Qdrant (local mode, and servers: qdrant/qdrant#7584) moves an existing alias instead of
                # refusing it, so a creation that aliased the name second would take it from one that
                # already wrote through it. The name is taken only while it is free; in local mode the
                # one client of this path serializes the look and the take, so the first creator keeps
                # it. A server leaves a window of one request between the two.
                with _alias_lock(self.client):
                    taken = self._recorded(name) is None
                    if taken:
                        # Fails when the name is a collection (made meanwhile by a version before
                        # incarnations).
                        self._call(
                            self.client.update_collection_aliases,
                            change_aliases_operations=[
                                models.CreateAliasOperation(
                                    create_alias=models.CreateAlias(
                                        collection_name=physical, alias_name=qdrant_name
                                    )
                                )
                            ],
                        )
        except Exception as exc:
            if "already exists" not in str(exc).lower():
                self._discard(physical, incarnation)
                raise StoreError(
                    f"creating collection {name!r} ({physical}) in {self.url} failed: {self._said(exc)}"
                ) from exc
            self._discard(physical, incarnation)
            return self._created_meanwhile(name, spec, exc)
        if not taken:
            # outside the try: its SpecMismatchError is the answer, not a failure to create
            self._discard(physical, incarnation)
            return self._created_meanwhile(name, spec, None)
        created = self._recorded(name)
        if created is None and self._read(physical) is not None:  # pragma: no cover - an old server
            self._call(self.client.delete_collection, physical)
            raise StoreError(
                f"the Qdrant server at {self.url} does not keep collection metadata, where gemini-vectors "
                "records the embedding spec; upgrade it to Qdrant 1.16 or later"
            )
        if created is None or created[3] != physical:
            # Another store created the name at the same time and its alias won: ours is nobody's.
            self._discard(physical, incarnation)
            return self._created_meanwhile(name, spec, None)
        if not self.local:
            try:  # $exists looks keys up here: index it from the start
                self._call(
                    self.client.create_payload_index,
                    physical,
                    field_name=KEYS_KEY,
                    field_schema=models.PayloadSchemaType.KEYWORD,
                    wait=False,
                )
            except Exception as exc:
                log.warning("creating the payload index of %s on %s failed: %s", KEYS_KEY, physical, exc)
        return self._handle(name, created)

    def _discard(self, physical: str, incarnation: str | None) -> None:
        """Delete the Qdrant collection of a creation that lost (only an incarnation's: never a name)."""
        if incarnation is None:
            return
        try:
            self._call(self.client.delete_collection, physical)
        except Exception as exc:  # an empty collection left behind; it is never listed or opened
            log.warning("deleting the unused Qdrant collection %s failed: %s", physical, self._said(exc))

    def _created_meanwhile(
        self, name: str, spec: EmbeddingSpec, exc: BaseException | None
    ) -> QdrantCollection:
        """A handle on the collection ``name`` another store created while this one tried to."""
        recorded = self._recorded(name)
        if recorded is None:
            said = f": {self._said(exc)}" if exc is not None else ""
            raise StoreError(
                f"creating collection {name!r} ({self.qdrant_name(name)}) in {self.url} failed{said}; "
                "it was created and dropped meanwhile, open it again"
            ) from exc
        if recorded[0] != spec:
            raise SpecMismatchError(name, recorded[0], spec) from None
        return self._handle(name, recorded)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """A handle on the existing collection ``name`` (its spec already checked), with its recorded plan.

        The recorded plan wins over this store's options: a collection keeps the layout it was made with.
        The handle addresses the Qdrant collection the name resolves to now, not the name.
        """
        recorded = self._recorded(name)
        if recorded is None:
            # dropped since open_collection read its spec: a handle on nothing, whose requests fail
            return QdrantCollection(
                self, name, spec, self.qdrant_name(name), self._plan_for(spec), incarnation=None
            )
        if recorded[0] != spec:
            # dropped and created again for another spec since open_collection read it: a handle on
            # the new collection would serve it under the spec the caller asked for
            raise SpecMismatchError(name, recorded[0], spec)
        return self._handle(name, recorded)

    def list_collections(self) -> list[str]:
        """The names of this store's gemini-vectors collections."""
        try:
            listed = self._call(self.client.get_collections).collections
            # which incarnation each name resolves to: another is left over from a creation that lost
            aliases = {a.alias_name: a.collection_name for a in self._call(self.client.get_aliases).aliases}
        except Exception as exc:
            raise StoreError(f"listing the collections of {self.url} failed: {self._said(exc)}") from exc

        def current(recorded_name: str, incarnation: str | None, qdrant_name: str) -> bool:
            alias = self.qdrant_name(recorded_name)
            if physical_name(alias, incarnation) != qdrant_name:
                return False  # another name's collection (two names escaping alike), or not ours
            return incarnation is None or aliases.get(alias) == qdrant_name

        names = []
        for description in listed:
            qdrant_name = description.name
            if not qdrant_name.startswith(self.collection_prefix):
                continue
            info = self._read(qdrant_name)
            try:
                recorded = _parse_metadata(info.config.metadata) if info is not None else None
            except ConfigurationError as exc:  # ours, from a newer version: listed, opening it says why
                log.warning("Qdrant collection %s: %s", qdrant_name, exc)
                entry = info.config.metadata[METADATA_KEY] if info is not None else {}
                recorded_name = str(entry.get("name", ""))
                if recorded_name and current(recorded_name, _incarnation_of(entry), qdrant_name):
                    names.append(recorded_name)
                continue
            if recorded is not None and current(recorded[0], recorded[3], qdrant_name):
                names.append(recorded[0])
        return sorted(names)

    def close(self) -> None:
        """Close the client if this store opened it (a shared local client closes with its last store)."""
        if self._closed:
            return
        self._closed = True
        if self._shared is not None:
            from .connection import release_local

            release_local(self._shared)
        elif self._owns_client:
            self.client.close()


STORE_OPTIONS = (
    "collection_prefix",
    "storage",
    "index",
    "ef_search",
    "rerank_factor",
    "batch_size",
    "max_batch_bytes",
    "max_retries",
    "retry_backoff",
    "index_filtered_keys",
)


def connect_qdrant(url: str, /, **options: Any) -> QdrantStore:
    """The factory behind ``qdrant://``, ``qdrants://``, ``qdrant+local://`` and ``qdrant+memory://``.

    Options:
        client: An existing ``qdrant_client.QdrantClient`` to use (not closed by the store).
        api_key: The API key (default: ``QDRANT_API_KEY`` for ``qdrants://``).
        timeout: Seconds per request to a server.
        collection_prefix, storage, index, ef_search, rerank_factor, batch_size, max_batch_bytes,
        max_retries, retry_backoff, index_filtered_keys: See :class:`QdrantStore`; also accepted as
        query parameters of the URL (a keyword wins over the URL).

    Raises:
        ConfigurationError: a bad URL or option.
        StoreError: the server could not be reached.
    """
    from .connection import acquire_local, api_key_for, open_server_client, parse_url, split_store_options

    refuse_unknown(options, {"client", "api_key", "timeout", *STORE_OPTIONS})
    url, url_options = split_store_options(url)
    endpoint = parse_url(url)
    store_options = {**url_options, **{k: options[k] for k in STORE_OPTIONS if k in options}}
    client = options.get("client")
    if client is not None:
        return QdrantStore(
            client, url=endpoint.safe_url, owns_client=False, local=endpoint.local, **store_options
        )
    if endpoint.local:
        if "api_key" in options or "timeout" in options:
            raise ConfigurationError(f"{endpoint.scheme}:// runs in process: it takes no api_key or timeout")
        shared = acquire_local(endpoint)
        try:
            return QdrantStore(shared.client, url=endpoint.safe_url, shared=shared, **store_options)
        except Exception:
            from .connection import release_local

            release_local(shared)
            raise
    api_key = api_key_for(endpoint, options.get("api_key"))
    try:
        client = open_server_client(endpoint, api_key=api_key, timeout=options.get("timeout"))
    except Exception as exc:
        said = redact_text(str(exc), secrets=[api_key])
        raise StoreError(f"could not connect to Qdrant at {endpoint.safe_url}: {said}") from exc
    return QdrantStore(client, url=endpoint.safe_url, api_key=api_key, **store_options)
