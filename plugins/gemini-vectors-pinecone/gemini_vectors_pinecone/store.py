"""The Pinecone backend: one serverless index per store, one namespace per collection.

``pinecone://INDEX`` names an index. A Pinecone index has one dimension and one metric, so a store holds
vectors of one :class:`~gemini_vectors.spec.EmbeddingSpec`: the spec is written into the index's tags when
gemini-vectors creates the index, and checked whenever a collection is opened. Collections are namespaces
(created explicitly, so an empty collection exists too). Ids and collection names are percent-encoded where
they are not printable ASCII, because Pinecone takes ASCII only; the mapping is reversed on the way out.

Everything goes through the official ``pinecone`` SDK (v10, REST API 2026-07). Writes are split into
requests that respect Pinecone's 1,000 records and 2 MB per request, measured on the JSON actually sent,
and sent in parallel from a bounded pool; 429 and 5xx answers are retried with jittered exponential
backoff (on top of the SDK's own few retries), honouring ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
from gemini_vectors.errors import ConfigurationError, SpecMismatchError, StoreError, WriteError
from gemini_vectors.filters import Filter
from gemini_vectors.redaction import redact_text
from gemini_vectors.spec import EmbeddingSpec, SpecMechanism
from gemini_vectors.store import Match, Record, StoreCollection, Vector, VectorStore, as_vector
from pinecone import Index, Pinecone
from pinecone.errors.exceptions import (
    ApiError,
    ConflictError,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
    ServiceError,
)
from pinecone.models.indexes.index import IndexModel
from pinecone.models.indexes.schema import DenseVectorField

from gemini_vectors_pinecone import limits
from gemini_vectors_pinecone.filters import to_pinecone

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The schema field the vector API of an index created with a dimension and a metric answers to.
DENSE_FIELD = "_values"
#: Index tags that hold the embedding spec (Pinecone tag values are at most 120 printable ASCII).
SPEC_TAGS = {
    "model": "gv_model",
    "dimensions": "gv_dimensions",
    "task_mechanism": "gv_task_mechanism",
    "normalized": "gv_normalized",
    "dtype": "gv_dtype",
}
_INDEX_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_RETRYABLE = (RateLimitError, ServiceError, PineconeConnectionError, PineconeTimeoutError)
_URL_OPTIONS = ("host", "cloud", "region")


def spec_to_tags(spec: EmbeddingSpec) -> dict[str, str]:
    """The index tags that record ``spec``."""
    tags = {
        SPEC_TAGS["model"]: spec.model,
        SPEC_TAGS["dimensions"]: str(spec.dimensions),
        SPEC_TAGS["task_mechanism"]: spec.task_mechanism,
        SPEC_TAGS["normalized"]: "true" if spec.normalized else "false",
        SPEC_TAGS["dtype"]: spec.dtype,
    }
    for key, value in tags.items():
        if len(value) > 120 or not (value.isascii() and value.isprintable()):
            raise ConfigurationError(f"{key}={value!r} cannot be stored as a Pinecone index tag")
    return tags


def spec_from_tags(tags: dict[str, str] | None) -> EmbeddingSpec | None:
    """The spec recorded in an index's tags, or None when the index carries none.

    Raises:
        ConfigurationError: the tags hold part of a spec only.
    """
    tags = tags or {}
    present = {field: tags[tag] for field, tag in SPEC_TAGS.items() if tag in tags}
    if not present:
        return None
    if len(present) != len(SPEC_TAGS):
        missing = sorted(tag for field, tag in SPEC_TAGS.items() if field not in present)
        raise ConfigurationError(f"the index tags hold an incomplete embedding spec (missing {missing})")
    try:
        dimensions = int(present["dimensions"])
    except ValueError:
        raise ConfigurationError(
            f"index tag gv_dimensions={present['dimensions']!r} is not a number"
        ) from None
    # "external": a foreign spec (vectors of another framework's embedding, EmbeddingSpec.foreign)
    mechanisms: dict[str, SpecMechanism] = {
        "prefix": "prefix",
        "task_type": "task_type",
        "external": "external",
    }
    mechanism = mechanisms.get(present["task_mechanism"])
    if mechanism is None:
        raise ConfigurationError(f"index tag gv_task_mechanism={present['task_mechanism']!r} is not known")
    return EmbeddingSpec(
        model=present["model"],
        dimensions=dimensions,
        task_mechanism=mechanism,
        normalized=present["normalized"] == "true",
        dtype=present["dtype"],
    )


def _explain(exc: BaseException) -> str:
    # A connection error quotes the host it tried, which may carry user:password@ (redacted here).
    if isinstance(exc, ApiError):
        return redact_text(f"HTTP {exc.status_code}: {exc.message}")
    return redact_text(f"{type(exc).__name__}: {exc}")


def _check_index_name(name: str) -> None:
    if not name or len(name) > 45 or not set(name) <= _INDEX_NAME_CHARS or name[0] == "-" or name[-1] == "-":
        raise ConfigurationError(
            f"{name!r} is not a Pinecone index name: use 1-45 lowercase letters, digits and hyphens, not "
            "starting or ending with a hyphen (pinecone://my-index)"
        )


class PineconeStore(VectorStore):
    """A Pinecone index as a gemini-vectors store; each collection is a namespace of the index.

    Args:
        url: ``pinecone://INDEX``, optionally with ``?host=`` (the control plane, e.g. a local server),
            ``cloud=`` and ``region=`` (where a missing index is created; default ``aws``/``us-east-1``).
        api_key: The Pinecone API key; defaults to ``PINECONE_API_KEY``. Never put it in the URL.
        host, cloud, region: The same as the URL options (keyword arguments win).
        max_workers: Upsert and fetch requests in flight at once.
        max_request_bytes: Body size per upsert request (default 2,000,000 bytes).
        max_retries: Retries of a request answered with 429 or 5xx (after the SDK's own).
        backoff_base, backoff_max: Seconds: the first retry waits up to ``backoff_base``, doubling each
            time up to ``backoff_max`` (full jitter); a ``Retry-After`` answer is honoured.
        ready_timeout: Seconds to wait for a new index to become ready.
        timeout: Seconds per HTTP request.
    """

    # A collection is a namespace, whose name Pinecone counts in characters of its percent-encoded form.
    max_collection_name_length = limits.MAX_NAMESPACE_LENGTH
    name_length_unit = "characters once percent-encoded"

    def name_length(self, name: str) -> int:
        """The length of the namespace that holds collection ``name``."""
        return len(limits.encode_name(name))

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        host: str | None = None,
        cloud: str | None = None,
        region: str | None = None,
        max_workers: int = 4,
        max_request_bytes: int = limits.DEFAULT_MAX_REQUEST_BYTES,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        ready_timeout: float = 300.0,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "pinecone":
            raise ConfigurationError(f"a Pinecone store URL starts with pinecone://, not {parts.scheme}://")
        if "@" in parts.netloc:
            raise ConfigurationError(
                "do not put credentials in a pinecone:// URL; set PINECONE_API_KEY or pass api_key="
            )
        if parts.path not in ("", "/"):
            raise ConfigurationError("a pinecone:// URL names an index only: pinecone://my-index")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - set(_URL_OPTIONS))
        if "api_key" in unknown or "apikey" in unknown:
            raise ConfigurationError(
                "do not put the API key in the URL; set PINECONE_API_KEY or pass api_key="
            )
        if unknown:
            raise ConfigurationError(
                f"unknown pinecone:// URL options {unknown}; known: {list(_URL_OPTIONS)}"
            )
        index_name = parts.netloc
        _check_index_name(index_name)
        from_url = {k: v[-1] for k, v in query.items()}
        self.index_name = index_name
        self._host = host or from_url.get("host") or None
        self._cloud = cloud or from_url.get("cloud") or "aws"
        self._region = region or from_url.get("region") or "us-east-1"
        key = api_key or os.environ.get("PINECONE_API_KEY", "")
        if not key:
            raise ConfigurationError("no Pinecone API key: set PINECONE_API_KEY or pass api_key=")
        if max_workers < 1:
            raise ConfigurationError(f"max_workers must be at least 1, got {max_workers}")
        # The setter redacts, also a password in a ?host=https://user:pw@... control plane.
        self.url = f"pinecone://{index_name}" + (
            f"?host={self._host}" if self._host else ""
        )
        self.max_request_bytes = max_request_bytes
        self.max_workers = max_workers
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._ready_timeout = ready_timeout
        try:
            self._pc = Pinecone(api_key=key, host=self._host, timeout=timeout, source_tag="gemini_vectors")
        except PineconeError as exc:
            raise ConfigurationError(f"cannot set up the Pinecone client: {_explain(exc)}") from exc
        self._lock = threading.RLock()
        self._spec: EmbeddingSpec | None = None
        self._index: Index | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PineconeStore(url={self.url!r})"

    # -- plumbing ----------------------------------------------------------------------------------

    def _sleep_before_retry(self, attempt: int, exc: BaseException) -> None:
        delay = random.uniform(0.0, min(self._backoff_max, self._backoff_base * 2**attempt))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            delay = max(delay, min(float(retry_after), self._backoff_max))
        log.debug("Pinecone answered %s; retry %d in %.2fs", _explain(exc), attempt + 1, delay)
        time.sleep(delay)

    def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        passthrough: tuple[type[BaseException], ...] = (),
        **kwargs: Any,
    ) -> T:
        """Call the SDK, retrying 429/5xx/connection failures; other SDK errors become StoreError.

        Exceptions of the types in ``passthrough`` (e.g. NotFoundError) reach the caller unchanged.
        """
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except passthrough:
                raise
            except _RETRYABLE as exc:
                if attempt >= self._max_retries:
                    raise StoreError(
                        f"Pinecone {what} on index {self.index_name!r} failed after {attempt + 1} attempts: "
                        f"{_explain(exc)}"
                    ) from exc
                self._sleep_before_retry(attempt, exc)
                attempt += 1
            except PineconeError as exc:
                raise StoreError(
                    f"Pinecone {what} on index {self.index_name!r} failed: {_explain(exc)}"
                ) from exc

    def run_parallel(self, fn: Callable[[T], Any], items: Sequence[T]) -> list[BaseException | None]:
        """Run ``fn`` on each item in the store's pool; the exception each raised, or None."""

        def guarded(item: T) -> BaseException | None:
            try:
                fn(item)
            except Exception as exc:
                return exc
            return None

        if len(items) <= 1 or self.max_workers == 1:
            return [guarded(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="gv-pinecone")
            pool = self._pool
        return list(pool.map(guarded, items))

    def map_parallel(self, fn: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """Run ``fn`` on each item in the pool and return the results in order (the first error raises)."""
        results: list[Any] = [None] * len(items)

        def one(pair: tuple[int, T]) -> None:
            results[pair[0]] = fn(pair[1])

        for error in self.run_parallel(one, list(enumerate(items))):
            if error is not None:
                raise error
        return results

    # -- the index ---------------------------------------------------------------------------------

    def _describe(self) -> IndexModel | None:
        try:
            return self.call(
                "describe index", self._pc.indexes.describe, self.index_name, passthrough=(NotFoundError,)
            )
        except NotFoundError:
            return None

    def _wait_ready(self, model: IndexModel) -> IndexModel:
        deadline = time.monotonic() + self._ready_timeout
        pause = 0.05
        while not model.status.ready:
            if model.status.state in ("InitializationFailed", "Terminating", "Disabled"):
                raise StoreError(f"Pinecone index {self.index_name!r} is {model.status.state}")
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"Pinecone index {self.index_name!r} was not ready after {self._ready_timeout:g}s "
                    f"(state {model.status.state}); raise ready_timeout= or try again later"
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            described = self._describe()
            if described is None:
                raise StoreError(f"Pinecone index {self.index_name!r} disappeared while it was being created")
            model = described
        return model

    def _create_index(self, spec: EmbeddingSpec) -> IndexModel:
        schema = {
            "fields": {
                DENSE_FIELD: {"type": "dense_vector", "dimension": spec.dimensions, "metric": "cosine"}
            }
        }
        deployment = {"deployment_type": "managed", "cloud": self._cloud, "region": self._region}
        log.info("creating Pinecone index %r for %s", self.index_name, spec.describe())
        try:
            return self.call(
                "create index",
                self._pc.indexes.create,
                name=self.index_name,
                schema=schema,
                deployment=deployment,
                tags=spec_to_tags(spec),
                timeout=-1,
                passthrough=(ConflictError,),
            )
        except ConflictError:  # created by someone else meanwhile: use theirs, checked like any other
            model = self._describe()
            if model is None:
                raise StoreError(f"Pinecone index {self.index_name!r} exists and does not") from None
            return model

    def _stored_index_spec(
        self, model: IndexModel, collection: str, requested: EmbeddingSpec | None
    ) -> EmbeddingSpec | None:
        """The spec of an existing index; a foreign index of the right shape adopts ``requested``."""
        fields = model.schema.fields
        dense = fields.get(DENSE_FIELD)
        if set(fields) - {DENSE_FIELD} or not isinstance(dense, DenseVectorField):
            raise ConfigurationError(
                f"Pinecone index {self.index_name!r} has a schema of named fields ({sorted(fields)}); "
                "gemini-vectors needs an index with one dense vector per record (dimension and cosine metric)"
            )
        stored = spec_from_tags(model.tags)
        if stored is not None:
            if stored.dimensions != dense.dimension:
                raise ConfigurationError(
                    f"Pinecone index {self.index_name!r} is tagged {stored.describe()} but has "
                    f"{dense.dimension} dimensions; its tags were changed by hand"
                )
            return stored
        if requested is None:
            return None
        if dense.dimension != requested.dimensions:
            unrecorded = EmbeddingSpec(
                model="(unrecorded: index made outside gemini-vectors)",
                dimensions=dense.dimension,
                task_mechanism=requested.task_mechanism,
            )
            raise SpecMismatchError(collection, unrecorded, requested)
        if dense.metric != "cosine":
            raise ConfigurationError(
                f"Pinecone index {self.index_name!r} uses the {dense.metric} metric; gemini-vectors "
                "scores by cosine similarity, so it needs an index with metric='cosine'"
            )
        log.info("recording %s in the tags of Pinecone index %r", requested.describe(), self.index_name)
        self.call(
            "configure index", self._pc.indexes.configure, self.index_name, tags=spec_to_tags(requested)
        )
        return requested

    def _open_index(self, requested: EmbeddingSpec | None, collection: str, *, create: bool) -> Index | None:
        """The data-plane client, once the index exists, is ready and holds ``requested`` (if given).

        Returns None when the index does not exist (or holds no spec) and ``create`` is false.

        Raises:
            SpecMismatchError: the index holds vectors of another spec.
        """
        with self._lock:
            if self._closed:
                raise StoreError(f"{self!r} is closed")
            if self._index is None or self._spec is None:
                model = self._describe()
                if model is None:
                    if not create or requested is None:
                        return None
                    model = self._create_index(requested)
                stored = self._stored_index_spec(model, collection, requested if create else None)
                if stored is None:
                    return None
                model = self._wait_ready(model)
                if model.host is None:
                    raise StoreError(f"Pinecone index {self.index_name!r} has no host yet")
                self._index = self._pc.index(host=model.host)
                self._spec = stored
            if requested is not None and requested != self._spec:
                raise SpecMismatchError(collection, self._spec, requested)
            return self._index

    def data_index(self) -> Index:
        """The data-plane client of an index already opened by a collection."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self!r} is closed")
            assert self._index is not None, "the index is opened before any collection is handed out"
            return self._index

    # -- VectorStore -------------------------------------------------------------------------------

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        namespace = limits.namespace_for(name)
        index = self._open_index(None, name, create=False)
        if index is None:
            return None
        try:
            self.call(
                "describe namespace", index.describe_namespace, name=namespace, passthrough=(NotFoundError,)
            )
        except NotFoundError:
            return None
        return self._spec

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        namespace = limits.namespace_for(name)
        index = self._open_index(spec, name, create=True)
        assert index is not None
        # A namespace another process created meanwhile is fine: the spec is the index's, so the same.
        with contextlib.suppress(ConflictError):
            self.call(
                "create namespace", index.create_namespace, name=namespace, passthrough=(ConflictError,)
            )
        return PineconeCollection(self, name, spec, namespace)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        index = self._open_index(spec, name, create=False)
        if index is None:
            raise StoreError(f"Pinecone index {self.index_name!r} is gone")
        return PineconeCollection(self, name, spec, limits.namespace_for(name))

    def list_collections(self) -> list[str]:
        index = self._open_index(None, "", create=False)
        if index is None:
            return []
        names: list[str] = []
        token: str | None = None
        while True:
            page = self.call(
                "list namespaces",
                index.list_namespaces_paginated,
                limit=limits.MAX_LIST_LIMIT,
                pagination_token=token,
            )
            names.extend(
                limits.decode_name(ns.name)
                for ns in page.namespaces
                if ns.name and ns.name != limits.DEFAULT_NAMESPACE
            )
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return names

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._index is not None:
                self._index.close()
                self._index = None
            self._pc.close()


class PineconeCollection(StoreCollection):
    """One collection: a namespace of the store's index."""

    # Pinecone counts an id in characters of the printable-ASCII form it is sent in.
    max_id_length = limits.MAX_ID_LENGTH
    id_length_unit = "characters once percent-encoded"

    def id_length(self, record_id: str) -> int:
        """The length of the id's wire form (non-ASCII and ``%`` percent-encoded)."""
        return len(limits.encode_name(record_id))

    def __init__(self, store: PineconeStore, name: str, spec: EmbeddingSpec, namespace: str) -> None:
        super().__init__(name, spec)
        self._store = store
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"PineconeCollection({self.name!r}, {self._store.url!r})"

    def _translate(self, flt: Filter | None) -> dict[str, Any] | None:
        return None if flt is None else to_pinecone(flt)

    # -- writing -----------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        latest: dict[str, Record] = {}
        for record in records:  # the last of several records with one id wins, as in one request
            latest[record.id] = record
        dims = self.spec.dimensions
        items: list[dict[str, Any]] = []
        sizes: list[int] = []
        for record in latest.values():
            wire = limits.wire_id(record.id)
            vector = as_vector(record.vector, dims, what=f"vector of {record.id!r}")
            if not vector.any():
                raise ValueError(f"vector of {record.id!r} is all zeros, which a cosine index cannot store")
            metadata = limits.metadata_payload(record.id, record.metadata, record.content_hash)
            # The SDK turns the array into a list of floats per request; measure exactly that JSON,
            # but keep the array, so that a large upsert does not hold every vector as Python floats.
            item: dict[str, Any] = {"id": wire, "values": vector}
            if metadata:
                item["metadata"] = metadata
            items.append(item)
            sizes.append(limits.json_size({**item, "values": vector.tolist()}))
        batches = limits.plan_upsert_batches(
            items, sizes, self.namespace, max_bytes=self._store.max_request_bytes
        )
        index = self._store.data_index()

        def send(batch: list[dict[str, Any]]) -> None:
            self._store.call("upsert", index.upsert, vectors=batch, namespace=self.namespace)

        errors = self._store.run_parallel(send, batches)
        failed: dict[str, str] = {}
        first: BaseException | None = None
        for batch, error in zip(batches, errors, strict=True):
            if error is not None:
                first = first or error
                for item in batch:
                    failed[limits.decode_name(item["id"])] = str(error)
        if failed:
            raise WriteError(f"Pinecone upsert into collection {self.name!r} failed", failed) from first

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        index = self._store.data_index()
        wire = [w for w in dict.fromkeys(limits.wire_id_or_none(i) for i in ids or ()) if w is not None]
        try:
            for batch in limits.chunks(wire, limits.MAX_DELETE_IDS):
                self._store.call(
                    "delete", index.delete, ids=batch, namespace=self.namespace, passthrough=(NotFoundError,)
                )
            if filter is not None:
                self._store.call(
                    "delete",
                    index.delete,
                    filter=self._translate(filter),
                    namespace=self.namespace,
                    passthrough=(NotFoundError,),
                )
        except NotFoundError:
            return  # the namespace holds no records, so there is nothing to delete

    def clear(self) -> None:
        index = self._store.data_index()
        with contextlib.suppress(NotFoundError):
            self._store.call(
                "delete all",
                index.delete,
                delete_all=True,
                namespace=self.namespace,
                passthrough=(NotFoundError,),
            )
        # Some deployments drop a namespace with its last record; the collection must outlive clear().
        with contextlib.suppress(ConflictError):
            self._store.call(
                "create namespace", index.create_namespace, name=self.namespace, passthrough=(ConflictError,)
            )

    def drop(self) -> None:
        index = self._store.data_index()
        with contextlib.suppress(NotFoundError):
            self._store.call(
                "delete namespace", index.delete_namespace, name=self.namespace, passthrough=(NotFoundError,)
            )

    # -- reading -----------------------------------------------------------------------------------

    def _fetch(self, wire_ids: Sequence[str]) -> dict[str, tuple[list[float], dict[str, Any] | None]]:
        index = self._store.data_index()

        def one(batch: list[str]) -> dict[str, tuple[list[float], dict[str, Any] | None]]:
            answer = self._store.call("fetch", index.fetch, ids=batch, namespace=self.namespace)
            return {key: (vec.values, vec.metadata) for key, vec in answer.vectors.items()}

        found: dict[str, tuple[list[float], dict[str, Any] | None]] = {}
        for part in self._store.map_parallel(one, list(limits.fetch_batches(wire_ids))):
            found.update(part)
        return found

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        wanted = [(i, limits.wire_id_or_none(i)) for i in dict.fromkeys(ids)]
        found = self._fetch([w for _, w in wanted if w is not None])
        out: list[Record] = []
        for record_id, wire in wanted:
            if wire is None or wire not in found:
                continue
            values, raw = found[wire]
            metadata, content_hash = limits.user_metadata(raw)
            vector = np.asarray(values, dtype=np.float32) if include_vectors else np.zeros(0, np.float32)
            out.append(Record(record_id, vector, metadata, content_hash))
        return out

    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if k > limits.MAX_TOP_K:
            raise ValueError(f"Pinecone returns at most {limits.MAX_TOP_K} matches per query, not {k}")
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        pinecone_filter = self._translate(filter)
        # Metadata comes inline only while even 40 KB per match stays under the 4 MB answer limit;
        # beyond that (and for vectors) the matches are fetched, which has no such limit.
        inline = k <= limits.MAX_INLINE_METADATA_K
        answer = self._store.call(
            "query",
            self._store.data_index().query,
            vector=q.tolist(),
            top_k=k,
            namespace=self.namespace,
            filter=pinecone_filter,
            include_metadata=inline,
            include_values=False,
        )
        hits = [(m.id, float(m.score), m.metadata) for m in answer.matches]
        fetched = self._fetch([h[0] for h in hits]) if hits and (include_vectors or not inline) else {}
        out: list[Match] = []
        for wire, score, raw in hits:
            values: list[float] | None = None
            if fetched:
                if wire not in fetched:
                    continue  # deleted between the query and the fetch
                values, fetched_raw = fetched[wire]
                if not inline:
                    raw = fetched_raw
            metadata, _ = limits.user_metadata(raw)
            vec = np.asarray(values, dtype=np.float32) if include_vectors and values is not None else None
            out.append(Match(limits.decode_name(wire), score, metadata, vec))
        return out

    def count(self) -> int:
        stats = self._store.call("describe index stats", self._store.data_index().describe_index_stats)
        summary = stats.namespaces.get(self.namespace)
        return 0 if summary is None else int(summary.vector_count)

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        index = self._store.data_index()
        limit = max(1, min(batch_size, limits.MAX_LIST_LIMIT))
        token: str | None = None
        while True:
            try:
                page = self._store.call(
                    "list",
                    index.list_paginated,
                    namespace=self.namespace,
                    limit=limit,
                    pagination_token=token,
                    passthrough=(NotFoundError,),
                )
            except NotFoundError:
                return
            for item in page.vectors:
                if item.id:
                    yield limits.decode_name(item.id)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return
