"""``MilvusStore``: gemini-vectors collections as Milvus collections, on pymilvus's ``MilvusClient``.

Layout of one collection (see :mod:`.naming` for the names and :mod:`.filters` for the filter index):

* one Milvus collection per creation of a gemini-vectors collection (``docs_x<incarnation>``), under a
  Milvus alias of the collection's name (``docs``) through which every lookup by name goes; a handle
  addresses the Milvus collection it opened, so once that is dropped its requests fail by themselves
  (:meth:`~gemini_vectors.errors.CollectionNotFoundError.dropped_since_opened`), even after the name
  was created again for another spec, at no extra request per query. A collection made before
  incarnations (its Milvus name is its name) is checked again before each request instead;
* a fixed schema: ``id`` (VARCHAR primary key,
  its ``max_length`` the id limit the store declares), ``vector`` (``FLOAT16_VECTOR`` for 3,072
  dimensions on a server, ``FLOAT_VECTOR`` otherwise: Milvus Lite has no float16 vectors), ``metadata``
  (JSON: the user's metadata as given), ``content_hash`` (nullable VARCHAR) and ``gv_filter`` (JSON: the
  filter index), with a cosine AUTOINDEX on the vector and Strong consistency (a read sees every write);
* the embedding spec, the user's collection name and the vector type live in the collection's
  **properties** (``gemini_vectors.*``), set in the request that creates the collection, so there is no
  moment when the collection exists without its spec. They are read back and compared on every open and
  again before every write (:class:`~gemini_vectors.errors.SpecMismatchError` before anything is sent).

pymilvus ships no type information (no py.typed): its imports carry ``type: ignore[import-untyped]``.

Writes go in batches of at most ``batch_size`` rows and ``max_batch_bytes`` (Milvus refuses an insert or
upsert request over 64 MB: ``proxy.maxInsertSize`` / the gRPC message limit). A record whose metadata
passes Milvus's 65,536-byte JSON field limit is refused by name before anything is sent. Transient
failures (rate limits, an unavailable or overloaded server, a dropped connection) are retried with
backoff; a batch the server rejects is split in halves until the records it rejects are found, and those
raise one :class:`~gemini_vectors.errors.WriteError` naming them, after everything else was written.
"""

from __future__ import annotations

import functools
import logging
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
from gemini_vectors.redaction import redact_text
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Match, Record, StoreCollection, Vector, VectorStore, as_vector

