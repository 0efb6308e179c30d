"""An in-process Pinecone server speaking REST API version 2026-07, for tests of unmodified clients.

One HTTP server on 127.0.0.1 serves the control plane (``/indexes``) and the data plane of every index.
Pinecone gives each index a host of its own; here an index's host is ``http://127.0.0.1:PORT/data/NAME``,
which the describe answer hands out like the real service hands out its ``*.svc.*.pinecone.io`` host, and
which the official SDK uses as a base URL exactly as it would use the real one.

Written from Pinecone's API reference and documented limits (see :mod:`.filters` for the filter
semantics, including how ``$ne``/``$nin`` treat records lacking the field):

* every request needs ``Api-Key`` (401 otherwise) and ``X-Pinecone-Api-Version: 2026-07`` (400 otherwise);
* upsert: at most 1,000 vectors and 2 MB (2 MiB, as the service's "2MB") per request (413 above the size),
  every vector of the index's dimension, metadata at most 40 KB per record, values string, number,
  boolean or list of strings, keys not starting with ``$``; null values are stripped on write, as the
  service does (``null_metadata="reject"`` answers 400 instead);
* ids and namespaces 1-512 ASCII characters without NUL; fetch and delete at most 1,000 ids; list pages
  at most 100; ``top_k`` 1-10,000 and at most 1,000 with values or metadata; query results at most 4 MB;
* index names at most 45 characters of lowercase letters, digits and hyphens, not starting or ending with
  a hyphen; tags at most 20, keys 1-80 of ``[A-Za-z0-9_-]``, values at most 120 printable ASCII;
* serverless namespaces spring into being on upsert or ``POST /namespaces``; deleting records by id,
  filter or ``deleteAll`` in a namespace that does not exist answers 404; ``deleteAll`` empties a
  namespace and keeps it (``DELETE /namespaces/NAME`` removes it);
* an update of an id that is not stored is accepted and changes nothing (serverless writes are applied
  asynchronously, so the service cannot refuse it).

Errors have Pinecone's shapes: the control plane answers ``{"error": {"code": "NOT_FOUND", "message":
...}, "status": 404}``, the data plane ``{"code": 5, "message": ..., "details": []}`` (gRPC status codes).

Only dense vectors are served (an index whose schema has fields other than ``_values`` is a document
index, refused by the vector endpoints; sparse values are refused with a 400).

Tests read :attr:`PineconeEmulator.requests` (endpoint, status and body size of every request) and
inject faults with :meth:`PineconeEmulator.set_faults` and :meth:`PineconeEmulator.fail_next`.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import numpy.typing as npt
import orjson

from . import filters as flt

API_VERSION = "2026-07"
MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_ID_LENGTH = 512
MAX_NAMESPACE_LENGTH = 512
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
MAX_QUERY_RESULT_BYTES = 4 * 1024 * 1024
MAX_LIST_LIMIT = 100
MAX_NAMESPACE_LIST_LIMIT = 100
MAX_DIMENSION = 20_000
MAX_INDEX_NAME = 45
MAX_TAGS = 20
DEFAULT_NAMESPACE = "__default__"
DENSE_FIELD = "_values"
SPARSE_FIELD = "_sparse_values"
METRICS = ("cosine", "euclidean", "dotproduct")

_INDEX_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_TAG_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

# gRPC status codes the data plane reports in its error bodies.
_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 413: 3, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}
_CONTROL_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

Vector = npt.NDArray[np.float32]


class ApiError(Exception):
    """An error answer: HTTP status and message; the plane decides the body's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered.

    Attributes:
        method: HTTP method.
        path: Request path without the query string.
        endpoint: Operation name, e.g. ``"upsert"``, ``"query"``, ``"create_index"`` (``"unknown"`` if none).
        index: The index a data-plane request addressed (None on the control plane).
        status: HTTP status of the answer.
        body_bytes: Size of the request body as received.
        url_bytes: Length of the request target (path and query string).
        api_version: The ``X-Pinecone-Api-Version`` header, or None.
        fault: True when the answer was an injected fault.
    """

    method: str
    path: str
    endpoint: str
    index: str | None
    status: int
    body_bytes: int
    url_bytes: int
    api_version: str | None
    fault: bool = False


@dataclass
class _Namespace:
    records: dict[str, tuple[Vector, dict[str, Any]]] = field(default_factory=dict)
    schema: dict[str, Any] | None = None
    _matrix: tuple[list[str], Vector] | None = None

    def changed(self) -> None:
        self._matrix = None

    def matrix(self, dims: int) -> tuple[list[str], Vector]:
        if self._matrix is None:
            ids = list(self.records)
            mat = (
                np.stack([self.records[i][0] for i in ids]) if ids else np.zeros((0, dims), dtype=np.float32)
            )
            self._matrix = (ids, mat)
        return self._matrix


@dataclass
class _Index:
    name: str
    schema: dict[str, Any]
    deployment: dict[str, Any]
    deletion_protection: str
    tags: dict[str, str] | None
    read_capacity: dict[str, Any] | None
    cmek_id: str | None
    ready_at: float
    dimension: int | None
    metric: str | None
    namespaces: dict[str, _Namespace] = field(default_factory=dict)

    @property
    def vector_api(self) -> bool:
        return (
            set(self.schema.get("fields", {})) <= {DENSE_FIELD, SPARSE_FIELD} and self.dimension is not None
        )


class PineconeEmulator:
    """A Pinecone control plane and data plane on one local port.

    Use as a context manager or call :meth:`start`/:meth:`stop`::

        with PineconeEmulator() as emu:
            pc = Pinecone(api_key=emu.api_key, host=emu.url)

    Args:
        api_key: The only key accepted; None accepts any non-empty key.
        ready_delay: Seconds a new index reports ``Initializing`` before ``Ready``.
        null_metadata: ``"strip"`` (the service's behaviour) or ``"reject"`` (answer 400).
        max_request_bytes: Body size above which a data-plane write answers 413.
        seed: Seed of the random generator behind probabilistic faults.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "emulator-key",
        ready_delay: float = 0.0,
        null_metadata: str = "strip",
        max_request_bytes: int = MAX_REQUEST_BYTES,
        seed: int = 0,
    ) -> None:
        if null_metadata not in ("strip", "reject"):
            raise ValueError("null_metadata must be 'strip' or 'reject'")
        self.api_key = api_key or "emulator-key"
        self._accept_any_key = api_key is None
        self.ready_delay = ready_delay
        self.null_metadata = null_metadata
        self.max_request_bytes = max_request_bytes
        self.latency = 0.0
        self._lock = threading.RLock()
        self._indexes: dict[str, _Index] = {}
        self._requests: list[RequestRecord] = []
        self._rng = random.Random(seed)
        self._fault_rate = 0.0
        self._fault_statuses: tuple[int, ...] = (429, 503)
        self._fault_endpoints: frozenset[str] | None = None
        self._retry_after: float | None = None
        self._fail_next: list[tuple[int, frozenset[str] | None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._names = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> PineconeEmulator:
        """Start serving on a free port of 127.0.0.1."""
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="pinecone-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PineconeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the emulator listens on."""
        assert self._server is not None, "the emulator is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the control plane, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def index_host(self, name: str) -> str:
        """The data-plane host of index ``name`` (what describe answers)."""
        return f"{self.url}/data/{name}"

    # -- observation -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(
        self, endpoint: str | None = None, *, index: str | None = None, status: int | None = None
    ) -> int:
        """How many requests matched ``endpoint``, ``index`` and ``status`` (None matches any)."""
        return len(self.select(endpoint, index=index, status=status))

    def select(
        self, endpoint: str | None = None, *, index: str | None = None, status: int | None = None
    ) -> list[RequestRecord]:
        """The requests that matched ``endpoint``, ``index`` and ``status`` (None matches any)."""
        return [
            r
            for r in self.requests
            if (endpoint is None or r.endpoint == endpoint)
            and (index is None or r.index == index)
            and (status is None or r.status == status)
        ]

    def body_sizes(self, endpoint: str) -> list[int]:
        """Body size of every request to ``endpoint``, in order."""
        return [r.body_bytes for r in self.select(endpoint)]

    def reset_counters(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()

    def vectors(
        self, index: str, namespace: str = DEFAULT_NAMESPACE
    ) -> dict[str, tuple[Vector, dict[str, Any]]]:
        """A copy of the records stored in one namespace (for white-box assertions)."""
        with self._lock:
            ns = self._indexes[index].namespaces.get(namespace)
            return {} if ns is None else {k: (v.copy(), dict(m)) for k, (v, m) in ns.records.items()}

    # -- faults ------------------------------------------------------------------------------------

    def set_faults(
        self,
        rate: float,
        *,
        statuses: tuple[int, ...] = (429, 503),
        endpoints: tuple[str, ...] | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer a fraction ``rate`` of requests with an error status picked from ``statuses``.

        Args:
            rate: Probability per request, 0 to switch faults off.
            statuses: Statuses to pick from (e.g. 429, 500, 502, 503).
            endpoints: Only these endpoints fail; None means every endpoint.
            retry_after: Seconds to send in a ``Retry-After`` header with a 429, or None for no header.
        """
        with self._lock:
            self._fault_rate = rate
            self._fault_statuses = statuses
            self._fault_endpoints = frozenset(endpoints) if endpoints is not None else None
            self._retry_after = retry_after

    def fail_next(self, count: int, *, status: int = 503, endpoints: tuple[str, ...] | None = None) -> None:
        """Answer the next ``count`` requests (to ``endpoints``, if given) with ``status``."""
        with self._lock:
            self._fail_next.extend([(status, frozenset(endpoints) if endpoints else None)] * count)

    def _pick_fault(self, endpoint: str) -> int | None:
        with self._lock:
            for i, (status, endpoints) in enumerate(self._fail_next):
                if endpoints is None or endpoint in endpoints:
                    del self._fail_next[i]
                    return status
            eligible = self._fault_endpoints is None or endpoint in self._fault_endpoints
            if self._fault_rate > 0 and eligible and self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_statuses)
        return None

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self._requests.append(rec)

    # -- control plane -----------------------------------------------------------------------------

    def _index_model(self, idx: _Index) -> dict[str, Any]:
        ready = time.monotonic() >= idx.ready_at
        return {
            "name": idx.name,
            "host": self.index_host(idx.name),
            "private_host": None,
            "status": {"ready": ready, "state": "Ready" if ready else "Initializing"},
            "schema": idx.schema,
            "deployment": idx.deployment,
            "read_capacity": idx.read_capacity,
            "deletion_protection": idx.deletion_protection,
            "tags": dict(idx.tags) if idx.tags else None,
            "cmek_id": idx.cmek_id,
        }

    def _get_index(self, name: str) -> _Index:
        idx = self._indexes.get(name)
        if idx is None:
            raise ApiError(404, f"Resource {name} not found")
        return idx

    def list_indexes(self) -> tuple[int, Any]:
        with self._lock:
            return 200, {"indexes": [self._index_model(i) for i in self._indexes.values()]}

    def describe_index(self, name: str) -> tuple[int, Any]:
        with self._lock:
            return 200, self._index_model(self._get_index(name))

    def create_index(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        name = body.get("name")
        if name is None:
            name = f"index-{next(self._names)}-{uuid.uuid4().hex[:6]}"
        _check_index_name(name)
        dimension, metric, schema = _check_schema(body.get("schema"))
        deployment = _check_deployment(body.get("deployment"))
        protection = body.get("deletion_protection", "disabled")
        if protection not in ("enabled", "disabled"):
            raise ApiError(400, "deletion_protection must be 'enabled' or 'disabled'")
        tags = body.get("tags")
        if tags is not None:
            _check_tags(tags)
            tags = {k: v for k, v in tags.items() if v != ""}
        read_capacity = body.get("read_capacity")
        if read_capacity is None and deployment["deployment_type"] != "pod":
            read_capacity = {"mode": "OnDemand", "status": {"state": "Ready"}}
        with self._lock:
            if name in self._indexes:
                raise ApiError(409, f"Resource {name} already exists")
            idx = _Index(
                name=name,
                schema=_normalise_schema(schema),
                deployment=deployment,
                deletion_protection=protection,
                tags=tags or None,
                read_capacity=read_capacity,
                cmek_id=body.get("cmek_id"),
                ready_at=time.monotonic() + self.ready_delay,
                dimension=dimension,
                metric=metric,
            )
            self._indexes[name] = idx
            return 201, self._index_model(idx)

    def delete_index(self, name: str) -> tuple[int, Any]:
        with self._lock:
            idx = self._get_index(name)
            if idx.deletion_protection == "enabled":
                raise ApiError(
                    403,
                    f"Deletion protection is enabled for index '{name}'. Disable deletion protection "
                    "before retrying.",
                )
            del self._indexes[name]
        return 202, None

    def configure_index(self, name: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "Request body must name at least one setting to change")
        unknown = set(body) - {
            "deletion_protection",
            "tags",
            "deployment",
            "schema",
            "read_capacity",
            "embed",
        }
        if unknown:
            raise ApiError(400, f"Unknown fields in configure request: {sorted(unknown)}")
        with self._lock:
            idx = self._get_index(name)
            if "deletion_protection" in body and body["deletion_protection"] not in ("enabled", "disabled"):
                raise ApiError(400, "deletion_protection must be 'enabled' or 'disabled'")
            if "tags" in body:
                _check_tags(body["tags"])
                merged = dict(idx.tags or {})
                for k, v in body["tags"].items():
                    if v == "":
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                if len(merged) > MAX_TAGS:
                    raise ApiError(400, f"An index can have at most {MAX_TAGS} tags, got {len(merged)}")
            if "schema" in body and _normalise_schema(_check_schema(body["schema"])[2]) != idx.schema:
                raise ApiError(400, "The schema of an index cannot be changed after creation")
            if "deployment" in body:
                dep = body["deployment"]
                if not isinstance(dep, dict) or idx.deployment.get("deployment_type") != "pod":
                    raise ApiError(400, "Only pod-based indexes can change their deployment")
                if set(dep) - {"replicas", "pod_type"}:
                    raise ApiError(400, "deployment updates accept only 'replicas' and 'pod_type'")
            if "read_capacity" in body and idx.deployment.get("deployment_type") == "pod":
                raise ApiError(400, "Pod-based indexes have no read capacity to configure")
            # Validated in full above, so a bad request changes nothing.
            if "deletion_protection" in body:
                idx.deletion_protection = body["deletion_protection"]
            if "tags" in body:
                idx.tags = merged or None
            if "deployment" in body:
                idx.deployment = {**idx.deployment, **body["deployment"]}
            if "read_capacity" in body:
                idx.read_capacity = {**body["read_capacity"], "status": {"state": "Ready"}}
            return 200, self._index_model(idx)

    # -- data plane --------------------------------------------------------------------------------

    def _data_index(self, name: str) -> _Index:
        idx = self._indexes.get(name)
        if idx is None:
            raise ApiError(404, f"Index {name} not found")
        if time.monotonic() < idx.ready_at:
            raise ApiError(503, f"Index {name} is not ready")
        if not idx.vector_api:
            raise ApiError(
                400,
                "This index was created with a schema of named fields and serves documents; use the "
                "documents API for it",
            )
        return idx

    def upsert(self, index: str, body: Any) -> tuple[int, Any]:
        body = _object(body)
        namespace = _namespace(body.get("namespace"))
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise ApiError(400, "Upsert request must contain a non-empty 'vectors' array")
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise ApiError(
                400,
                f"Upsert request contains {len(vectors)} vectors; the maximum is {MAX_UPSERT_VECTORS} "
                "vectors per request",
            )
        with self._lock:
            idx = self._data_index(index)
            assert idx.dimension is not None
            checked = [self._check_vector(idx, v) for v in vectors]
            ns = idx.namespaces.setdefault(namespace, _Namespace())
            for vid, values, metadata in checked:
                ns.records[vid] = (values, metadata)
            ns.changed()
        return 200, {"upsertedCount": len(checked)}

    def _check_vector(self, idx: _Index, raw: Any) -> tuple[str, Vector, dict[str, Any]]:
        if not isinstance(raw, dict):
            raise ApiError(400, "Each vector must be a JSON object")
        vid = _vector_id(raw.get("id"))
        if raw.get("sparseValues") is not None:
            raise ApiError(400, f"Vector {vid}: sparse values are not supported by this dense index")
        values = raw.get("values")
        if not isinstance(values, list) or not all(_is_number(x) for x in values):
            raise ApiError(400, f"Vector {vid}: 'values' must be an array of numbers")
        if len(values) != idx.dimension:
            raise ApiError(
                400,
                f"Vector dimension {len(values)} does not match the dimension of the index {idx.dimension}",
            )
        arr = np.asarray(values, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ApiError(400, f"Vector {vid}: values must be finite 32-bit floats")
        if idx.metric == "cosine" and not arr.any():
            raise ApiError(400, f"Vector {vid}: dense vectors must contain at least one non-zero value")
        metadata = self._check_metadata(vid, raw.get("metadata"))
        return vid, arr, metadata

    def _check_metadata(self, vid: str, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise ApiError(400, f"Metadata of vector {vid} must be a JSON object")
        size = len(orjson.dumps(raw))
        if size > MAX_METADATA_BYTES:
            raise ApiError(
                400,
                f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per "
                f"vector (vector id {vid})",
            )
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key.startswith("$"):
                raise ApiError(400, f"Metadata key '{key}' of vector {vid} must not start with '$'")
            if value is None:
                if self.null_metadata == "reject":
                    raise ApiError(400, f"Metadata value for field '{key}' of vector {vid} is null")
                continue
            if isinstance(value, bool | str):
                out[key] = value
            elif _is_number(value):
                out[key] = float(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = list(value)
            else:
                shown = orjson.dumps(value).decode()[:16]
                raise ApiError(
                    400,
                    f"Metadata value must be a string, number, boolean or list of strings, got '{shown}' "
                    f"for field '{key}'",
                )
        return out

    def query(self, index: str, body: Any) -> tuple[int, Any]:
        body = _object(body)
        namespace = _namespace(body.get("namespace"))
        top_k = body.get("topK")
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise ApiError(400, "topK is required and must be an integer")
        if not 1 <= top_k <= MAX_TOP_K:
            raise ApiError(400, f"Invalid value for topK: {top_k}; it must be between 1 and {MAX_TOP_K}")
        include_values = bool(body.get("includeValues", False))
        include_metadata = bool(body.get("includeMetadata", False))
        if (include_values or include_metadata) and top_k > MAX_TOP_K_WITH_DATA:
            raise ApiError(
                400,
                f"topK {top_k} is too large when includeValues or includeMetadata is true; the maximum is "
                f"{MAX_TOP_K_WITH_DATA}",
            )
        if body.get("sparseVector") is not None:
            raise ApiError(400, "Sparse query vectors are not supported by this dense index")
        vector, by_id = body.get("vector"), body.get("id")
        if (vector is None) == (by_id is None):
            raise ApiError(400, "Exactly one of 'vector' or 'id' must be provided")
        query_filter = body.get("filter")
        if query_filter is not None:
            _check_filter(query_filter)
        with self._lock:
            idx = self._data_index(index)
            assert idx.dimension is not None
            ns = idx.namespaces.get(namespace)
            if by_id is not None:
                _vector_id(by_id)
                found = ns.records.get(by_id) if ns is not None else None
                if found is None:
                    return 200, {"matches": [], "namespace": _shown_ns(namespace), "usage": {"readUnits": 1}}
                q = found[0]
            else:
                if not isinstance(vector, list) or not all(_is_number(x) for x in vector):
                    raise ApiError(400, "'vector' must be an array of numbers")
                if len(vector) != idx.dimension:
                    raise ApiError(
                        400,
                        f"Query vector dimension {len(vector)} does not match the dimension of the index "
                        f"{idx.dimension}",
                    )
                q = np.asarray(vector, dtype=np.float32)
            matches: list[dict[str, Any]] = []
            if ns is not None and ns.records:
                ids, mat = ns.matrix(idx.dimension)
                if query_filter:
                    keep = [i for i, vid in enumerate(ids) if flt.evaluate(query_filter, ns.records[vid][1])]
                    ids = [ids[i] for i in keep]
                    mat = mat[keep]
                if ids:
                    scores, ascending = _scores(idx.metric or "cosine", mat, q)
                    order = np.argsort(scores if ascending else -scores, kind="stable")[:top_k]
                    for i in order:
                        vid = ids[int(i)]
                        values, metadata = ns.records[vid]
                        match: dict[str, Any] = {"id": vid, "score": float(scores[int(i)])}
                        match["values"] = values if include_values else []
                        if include_metadata and metadata:
                            match["metadata"] = _metadata_out(metadata)
                        matches.append(match)
        answer = {"matches": matches, "namespace": _shown_ns(namespace), "usage": {"readUnits": 5}}
        if include_values or include_metadata:
            size = len(_dumps(answer))
            if size > MAX_QUERY_RESULT_BYTES:
                raise ApiError(
                    400,
                    f"Query result size {size} bytes exceeds the 4MB limit; lower topK or set "
                    "includeMetadata=false / includeValues=false",
                )
        return 200, answer

    def fetch(self, index: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        ids = params.get("ids", [])
        if not ids:
            raise ApiError(400, "At least one id must be provided")
        if len(ids) > MAX_FETCH_IDS:
            raise ApiError(400, f"Fetch request contains {len(ids)} ids; the maximum is {MAX_FETCH_IDS}")
        for vid in ids:
            _vector_id(vid)
        namespace = _namespace(params.get("namespace", [""])[0])
        with self._lock:
            idx = self._data_index(index)
            ns = idx.namespaces.get(namespace)
            out: dict[str, Any] = {}
            for vid in ids:
                found = ns.records.get(vid) if ns is not None else None
                if found is not None:
                    item: dict[str, Any] = {"id": vid, "values": found[0]}
                    if found[1]:
                        item["metadata"] = _metadata_out(found[1])
                    out[vid] = item
        return 200, {"vectors": out, "namespace": _shown_ns(namespace), "usage": {"readUnits": 1}}

    def delete(self, index: str, body: Any) -> tuple[int, Any]:
        body = _object(body)
        namespace = _namespace(body.get("namespace"))
        ids, delete_all, query_filter = body.get("ids"), body.get("deleteAll", False), body.get("filter")
        selectors = sum(x for x in (ids is not None, bool(delete_all), query_filter is not None))
        if selectors != 1:
            raise ApiError(400, "Exactly one of 'ids', 'deleteAll' or 'filter' must be provided")
        if ids is not None:
            if not isinstance(ids, list) or not ids:
                raise ApiError(400, "'ids' must be a non-empty array")
            if len(ids) > MAX_DELETE_IDS:
                raise ApiError(
                    400, f"Delete request contains {len(ids)} ids; the maximum is {MAX_DELETE_IDS}"
                )
            for vid in ids:
                _vector_id(vid)
        if query_filter is not None:
            if not query_filter:
                raise ApiError(400, "Delete with empty metadata filter is not allowed")
            _check_filter(query_filter)
        with self._lock:
            idx = self._data_index(index)
            ns = idx.namespaces.get(namespace)
            if ns is None:
                raise ApiError(404, "Namespace not found")
            if delete_all:
                ns.records.clear()
            elif ids is not None:
                for vid in ids:
                    ns.records.pop(vid, None)
            else:
                doomed = [vid for vid, (_, md) in ns.records.items() if flt.evaluate(query_filter, md)]
                for vid in doomed:
                    del ns.records[vid]
            ns.changed()
        return 200, {}

    def update(self, index: str, body: Any) -> tuple[int, Any]:
        body = _object(body)
        namespace = _namespace(body.get("namespace"))
        vid, query_filter = body.get("id"), body.get("filter")
        values, set_metadata = body.get("values"), body.get("setMetadata")
        if (vid is None) == (query_filter is None):
            raise ApiError(400, "Exactly one of 'id' or 'filter' must be provided")
        if body.get("sparseValues") is not None:
            raise ApiError(400, "Sparse values are not supported by this dense index")
        if set_metadata is not None and not isinstance(set_metadata, dict):
            raise ApiError(400, "'setMetadata' must be a JSON object")
        with self._lock:
            idx = self._data_index(index)
            ns = idx.namespaces.get(namespace)
            if vid is not None:
                _vector_id(vid)
                if values is None and set_metadata is None:
                    raise ApiError(400, "Update request must set 'values' or 'setMetadata'")
                found = ns.records.get(vid) if ns is not None else None
                if found is None or ns is None:
                    return 200, {}
                new_values = found[0]
                if values is not None:
                    new_values = self._check_vector(idx, {"id": vid, "values": values})[1]
                merged = {**found[1], **(set_metadata or {})}
                ns.records[vid] = (new_values, self._check_metadata(vid, merged))
                ns.changed()
                return 200, {}
            if values is not None:
                raise ApiError(400, "Updating by filter can only set metadata")
            if not query_filter:
                raise ApiError(400, "Update with empty metadata filter is not allowed")
            _check_filter(query_filter)
            if set_metadata is None:
                raise ApiError(400, "Update by filter requires 'setMetadata'")
            targets = (
                []
                if ns is None
                else [k for k, (_, md) in ns.records.items() if flt.evaluate(query_filter, md)]
            )
            if not body.get("dryRun", False) and ns is not None:
                updated = {k: self._check_metadata(k, {**ns.records[k][1], **set_metadata}) for k in targets}
                for k, md in updated.items():
                    ns.records[k] = (ns.records[k][0], md)
                ns.changed()
            return 200, {"matchedRecords": len(targets)}

    def list_vectors(self, index: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        namespace = _namespace(params.get("namespace", [""])[0])
        prefix = params.get("prefix", [""])[0]
        if len(prefix) > MAX_ID_LENGTH:
            raise ApiError(400, f"prefix is longer than {MAX_ID_LENGTH} characters")
        limit = _int_param(params, "limit", MAX_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        after = _decode_token(params.get("paginationToken", [None])[0])
        with self._lock:
            idx = self._data_index(index)
            ns = idx.namespaces.get(namespace)
            ids = sorted(
                k for k in (ns.records if ns is not None else ()) if k.startswith(prefix) and k > after
            )
        page = ids[:limit]
        answer: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": _shown_ns(namespace),
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            answer["pagination"] = {"next": _encode_token(page[-1])}
        return 200, answer

    def describe_index_stats(self, index: str, body: Any) -> tuple[int, Any]:
        if body is not None and _object(body).get("filter") is not None:
            raise ApiError(
                400,
                "Serverless and starter indexes do not support describing index stats with metadata "
                "filtering.",
            )
        with self._lock:
            idx = self._data_index(index)
            namespaces = {
                name: {"vectorCount": len(ns.records)} for name, ns in sorted(idx.namespaces.items())
            }
            total = sum(len(ns.records) for ns in idx.namespaces.values())
            return 200, {
                "namespaces": namespaces,
                "dimension": idx.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": total,
                "metric": idx.metric,
                "vectorType": "dense",
            }

    def _namespace_description(self, name: str, ns: _Namespace) -> dict[str, Any]:
        fields = sorted({k for _, md in ns.records.values() for k in md})
        out: dict[str, Any] = {
            "name": name,
            "record_count": str(len(ns.records)),
            "indexed_fields": {"fields": fields},
            "size_bytes": sum(v.nbytes + len(orjson.dumps(md)) for v, md in ns.records.values()),
        }
        if ns.schema is not None:
            out["schema"] = ns.schema
        return out

    def create_namespace(self, index: str, body: Any) -> tuple[int, Any]:
        body = _object(body)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "'name' is required")
        _namespace(name)
        if name == DEFAULT_NAMESPACE:
            raise ApiError(400, f"'{DEFAULT_NAMESPACE}' is reserved and cannot be created")
        schema = body.get("schema")
        with self._lock:
            idx = self._data_index(index)
            if name in idx.namespaces:
                raise ApiError(409, f"Namespace {name} already exists")
            ns = idx.namespaces[name] = _Namespace(schema=schema)
            return 201, self._namespace_description(name, ns)

    def describe_namespace(self, index: str, name: str) -> tuple[int, Any]:
        _namespace(name)
        with self._lock:
            idx = self._data_index(index)
            ns = idx.namespaces.get(name)
            if ns is None:
                if name != DEFAULT_NAMESPACE:
                    raise ApiError(404, f"Namespace {name} not found")
                ns = _Namespace()
            return 200, self._namespace_description(name, ns)

    def delete_namespace(self, index: str, name: str) -> tuple[int, Any]:
        _namespace(name)
        with self._lock:
            idx = self._data_index(index)
            if name not in idx.namespaces:
                raise ApiError(404, f"Namespace {name} not found")
            del idx.namespaces[name]
        return 202, {}

    def list_namespaces(self, index: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        prefix = params.get("prefix", [""])[0]
        limit = _int_param(params, "limit", MAX_NAMESPACE_LIST_LIMIT, 1, MAX_NAMESPACE_LIST_LIMIT)
        after = _decode_token(params.get("paginationToken", [None])[0])
        with self._lock:
            idx = self._data_index(index)
            names = sorted(
                n
                for n, ns in idx.namespaces.items()
                if n.startswith(prefix) and (n != DEFAULT_NAMESPACE or ns.records)
            )
            remaining = [n for n in names if n > after]
            page = remaining[:limit]
            answer: dict[str, Any] = {
                "namespaces": [self._namespace_description(n, idx.namespaces[n]) for n in page],
                "total_count": len(names),
            }
        if len(remaining) > limit:
            answer["pagination"] = {"next": _encode_token(page[-1])}
        return 200, answer


# -- validation helpers ----------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _check_ascii_name(value: str, what: str, limit: int) -> None:
    if len(value) > limit:
        raise ApiError(400, f"{what} exceeds the maximum length of {limit} characters: got {len(value)}")
    if not value.isascii():
        raise ApiError(400, f"{what} must contain only ASCII characters")
    if "\x00" in value:
        raise ApiError(400, f"{what} must not contain null characters")


def _vector_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, "Vector id must be a non-empty string")
    _check_ascii_name(value, "Vector id", MAX_ID_LENGTH)
    return value


def _namespace(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise ApiError(400, "namespace must be a string")
    _check_ascii_name(value, "Namespace name", MAX_NAMESPACE_LENGTH)
    return value


def _shown_ns(namespace: str) -> str:
    return "" if namespace == DEFAULT_NAMESPACE else namespace


def _check_filter(query_filter: Any) -> None:
    try:
        flt.validate(query_filter)
    except flt.FilterSyntaxError as exc:
        raise ApiError(400, f"Invalid filter: {exc}") from None


def _int_param(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if not raw:
        return default
    try:
        value = int(raw[0])
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": after})).decode()


def _decode_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        after = orjson.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except Exception:
        raise ApiError(400, "Invalid pagination token") from None
    if not isinstance(after, str):
        raise ApiError(400, "Invalid pagination token")
    return after


def _check_index_name(name: Any) -> None:
    if not isinstance(name, str) or len(name) > MAX_INDEX_NAME or not _INDEX_NAME_RE.match(name):
        raise ApiError(
            400,
            f"Name must consist of lower case alphanumeric characters or '-', must start and end with an "
            f"alphanumeric character, and must be at most {MAX_INDEX_NAME} characters long; got {name!r}",
        )


def _check_schema(schema: Any) -> tuple[int | None, str | None, dict[str, Any]]:
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), dict) or not schema["fields"]:
        raise ApiError(400, "schema must be an object with a non-empty 'fields' object")
    dimension: int | None = None
    metric: str | None = None
    for name, spec in schema["fields"].items():
        if not isinstance(spec, dict):
            raise ApiError(400, f"schema field '{name}' must be an object")
        kind = spec.get("type")
        if kind == "dense_vector":
            dims = spec.get("dimension")
            if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= MAX_DIMENSION:
                raise ApiError(
                    400, f"dense_vector field '{name}' needs a dimension between 1 and {MAX_DIMENSION}"
                )
            m = spec.get("metric", "cosine")
            if m not in METRICS:
                raise ApiError(
                    400, f"dense_vector field '{name}' has unknown metric {m!r}; use one of {METRICS}"
                )
            if name == DENSE_FIELD:
                dimension, metric = dims, m
        elif kind == "sparse_vector":
            pass
        elif kind == "string":
            if not any(k in spec for k in ("full_text_search", "embed", "sparse_embed")):
                raise ApiError(
                    400, f"string field '{name}' must be searchable (full_text_search, embed or sparse_embed)"
                )
        else:
            raise ApiError(400, f"schema field '{name}' has unsupported type {kind!r}")
    return dimension, metric, schema


def _normalise_schema(schema: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, spec in schema["fields"].items():
        out = dict(spec)
        if out.get("type") == "dense_vector":
            out.setdefault("metric", "cosine")
        out.setdefault("description", None)
        fields[name] = out
    return {"fields": fields}


def _check_deployment(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    if not isinstance(raw, dict):
        raise ApiError(400, "deployment must be an object")
    kind = raw.get("deployment_type")
    if kind == "managed":
        if not isinstance(raw.get("cloud"), str) or not isinstance(raw.get("region"), str):
            raise ApiError(400, "a managed deployment needs 'cloud' and 'region'")
        if raw["cloud"] not in ("aws", "gcp", "azure"):
            raise ApiError(400, f"unknown cloud {raw['cloud']!r}")
        return {"deployment_type": "managed", "cloud": raw["cloud"], "region": raw["region"]}
    if kind == "pod":
        for key in ("environment", "pod_type"):
            if not isinstance(raw.get(key), str):
                raise ApiError(400, f"a pod deployment needs '{key}'")
        return {
            "deployment_type": "pod",
            "environment": raw["environment"],
            "pod_type": raw["pod_type"],
            "replicas": int(raw.get("replicas", 1)),
            "shards": int(raw.get("shards", 1)),
        }
    if kind == "byoc":
        if not isinstance(raw.get("environment"), str):
            raise ApiError(400, "a byoc deployment needs 'environment'")
        return {"deployment_type": "byoc", "environment": raw["environment"]}
    raise ApiError(400, f"deployment_type must be 'managed', 'pod' or 'byoc', got {kind!r}")


def _check_tags(tags: Any) -> None:
    if not isinstance(tags, dict):
        raise ApiError(400, "tags must be an object of string values")
    if len(tags) > MAX_TAGS:
        raise ApiError(400, f"An index can have at most {MAX_TAGS} tags, got {len(tags)}")
    for key, value in tags.items():
        if not _TAG_KEY_RE.match(key):
            raise ApiError(400, f"Tag key {key!r} must be 1-80 characters of letters, digits, '_' or '-'")
        if not isinstance(value, str) or len(value) > 120 or not (value.isascii() and value.isprintable()):
            raise ApiError(400, f"Tag value for key {key!r} must be at most 120 printable ASCII characters")


def _scores(metric: str, mat: Vector, q: Vector) -> tuple[npt.NDArray[np.float64], bool]:
    m64, q64 = mat.astype(np.float64), q.astype(np.float64)
    if metric == "euclidean":
        return ((m64 - q64) ** 2).sum(axis=1), True
    dots = m64 @ q64
    if metric == "dotproduct":
        return dots, False
    norms = np.linalg.norm(m64, axis=1) * float(np.linalg.norm(q64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / norms, 0.0), False


def _metadata_out(metadata: Mapping[str, Any]) -> dict[str, Any]:
    # Numbers are doubles; like protobuf's JSON mapping, integral ones go out without a fraction.
    out: dict[str, Any] = {}
    for k, v in metadata.items():
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            out[k] = int(v)
        else:
            out[k] = v
    return out


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


# -- HTTP ------------------------------------------------------------------------------------------

_DATA_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/vectors/upsert"): "upsert",
    ("POST", "/query"): "query",
    ("GET", "/vectors/fetch"): "fetch",
    ("POST", "/vectors/delete"): "delete",
    ("POST", "/vectors/update"): "update",
    ("GET", "/vectors/list"): "list",
    ("POST", "/describe_index_stats"): "describe_index_stats",
    ("GET", "/describe_index_stats"): "describe_index_stats",
    ("POST", "/namespaces"): "create_namespace",
    ("GET", "/namespaces"): "list_namespaces",
}


class _Handler(BaseHTTPRequestHandler):
    emu: PineconeEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "pinecone-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _route(self, method: str, path: str) -> tuple[str, str | None, str | None, bool]:
        """(endpoint, index, resource name, is data plane) for a path."""
        parts = path.split("/")
        if path.startswith("/data/") and len(parts) >= 3:
            index = unquote(parts[2])
            rest = "/" + "/".join(parts[3:])
            if (method, rest) in _DATA_ROUTES:
                return _DATA_ROUTES[(method, rest)], index, None, True
            if rest.startswith("/namespaces/") and len(parts) == 5 and method in ("GET", "DELETE"):
                endpoint = "describe_namespace" if method == "GET" else "delete_namespace"
                return endpoint, index, unquote(parts[4]), True
            return "unknown", index, None, True
        if path == "/indexes":
            return {"GET": "list_indexes", "POST": "create_index"}.get(method, "unknown"), None, None, False
        if path.startswith("/indexes/") and len(parts) == 3:
            by_method = {"GET": "describe_index", "DELETE": "delete_index", "PATCH": "configure_index"}
            return by_method.get(method, "unknown"), None, unquote(parts[2]), False
        return "unknown", None, None, path.startswith("/data/")

    def _handle(self, method: str) -> None:
        emu = self.emu
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        endpoint, index, resource, data_plane = self._route(method, split.path)
        version = self.headers.get("X-Pinecone-Api-Version")
        status, payload, fault = 500, None, False
        extra_headers: dict[str, str] = {}
        try:
            if emu.latency:
                time.sleep(emu.latency)
            injected = emu._pick_fault(endpoint)
            if injected is not None:
                fault = True
                if injected == 429 and emu._retry_after is not None:
                    extra_headers["Retry-After"] = f"{emu._retry_after:g}"
                raise ApiError(injected, _fault_message(injected))
            key = self.headers.get("Api-Key")
            if not key or (not emu._accept_any_key and key != emu.api_key):
                raise ApiError(401, "Invalid API Key")
            if version != API_VERSION:
                raise ApiError(400, f"Unsupported API version {version!r}; this server speaks {API_VERSION}")
            if endpoint == "unknown":
                raise ApiError(404, f"Not found: {method} {split.path}")
            if data_plane and method in ("POST", "PATCH") and length > emu.max_request_bytes:
                raise ApiError(
                    413,
                    f"Request size {_mb(length)}MB exceeds the maximum supported size of "
                    f"{_mb(emu.max_request_bytes)}MB",
                )
            body = _parse(raw) if raw else None
            params = parse_qs(split.query, keep_blank_values=True)
            status, payload = self._dispatch(endpoint, index, resource, body, params)
        except ApiError as exc:
            status = exc.status
            if data_plane:
                payload = {"code": _GRPC.get(exc.status, 2), "message": exc.message, "details": []}
            else:
                payload = {
                    "error": {"code": _CONTROL_CODES.get(exc.status, "UNKNOWN"), "message": exc.message},
                    "status": exc.status,
                }
        except Exception as exc:  # a bug in the emulator: answer 500 and say what
            status = 500
            payload = {"code": 13, "message": f"emulator error: {exc!r}", "details": []}
        emu._record(
            RequestRecord(
                method=method,
                path=split.path,
                endpoint=endpoint,
                index=index,
                status=status,
                body_bytes=len(raw),
                url_bytes=len(self.path),
                api_version=version,
                fault=fault,
            )
        )
        out = b"" if payload is None else _dumps(payload)
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("x-pinecone-request-id", uuid.uuid4().hex)
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(out)

    def _dispatch(
        self,
        endpoint: str,
        index: str | None,
        resource: str | None,
        body: Any,
        params: dict[str, list[str]],
    ) -> tuple[int, Any]:
        emu = self.emu
        if index is None:
            if endpoint == "list_indexes":
                return emu.list_indexes()
            if endpoint == "create_index":
                return emu.create_index(body)
            assert resource is not None
            if endpoint == "describe_index":
                return emu.describe_index(resource)
            if endpoint == "delete_index":
                return emu.delete_index(resource)
            return emu.configure_index(resource, body)
        if endpoint in ("fetch", "list", "list_namespaces"):
            handler = {"fetch": emu.fetch, "list": emu.list_vectors, "list_namespaces": emu.list_namespaces}
            return handler[endpoint](index, params)
        if endpoint in ("describe_namespace", "delete_namespace"):
            assert resource is not None
            ns_handler = emu.describe_namespace if endpoint == "describe_namespace" else emu.delete_namespace
            return ns_handler(index, resource)
        body_handler = {
            "upsert": emu.upsert,
            "query": emu.query,
            "delete": emu.delete,
            "update": emu.update,
            "describe_index_stats": emu.describe_index_stats,
            "create_namespace": emu.create_namespace,
        }
        return body_handler[endpoint](index, body)


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from None


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f}" if size % (1024 * 1024) == 0 else f"{size / (1024 * 1024):.1f}"


def _fault_message(status: int) -> str:
    if status == 429:
        return "Too Many Requests: the request rate limit for this index was exceeded. Try again later."
    if status in (502, 503, 504):
        return "Service Unavailable: the service is temporarily unable to handle the request."
    return "Internal Server Error"


__all__ = ["API_VERSION", "PineconeEmulator", "RequestRecord"]