from .filters import as_json, filter_index, translate
from .naming import (
    FILTER_FIELD,
    HASH_FIELD,
    ID_FIELD,
    INCARNATION_HEX_DIGITS,
    INCARNATION_SEPARATOR,
    MAX_MILVUS_NAME,
    METADATA_FIELD,
    VECTOR_FIELD,
    check_prefix,
    escape_name,
    new_incarnation,
    physical_name,
    quote,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

PROPERTY_PREFIX = "gemini_vectors."
SPEC_PROPERTY = PROPERTY_PREFIX + "spec"
NAME_PROPERTY = PROPERTY_PREFIX + "name"
VECTOR_TYPE_PROPERTY = PROPERTY_PREFIX + "vector_type"
FORMAT_PROPERTY = PROPERTY_PREFIX + "format"
METADATA_FORMAT = "1"

#: The longest VARCHAR Milvus stores (bytes of UTF-8): the default id limit.
MAX_VARCHAR = 65_535
#: Milvus's limit on one JSON field value (bytes).
MAX_JSON_BYTES = 65_536
#: Milvus's limit on a search's topK.
MAX_TOP_K = 16_384
#: Rows per upsert request (pymilvus's bulk examples; Milvus sets no row limit below the byte limit).
DEFAULT_BATCH_SIZE = 1000
#: Bytes per upsert request: a quarter of Milvus's 64 MB insert limit, leaving room for protobuf framing.
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Ids per get or delete expression, and bytes of expression.
ID_CHUNK = 1000
ID_CHUNK_BYTES = 256 * 1024
#: Dimensions from which a server stores float16 vectors (the issue's rule: 3,072-dim specs).
FLOAT16_FROM_DIMENSIONS = 3072
VECTOR_TYPES = ("auto", "float32", "float16")
#: Milvus error codes worth retrying: rate limited, force-denied by a quota, the service not ready.
TRANSIENT_CODES = frozenset({8, 9, 2, 3})
COLLECTION_NOT_FOUND = 100


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call is worth repeating as it is (rate limit, overload, a dropped connection)."""
    from pymilvus.exceptions import MilvusException, MilvusUnavailableException  # type: ignore[import-untyped]

    if isinstance(exc, MilvusUnavailableException):
        return True
    if isinstance(exc, MilvusException):
        return bool(getattr(exc, "retriable", False)) or exc.code in TRANSIENT_CODES
    return grpc_code(exc) in TRANSIENT_GRPC_CODES


def is_not_found(exc: BaseException) -> bool:
    """Whether a failed call says the collection does not exist."""
    from pymilvus.exceptions import MilvusException

    if isinstance(exc, MilvusException) and exc.code == COLLECTION_NOT_FOUND:
        return True
    text = str(exc).lower()
    return "collection" in text and ("not exist" in text or "not found" in text)


#: What a failure of the Milvus client means, for the kit's retries, bisection and errors.
FAILURES = ClientFailures("Milvus", log, is_transient=is_transient, is_not_found=is_not_found)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """Ids in chunks of at most ID_CHUNK, and about ID_CHUNK_BYTES of expression."""
    start = 0
    while start < len(items):
        end, size = start, 0
        while end < len(items) and end - start < ID_CHUNK and (size < ID_CHUNK_BYTES or end == start):
            size += len(items[end].encode("utf-8", "surrogatepass")) + 4
            end += 1
        yield items[start:end]
        start = end


def _ids_expression(ids: Sequence[str]) -> str:
    return f"{ID_FIELD} in [{', '.join(quote(i) for i in ids)}]"


def _decode_metadata(raw: Any) -> dict[str, MetadataValue]:
    meta: dict[str, MetadataValue] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        meta[key] = [str(v) for v in value] if isinstance(value, list) else value
    return meta


def _vector_of(raw: Any) -> Vector:
    if raw is None:
        return np.zeros(0, dtype=np.float32)
    if isinstance(raw, bytes | bytearray):  # a float16 vector read back raw
        return np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], bytes | bytearray):
        return np.frombuffer(raw[0], dtype=np.float16).astype(np.float32)
    return np.asarray(raw, dtype=np.float32)


class MilvusCollection(StoreCollection):
    """One gemini-vectors collection in its Milvus collection."""

    id_length_unit = "bytes of UTF-8"

    def __init__(
        self,
        store: MilvusStore,
        name: str,
        spec: EmbeddingSpec,
        milvus_name: str,
        vector_type: str,
        max_id_length: int,
    ) -> None:
        super().__init__(name, spec)
        self._store = store
        #: The Milvus collection this handle opened (``docs_x<incarnation>``; ``docs`` without one).
        self.milvus_name = milvus_name
        #: Whether it is an incarnation behind an alias (else a collection made before incarnations).
        self.incarnated = milvus_name != store.milvus_name(name)
        self.vector_type = vector_type
        # the id field's declared max_length, read from the schema: the engine's own limit on ids
        self.max_id_length = max_id_length

    def __repr__(self) -> str:
        return (
            f"MilvusCollection({self.name!r}, milvus={self.milvus_name!r}, {self.spec.describe()}, "
            f"{self.vector_type})"
        )

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return self._store._call(fn, *args, **kwargs)
        except Exception as exc:
            raise self._error(exc, what) from exc

    def _check_current(self) -> None:
        """Before a request of a handle on a collection made before incarnations: is it still that one?

        Its Milvus name is the collection's name, which, once dropped and created again by this version,
        is the alias of another Milvus collection (perhaps of another spec) that the request would reach
        (Milvus resolves an alias in searches, reads, deletes and even drop_collection). One more
        request (the describe an open does); a handle on an incarnated collection needs none.
        """
        if not self.incarnated:
            self._store._check_recorded(self.name, self.milvus_name, self.spec, exists=True)

    def _error(self, exc: BaseException, what: str) -> Exception:
        store = self._store
        if self.incarnated and is_not_found(exc):
            # the Milvus collection of this incarnation is gone; one under the name since is another
            return CollectionNotFoundError.dropped_since_opened(self.name)
        return collection_failure(
            exc, FAILURES, what=what, name=self.name, native=self.milvus_name, url=store.url, said=store._said
        )

    # -- writing -----------------------------------------------------------------------------

    def _row(self, pos: int, r: Record) -> tuple[dict[str, Any], int]:
        """The Milvus row of one record and its size in a request, refusing what Milvus would refuse."""
        vec, meta = checked_record(self, pos, r)
        dims = self.spec.dimensions
        index = filter_index(meta)
        json_bytes = 0
        for label, value in (("metadata", meta), ("filter index", index)):
            size = len(as_json(value).encode("utf-8", "surrogatepass"))
            if size > MAX_JSON_BYTES:
                raise MetadataError(
                    f"record {pos} ({r.id[:40]!r}): its {label} takes {size:,} bytes of JSON, and a Milvus "
                    f"JSON field holds at most {MAX_JSON_BYTES:,}; store large text elsewhere and keep a "
                    "reference in the metadata"
                )
            json_bytes += size
        if r.content_hash is not None and len(r.content_hash.encode("utf-8")) > MAX_VARCHAR:
            raise MetadataError(
                f"record {pos} ({r.id[:40]!r}): its content hash is longer than {MAX_VARCHAR:,} bytes"
            )
        vector: Any = vec.astype(np.float16) if self.vector_type == "float16" else vec.tolist()
        row = {
            ID_FIELD: r.id,
            VECTOR_FIELD: vector,
            METADATA_FIELD: meta,
            HASH_FIELD: r.content_hash,
            FILTER_FIELD: index,
        }
        size = (
            len(r.id.encode("utf-8", "surrogatepass"))
            + dims * (2 if self.vector_type == "float16" else 4)
            + json_bytes
            + len((r.content_hash or "").encode("utf-8"))
            + 64
        )
        return row, size

    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id; see :class:`~gemini_vectors.store.StoreCollection`."""
        if not records:
            return
        store = self._store
        latest: dict[str, tuple[dict[str, Any], int]] = {}
        for pos, r in enumerate(records):
            row, size = self._row(pos, r)
            if size > store.max_batch_bytes:
                raise MetadataError(
                    f"record {pos} ({r.id[:40]!r}): it takes about {size:,} bytes in a request, and a "
                    f"Milvus request to {store.url} may carry {store.max_batch_bytes:,} (max_batch_bytes); "
                    "store large text elsewhere and keep a reference in the metadata"
                )
            latest.pop(r.id, None)  # the last occurrence of an id wins (Milvus refuses duplicates)
            latest[r.id] = (row, size)
        # The recorded spec is read again before the first write: a collection dropped and recreated for
        # another spec meanwhile must not receive these vectors.
        store._check_recorded(self.name, self.milvus_name, self.spec)
        failures: dict[str, str] = {}
        for batch in batches_by_size(
            ((record_id, row, size) for record_id, (row, size) in latest.items()),
            max_items=store.batch_size,
            max_bytes=store.max_batch_bytes,
        ):
            failures.update(self._send(batch))
        if failures:
            raise WriteError(
                f"Milvus did not store records of collection {self.name!r} ({self.milvus_name}) "
                f"in {store.url}",
                failures,
            )

    def _send(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """Upsert one batch; returns the records not written, with the reason, bisecting a rejected batch."""
        store = self._store

        def send(part: Sequence[tuple[str, dict[str, Any]]]) -> str | None:
            result = store._call(store.client.upsert, self.milvus_name, data=[row for _, row in part])
            written = int((result or {}).get("upsert_count", len(part)))
            return None if written == len(part) else f"Milvus reported {written} of {len(part)} rows written"

        return write_isolating(
            batch, send, FAILURES, fatal=self._fatal, said=store._said, unit="rows", where=self.milvus_name
        )

    def _fatal(self, exc: BaseException) -> Exception | None:
        """The error that ends a whole write: the collection is gone (no record of it can be written)."""
        return self._error(exc, "upsert") if is_not_found(exc) else None

    # -- reading -----------------------------------------------------------------------------

    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        """The ``k`` nearest records by cosine similarity that match ``filter``, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ArgumentError(f"k must be a positive integer, got {k!r}")
        if k > MAX_TOP_K:
            raise ArgumentError(
                f"k is {k:,}, and a Milvus search returns at most {MAX_TOP_K:,} results; ask for fewer "
                "(iterate the collection with iter_ids() to read everything)"
            )
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        expr = translate(filter)
        if expr is False:
            return []
        data: Any = q.astype(np.float16) if self.vector_type == "float16" else q.tolist()
        self._check_current()
        fields = [ID_FIELD, METADATA_FIELD] + ([VECTOR_FIELD] if include_vectors else [])
        res = self._call(
            "search",
            self._store.client.search,
            self.milvus_name,
            data=[data],
            limit=k,
            filter="" if expr is True else expr,
            output_fields=fields,
            anns_field=VECTOR_FIELD,
            search_params={"metric_type": "COSINE", "params": {}},
        )
        out: list[Match] = []
        for hit in res[0] if res else []:
            entity = hit.get("entity", {}) if isinstance(hit, Mapping) else {}
            record_id = entity.get(ID_FIELD, hit.get("id"))
            vec = _vector_of(entity.get(VECTOR_FIELD)) if include_vectors else None
            meta = _decode_metadata(entity.get(METADATA_FIELD))
            out.append(Match(str(record_id), float(hit["distance"]), meta, vec))
        return out

    def _fetch(self, ids: Sequence[str], fields: list[str]) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        self._check_current()
        for chunk in _chunks(list(ids)):
            rows = self._call(
                "get",
                self._store.client.query,
                self.milvus_name,
                filter=_ids_expression(chunk),
                output_fields=fields,
                limit=len(chunk),
            )
            for row in rows:
                found[str(row[ID_FIELD])] = row
        return found

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        fields = [ID_FIELD, METADATA_FIELD, HASH_FIELD] + ([VECTOR_FIELD] if include_vectors else [])
        found = self._fetch(wanted, fields)
        empty = np.zeros(0, dtype=np.float32)
        out = []
        for i in wanted:
            row = found.get(i)
            if row is None:
                continue
            vec = _vector_of(row.get(VECTOR_FIELD)) if include_vectors else empty
            content_hash = row.get(HASH_FIELD)
            out.append(
                Record(
                    i,
                    vec,
                    _decode_metadata(row.get(METADATA_FIELD)),
                    content_hash if isinstance(content_hash, str) else None,
                )
            )
        return out

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id, without reading vectors or metadata."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = self._fetch(wanted, [ID_FIELD, HASH_FIELD])
        out: dict[str, str | None] = {}
        for i in wanted:
            if i in found:
                value = found[i].get(HASH_FIELD)
                out[i] = value if isinstance(value, str) else None
        return out

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both; unknown ids are ignored."""
        client = self._store.client
        if ids or filter is not None:
            self._check_current()
        if ids:
            for chunk in _chunks(list(dict.fromkeys(ids))):
                self._call("delete", client.delete, self.milvus_name, filter=_ids_expression(chunk))
        if filter is not None:
            expr = translate(filter)
            if expr is False:
                return
            if expr is True:
                self.clear()
                return
            self._call("delete", client.delete, self.milvus_name, filter=expr)

    # -- the rest ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of records in the collection (``count(*)``, under Strong consistency)."""
        self._check_current()
        rows = self._call("count", self._store.client.query, self.milvus_name, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id, fetched ``batch_size`` at a time with Milvus's query iterator."""
        size = min(max(1, int(batch_size)), MAX_TOP_K)
        self._check_current()
        iterator = self._call(
            "iteration",
            self._store.client.query_iterator,
            self.milvus_name,
            batch_size=size,
            filter="",
            output_fields=[ID_FIELD],
        )
        try:
            while True:
                rows = self._call("iteration", iterator.next)
                if not rows:
                    return
                for row in rows:
                    yield str(row[ID_FIELD])
        finally:
            iterator.close()

    def drop(self) -> None:
        """Delete the Milvus collection with its records, its spec and its alias.

        A handle whose collection was dropped since deletes nothing: it names its own Milvus collection,
        never the one created since under the name.
        """
        client = self._store.client
        self._check_current()
        if self.incarnated:
            # A server refuses to drop a collection that has aliases: this incarnation's go first (asked
            # of it, so never the name's alias once the name holds another incarnation).
            for alias in self._store._aliases_of(self.milvus_name):
                # Only while the alias still names this incarnation: a drop and a creation by another
                # process between the listing and here moved it to the new one (Milvus has no
                # conditional drop of an alias, so one request of window is left).
                if self._store._alias_target(alias) == self.milvus_name:
                    self._call("drop", client.drop_alias, alias)
        self._call("drop", client.drop_collection, self.milvus_name)


class MilvusStore(VectorStore):
    """A Milvus server, a Zilliz Cloud cluster or Milvus Lite as a gemini-vectors store.

    Args:
        client: A ``pymilvus.MilvusClient``.
        url: The URL it was opened with (kept without secrets, for messages).
        owns_client: Close ``client`` in :meth:`close`.
        shared: The shared Milvus Lite client this store uses (released in :meth:`close`), if any.
        lite: Whether the engine is Milvus Lite (which has no float16 vectors).
        collection_prefix: First part of the Milvus name of every collection (``""``: none), so that
            stores with different prefixes on one server do not see each other's collections.
        vector_type: ``auto`` (float16 for 3,072 dimensions on a server, else float32), ``float32`` or
            ``float16`` (a server only) for new collections.
        max_id_length: The ``max_length`` of the id field of new collections (bytes, at most 65,535).
        batch_size: Rows per upsert request.
        max_batch_bytes: Bytes per upsert request (keep under Milvus's 64 MB insert limit).
        max_retries: How often a call that failed transiently is repeated.
        retry_backoff: Seconds before the first retry; doubled for each further one (with jitter).
        token: Only to keep it out of error messages (the client holds it).
    """

    name_length_unit = "characters once escaped for Milvus"

    def __init__(
        self,
        client: Any,
        *,
        url: str = "",
        owns_client: bool = True,
        shared: SharedClient[Any] | None = None,
        lite: bool = False,
        collection_prefix: str = "",
        vector_type: str = "auto",
        max_id_length: int = MAX_VARCHAR,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_retries: int = 5,
        retry_backoff: float = 0.5,
        token: str | None = None,
    ) -> None:
        for label, value, low, high in (
            ("batch_size", batch_size, 1, None),
            ("max_batch_bytes", max_batch_bytes, 1024, 64 * 1024 * 1024),
            ("max_retries", max_retries, 0, None),
            ("max_id_length", max_id_length, 1, MAX_VARCHAR),
        ):
            check_integer_option(label, value, low=low, high=high)
        check_seconds_option("retry_backoff", retry_backoff)
        self.lite = lite or shared is not None
        if vector_type not in VECTOR_TYPES:
            raise ConfigurationError(
                f"vector_type must be one of {', '.join(VECTOR_TYPES)}, not {vector_type!r}"
            )
        if vector_type == "float16" and self.lite:
            raise ConfigurationError(
                "Milvus Lite has no FLOAT16_VECTOR type; use vector_type='auto' or 'float32' with "
                "milvus+lite://, or a Milvus server for float16 vectors"
            )
        self.client = client
        self.url = url
        self._owns_client = owns_client
        self._shared = shared
        self.collection_prefix = check_prefix(collection_prefix)
        self.vector_type = vector_type
        self.max_id_length = max_id_length
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self._token = token
        self._closed = False
        self.max_collection_name_length = MAX_MILVUS_NAME - len(self.collection_prefix)

    def __repr__(self) -> str:
        return f"MilvusStore({self.url!r}, collection_prefix={self.collection_prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _said(self, exc: BaseException) -> str:
        """An exception's message, without the token (a client may echo its connection details)."""
        return describe_failure(exc, secrets=[self._token])

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client, retrying transient failures with exponential backoff and full jitter."""
        if self._closed:
            raise StoreError(f"{self!r} is closed; connect again")
        return call_with_retries(
            functools.partial(fn, *args, **kwargs),
            FAILURES,
            retries=self.max_retries,
            backoff=self.retry_backoff,
            said=self._said,
        )

    def milvus_name(self, name: str) -> str:
        """The Milvus collection that holds collection ``name`` in this store."""
        return self.collection_prefix + escape_name(name)

    def name_length(self, name: str) -> int:
        """The length of ``name`` once escaped for Milvus (the prefix is accounted for in the limit)."""
        return len(escape_name(name))

    def vector_type_for(self, spec: EmbeddingSpec) -> str:
        """The vector type of a new collection for ``spec``."""
        if self.vector_type != "auto":
            return self.vector_type
        return "float16" if spec.dimensions >= FLOAT16_FROM_DIMENSIONS and not self.lite else "float32"

    def _describe(self, milvus_name: str, *, exists: bool = False) -> Mapping[str, Any] | None:
        """``describe_collection`` of a Milvus collection or alias, or None when there is none.

        ``exists``: it is expected to (a legacy handle's check before a request): one request, not
        ``has_collection`` first (pymilvus logs an ERROR for a describe of a missing collection).
        """
        try:
            if not exists and not self._call(self.client.has_collection, milvus_name):
                return None
            described: Mapping[str, Any] = self._call(self.client.describe_collection, milvus_name)
            return described
        except Exception as exc:
            if is_not_found(exc):
                return None  # dropped between the two calls
            raise StoreError(
                f"reading Milvus collection {milvus_name} in {self.url} failed: {self._said(exc)}"
            ) from exc

    @staticmethod
    def _parse(described: Mapping[str, Any]) -> tuple[str, EmbeddingSpec, str, int] | None:
        """``(name, spec, vector type, id max_length)`` of a collection gemini-vectors made, else None."""
        props = described.get("properties") or {}
        if SPEC_PROPERTY not in props or NAME_PROPERTY not in props:
            return None
        try:
            spec = EmbeddingSpec.from_json(str(props[SPEC_PROPERTY]))
        except ConfigurationError:
            return None
        id_length = MAX_VARCHAR
        for field in described.get("fields") or []:
            if field.get("name") == ID_FIELD:
                id_length = int((field.get("params") or {}).get("max_length", MAX_VARCHAR))
        return str(props[NAME_PROPERTY]), spec, str(props.get(VECTOR_TYPE_PROPERTY, "float32")), id_length

    def _recorded(self, name: str, *, exists: bool = False) -> tuple[EmbeddingSpec, str, int, str] | None:
        """``(spec, vector type, id max_length, the Milvus collection)`` recorded for ``name`` now, read
        through its alias (the collection is the one the name resolves to), or None without one."""
        milvus_name = self.milvus_name(name)
        described = self._describe(milvus_name, exists=exists)
        if described is None:
            return None
        recorded = check_recorded_owner(
            self._parse(described),
            name,
            engine="Milvus",
            native=milvus_name,
            url=self.url,
            holder="its properties carry",
        )
        physical = str(described.get("collection_name") or milvus_name)
        return recorded[1], recorded[2], recorded[3], physical

    def _check_recorded(
        self, name: str, milvus_name: str, spec: EmbeddingSpec, *, exists: bool = False
    ) -> None:
        """Check that ``name`` still resolves to the Milvus collection ``milvus_name`` (a handle's),
        under ``spec``.

        Raises:
            CollectionNotFoundError: the collection is gone, or the name now holds another one
                (dropped and created again since the handle opened it).
            SpecMismatchError: it holds another spec now.
        """
        recorded = check_still_recorded(
            self._recorded(name, exists=exists), spec, name=name, engine="Milvus", native=milvus_name
        )
        if recorded[3] != milvus_name:  # the same spec, but not the collection the handle opened
            raise CollectionNotFoundError.dropped_since_opened(name)

    def _schema(self, spec: EmbeddingSpec, vector_type: str) -> tuple[Any, Any]:
        from pymilvus import DataType  # type: ignore[import-untyped]

        schema = self.client.create_schema(
            auto_id=False, enable_dynamic_field=False, description=f"gemini-vectors: {spec.describe()}"
        )
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=self.max_id_length)
        schema.add_field(
            VECTOR_FIELD,
            DataType.FLOAT16_VECTOR if vector_type == "float16" else DataType.FLOAT_VECTOR,
            dim=spec.dimensions,
        )
        schema.add_field(METADATA_FIELD, DataType.JSON)
        schema.add_field(HASH_FIELD, DataType.VARCHAR, max_length=MAX_VARCHAR, nullable=True)
        schema.add_field(FILTER_FIELD, DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index(VECTOR_FIELD, index_type="AUTOINDEX", metric_type="COSINE")
        return schema, index

    # -- the VectorStore contract -------------------------------------------------------------

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded in the properties of ``name``'s Milvus collection, or None when there is none.

        Raises:
            StoreError: the Milvus collection exists but gemini-vectors did not make it for this name.
        """
        recorded = self._recorded(name)
        return recorded[0] if recorded is not None else None

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """Create a Milvus collection of its own for this creation of ``name``, with the spec in its
        properties, and point the alias ``name`` at it."""
        milvus_name = self.milvus_name(name)
        vector_type = self.vector_type_for(spec)
        schema, index = self._schema(spec, vector_type)
        properties = {
            FORMAT_PROPERTY: METADATA_FORMAT,
            NAME_PROPERTY: name,
            SPEC_PROPERTY: spec.to_json(),
            VECTOR_TYPE_PROPERTY: vector_type,
        }
        # A name too long for the incarnation's 14 characters is created as before incarnations (its
        # handles check the name before each request instead).
        fits = len(milvus_name) + len(INCARNATION_SEPARATOR) + INCARNATION_HEX_DIGITS <= MAX_MILVUS_NAME
        physical = physical_name(milvus_name, new_incarnation() if fits else None)
        try:
            self._call(
                self.client.create_collection,
                physical,
                schema=schema,
                index_params=index,
                consistency_level="Strong",
                properties=properties,
            )
        except Exception as exc:
            recorded = self._recorded(name) if "exist" in str(exc).lower() else None
            if recorded is None:  # not a race with another creator: a real failure
                raise StoreError(
                    f"creating collection {name!r} ({physical}) in {self.url} failed: {self._said(exc)}"
                ) from exc
            return self._created_meanwhile(name, spec, recorded)
        if physical != milvus_name:
            try:  # Milvus refuses an alias that exists or is a collection's name: one creator wins
                self._call(self.client.create_alias, physical, milvus_name)
            except Exception as exc:
                self._discard(physical)
                recorded = self._recorded(name)
                if recorded is None:
                    raise StoreError(
                        f"creating collection {name!r} ({milvus_name}) in {self.url} failed: "
                        f"{self._said(exc)}"
                    ) from exc
                return self._created_meanwhile(name, spec, recorded)
        recorded = self._recorded(name)
        if recorded is None:  # pragma: no cover - a server that drops collection properties
            self._discard(physical, always=True)
            raise StoreError(
                f"the Milvus at {self.url} did not keep the collection properties where gemini-vectors "
                "records the embedding spec; upgrade it to Milvus 2.4 or later"
            )
        return MilvusCollection(self, name, spec, physical, recorded[1], recorded[2])

    def _discard(self, physical: str, *, always: bool = False) -> None:
        """Drop the Milvus collection of a creation that lost (an incarnation's, never a name's)."""
        if INCARNATION_SEPARATOR not in physical and not always:
            return
        try:
            for alias in self._aliases_of(physical):
                self._call(self.client.drop_alias, alias)
            self._call(self.client.drop_collection, physical)
        except Exception as exc:  # an empty collection left behind; it is never listed or opened
            log.warning("dropping the unused Milvus collection %s failed: %s", physical, self._said(exc))

    def _created_meanwhile(
        self, name: str, spec: EmbeddingSpec, recorded: tuple[EmbeddingSpec, str, int, str]
    ) -> MilvusCollection:
        """A handle on the collection ``name`` another store created while this one tried to."""
        if recorded[0] != spec:
            raise SpecMismatchError(name, recorded[0], spec) from None
        return MilvusCollection(self, name, recorded[0], recorded[3], recorded[1], recorded[2])

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """A handle on the existing collection ``name`` (its spec already checked).

        The handle addresses the Milvus collection the name resolves to now, not the name.
        """
        recorded = self._recorded(name)
        if recorded is None:
            raise CollectionNotFoundError(f"no collection {name!r} in {self.url}")
        if recorded[0] != spec:
            # dropped and created again for another spec since open_collection checked it: the handle
            # would address the new collection under the old spec, and queries are not checked again
            raise SpecMismatchError(name, recorded[0], spec)
        self._call(self.client.load_collection, recorded[3])
        return MilvusCollection(self, name, spec, recorded[3], recorded[1], recorded[2])

    def list_collections(self) -> list[str]:
        """The names of this store's gemini-vectors collections."""
        try:
            listed = self._call(self.client.list_collections)
        except Exception as exc:
            raise StoreError(f"listing the collections of {self.url} failed: {self._said(exc)}") from exc
        names = []
        for milvus_name in listed:
            if not milvus_name.startswith(self.collection_prefix):
                continue
            described = self._describe(milvus_name)
            recorded = self._parse(described) if described is not None else None
            if recorded is None or described is None:
                continue
            alias = self.milvus_name(recorded[0])
            if alias == milvus_name:  # made before incarnations
                names.append(recorded[0])
            elif (
                milvus_name.startswith(alias + INCARNATION_SEPARATOR)
                and len(milvus_name) == len(alias) + len(INCARNATION_SEPARATOR) + INCARNATION_HEX_DIGITS
                and alias in self._aliases_of(milvus_name)
            ):  # the incarnation the name resolves to (another is left over from a creation that lost)
                names.append(recorded[0])
        return sorted(names)

    def _alias_target(self, alias: str) -> str | None:
        """The Milvus collection ``alias`` names now, or None when there is no such alias."""
        try:
            described = self._call(self.client.describe_alias, alias)
        except Exception as exc:
            if is_not_found(exc) or "not exist" in str(exc).lower():
                return None
            raise StoreError(f"describing the alias {alias} in {self.url} failed: {self._said(exc)}") from exc
        target = (described or {}).get("collection_name")
        return str(target) if target else None

    def _aliases_of(self, milvus_name: str) -> list[str]:
        """The aliases of a Milvus collection (Milvus Lite's describe_collection lists none)."""
        try:
            listed = self._call(self.client.list_aliases, milvus_name)
        except Exception as exc:
            if is_not_found(exc):
                return []
            raise StoreError(
                f"listing the aliases of Milvus collection {milvus_name} in {self.url} failed: "
                f"{self._said(exc)}"
            ) from exc
        return [str(alias) for alias in (listed or {}).get("aliases") or []]

    def close(self) -> None:
        """Close the client if this store opened it (a shared Lite client closes with its last store)."""
        if self._closed:
            return
        self._closed = True
        if self._shared is not None:
            from .connection import release_lite

            release_lite(self._shared)
        elif self._owns_client:
            self.client.close()


STORE_OPTIONS = (
    "collection_prefix",
    "vector_type",
    "max_id_length",
    "batch_size",
    "max_batch_bytes",
    "max_retries",
    "retry_backoff",
)


def connect_milvus(url: str, /, **options: Any) -> MilvusStore:
    """The factory behind ``milvus://``, ``milvuss://`` and ``milvus+lite://``.

    Options:
        client: An existing ``pymilvus.MilvusClient`` to use (not closed by the store).
        token: The token, ``user:password`` or an API key (default: ``MILVUS_TOKEN`` for a server).
        timeout: Seconds per request to a server.
        collection_prefix, vector_type, max_id_length, batch_size, max_batch_bytes, max_retries,
        retry_backoff: See :class:`MilvusStore`.

    Raises:
        ConfigurationError: a bad URL or option.
        StoreError: the server could not be reached, or Milvus Lite could not start.
    """
    from .connection import acquire_lite, open_server_client, parse_url, release_lite, token_for

    refuse_unknown(options, {"client", "token", "timeout", *STORE_OPTIONS})
    endpoint = parse_url(url)
    store_options = {k: options[k] for k in STORE_OPTIONS if k in options}
    client = options.get("client")
    if client is not None:
        return MilvusStore(
            client, url=endpoint.safe_url, owns_client=False, lite=endpoint.lite, **store_options
        )
    if endpoint.lite:
        if "token" in options or "timeout" in options:
            raise ConfigurationError("milvus+lite:// runs in process: it takes no token or timeout")
        try:
            shared = acquire_lite(endpoint)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise StoreError(f"could not start Milvus Lite on {endpoint.path}: {exc}") from exc
        try:
            return MilvusStore(shared.client, url=endpoint.safe_url, shared=shared, **store_options)
        except Exception:
            release_lite(shared)
            raise
    token = token_for(endpoint, options.get("token"))
    try:
        client = open_server_client(endpoint, token=token, timeout=options.get("timeout"))
    except Exception as exc:
        said = redact_text(str(exc), secrets=[token])
        raise StoreError(f"could not connect to Milvus at {endpoint.safe_url}: {said}") from exc
    return MilvusStore(client, url=endpoint.safe_url, token=token, **store_options)
