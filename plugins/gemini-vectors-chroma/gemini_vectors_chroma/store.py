"""``ChromaStore``: gemini-vectors collections as Chroma collections, on chromadb.

Layout of one collection (see :mod:`.naming` for the names and :mod:`.filters` for the filters):

* one Chroma collection per gemini-vectors collection, HNSW with the cosine space, no embedding function
  (vectors come from gemini-vectors, never from Chroma's default model);
* the embedding spec and the user's collection name live in the collection's **metadata**
  (``{"gemini_vectors": "<json>"}``: Chroma metadata values are scalars), written in the request that
  creates the collection. They are read back and compared on every open and again before every write
  (:class:`~gemini_vectors.errors.SpecMismatchError` before anything is sent);
* a record per record: the Chroma id is the record id, the metadata the user's keys (lists as Chroma
  lists, an empty list left out) plus ``__gv_content_hash`` and ``__gv_keys`` (``""`` and the record's
  keys).

Chroma's upsert *merges* metadata into the stored record's; a replace must remove the keys the new
metadata lacks, so each batch first reads the stored keys of its ids and sends them as ``None``.

Writes go in batches of at most ``batch_size`` records (by default the client's
``get_max_batch_size()``). Transient failures (connection errors, 429/5xx, a locked SQLite) are retried with
backoff; a batch Chroma rejects is split in halves until the records it rejects are found, and those raise
one :class:`~gemini_vectors.errors.WriteError` naming them, after everything else was written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from gemini_vectors.backend_kit import (
    ClientFailures,
    call_with_retries,
    check_integer_option,
    check_recorded_owner,
    check_seconds_option,
    check_still_recorded,
    checked_record,
    chunks,
    collection_failure,
    describe_failure,
    refuse_unknown,
    write_isolating,
)
from gemini_vectors.errors import (
    ArgumentError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    WriteError,
)
from gemini_vectors.filters import Filter, MetadataValue
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Match, Record, StoreCollection, Vector, VectorStore, as_vector

from .filters import translate
from .naming import (
    FLOATS_KEY,
    HASH_KEY,
    INTERNAL_KEYS,
    KEYS_KEY,
    MAX_CHROMA_NAME,
    check_prefix,
    chroma_key_problem,
    chroma_name,
    escape_name,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The key of the collection metadata that holds what gemini-vectors records (as JSON).
METADATA_KEY = "gemini_vectors"
METADATA_FORMAT = 1
#: Ids per get or delete request.
ID_CHUNK = 1000
#: Words in a message that mark a failure worth repeating as it is.
TRANSIENT_WORDS = (
    "database is locked",
    "too many requests",
    "rate limit",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
    "temporarily unavailable",
)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call is worth repeating as it is (a dropped connection, overload, a locked file)."""
    import httpx
    from chromadb.errors import InternalError, RateLimitError

    transient = (httpx.TransportError, RateLimitError, InternalError, ConnectionError, TimeoutError)
    # chromadb wraps a refused connection in a ValueError ("Could not connect to a Chroma server")
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, transient):
            return True
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, ValueError | TypeError | KeyError):
        return False
    text = str(exc).lower()
    return any(word in text for word in TRANSIENT_WORDS)


def is_not_found(exc: BaseException) -> bool:
    """Whether a failed call says the collection does not exist."""
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError) or "does not exist" in str(exc).lower()


#: What a failure of the Chroma client means, for the kit's retries, bisection and errors.
FAILURES = ClientFailures("Chroma", log, is_transient=is_transient, is_not_found=is_not_found)


def _record_metadata(name: str, spec: EmbeddingSpec) -> dict[str, Any]:
    entry = {"format": METADATA_FORMAT, "name": name, "spec": spec.to_dict()}
    return {METADATA_KEY: json.dumps(entry, sort_keys=True)}


def _parse_metadata(metadata: Mapping[str, Any] | None) -> tuple[str, EmbeddingSpec] | None:
    """``(name, spec)`` from a collection's metadata, or None if gemini-vectors did not make it."""
    raw = (metadata or {}).get(METADATA_KEY)
    if not isinstance(raw, str):
        return None
    try:
        entry = json.loads(raw)
        return str(entry["name"]), EmbeddingSpec.from_dict(entry["spec"])
    except (ValueError, KeyError, TypeError):
        return None


def encode_metadata(meta: Mapping[str, MetadataValue], content_hash: str | None) -> dict[str, Any]:
    """A record's Chroma metadata: the user's keys (no empty list), the key list, the content hash."""
    out: dict[str, Any] = {k: v for k, v in meta.items() if not (isinstance(v, list) and not v)}
    out[KEYS_KEY] = ["", *sorted(meta)]
    floats = {k: repr(v) for k, v in meta.items() if isinstance(v, float)}
    if floats:
        # chromadb stores a float exactly (filters compare the exact value) but reads some back off by
        # one ulp (-943305.0469559873 as ...872): the exact text rides along for reads
        out[FLOATS_KEY] = json.dumps(floats, sort_keys=True)
    if content_hash is not None:
        out[HASH_KEY] = content_hash
    return out


def decode_metadata(stored: Mapping[str, Any] | None) -> tuple[dict[str, MetadataValue], str | None]:
    """The user's metadata and the content hash from a record's Chroma metadata."""
    stored = stored or {}
    meta: dict[str, MetadataValue] = {}
    keys = stored.get(KEYS_KEY)
    # chromadb 1.5 can hand a record list values it never had (left behind by a dropped collection's
    # records): the key list, written with every record, says which keys are the record's
    known = set(keys) if isinstance(keys, list) else None
    for key, value in stored.items():
        if key in INTERNAL_KEYS or value is None or (known is not None and key not in known):
            continue
        meta[key] = [str(v) for v in value] if isinstance(value, list) else value
    exact = stored.get(FLOATS_KEY)
    if isinstance(exact, str):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            for key, text in json.loads(exact).items():
                if isinstance(meta.get(key), float):
                    meta[key] = float(text)
    for key in keys if isinstance(keys, list) else ():
        if key and key not in meta:
            meta[key] = []  # an empty list: Chroma stores none, the key list remembers it
    content_hash = stored.get(HASH_KEY)
    return meta, content_hash if isinstance(content_hash, str) else None


class ChromaCollection(StoreCollection):
    """One gemini-vectors collection in its Chroma collection."""

    # Chroma ids are strings of any length (the engine keeps them in SQLite; 100,000 characters work).
    max_id_length = None

    def __init__(self, store: ChromaStore, name: str, spec: EmbeddingSpec, handle: Any) -> None:
        super().__init__(name, spec)
        self._store = store
        self._handle = handle
        self.chroma_name: str = handle.name

    def __repr__(self) -> str:
        return f"ChromaCollection({self.name!r}, chroma={self.chroma_name!r}, {self.spec.describe()})"

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return self._store._call(fn, *args, **kwargs)
        except Exception as exc:
            raise self._error(exc, what) from exc

    def _error(self, exc: BaseException, what: str) -> Exception:
        store = self._store
        return collection_failure(
            exc, FAILURES, what=what, name=self.name, native=self.chroma_name, url=store.url, said=store._said
        )

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id; see :class:`~gemini_vectors.store.StoreCollection`."""
        if not records:
            return
        latest: dict[str, tuple[Vector, dict[str, Any]]] = {}
        for pos, r in enumerate(records):
            vec, meta = checked_record(self, pos, r, shown_id_length=40)  # ids of any length
            for key in meta:
                problem = chroma_key_problem(key)
                if problem is not None:
                    raise MetadataError(
                        f"metadata of record {pos} ({r.id[:40]!r}): key {key!r} {problem}; rename the key"
                    )
            latest.pop(r.id, None)  # the last occurrence of an id wins
            # float32 arrays go to chromadb as they are: lists of Python floats cost ~15% of a bulk load
            latest[r.id] = (vec, encode_metadata(meta, r.content_hash))
        # The recorded spec is read again before the first write: a collection dropped and recreated for
        # another spec meanwhile must not receive these vectors.
        self._handle = self._store._check_recorded(self.name, self.spec)
        failures: dict[str, str] = {}
        for batch in chunks(list(latest.items()), self._store.effective_batch_size()):
            failures.update(self._send(batch))
        if failures:
            raise WriteError(
                f"Chroma did not store records of collection {self.name!r} ({self.chroma_name}) "
                f"in {self._store.url}",
                failures,
            )

    def _send(self, batch: Sequence[tuple[str, tuple[Vector, dict[str, Any]]]]) -> dict[str, str]:
        """Upsert one batch; returns the records not written, with the reason, bisecting a rejected batch."""
        store = self._store

        def send(part: Sequence[tuple[str, tuple[Vector, dict[str, Any]]]]) -> None:
            ids = [record_id for record_id, _ in part]
            # upsert merges metadata: the keys the stored record has and the new one lacks go as None
            old = store._call(self._handle.get, ids=ids, include=["metadatas"])
            stale = {i: set(m or ()) for i, m in zip(old["ids"], old["metadatas"] or [], strict=False)}
            metadatas = []
            for record_id, (_, meta) in part:
                removed = stale.get(record_id, set()) - set(meta)
                metadatas.append({**meta, **dict.fromkeys(removed)})
            store._call(
                self._handle.upsert,
                ids=ids,
                embeddings=[vec for _, (vec, _) in part],
                metadatas=metadatas,
            )

        return write_isolating(
            batch, send, FAILURES, fatal=self._fatal, said=store._said, unit="records", where=self.chroma_name
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
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        where = translate(filter)
        if where is False:
            return []
        include = ["metadatas", "distances", *(["embeddings"] if include_vectors else [])]
        res = self._call(
            "query",
            self._handle.query,
            query_embeddings=[q],
            n_results=k,
            where=None if where is True else where,
            include=include,
        )
        ids = res["ids"][0]
        distances = res["distances"][0]
        metadatas = (res.get("metadatas") or [[None] * len(ids)])[0]
        embeddings = res.get("embeddings")
        out: list[Match] = []
        for pos, record_id in enumerate(ids):
            meta, _ = decode_metadata(metadatas[pos])
            vec = np.asarray(embeddings[0][pos], dtype=np.float32) if include_vectors and embeddings else None
            # Chroma's cosine space returns the distance 1 - cos
            out.append(Match(record_id, 1.0 - float(distances[pos]), meta, vec))
        return out

    def _get(self, ids: Sequence[str], include: list[str]) -> dict[str, tuple[Any, Any]]:
        found: dict[str, tuple[Any, Any]] = {}
        for chunk in chunks(list(ids), ID_CHUNK):
            res = self._call("get", self._handle.get, ids=list(chunk), include=include)
            metadatas = res.get("metadatas") or [None] * len(res["ids"])
            embeddings = res.get("embeddings")
            for pos, record_id in enumerate(res["ids"]):
                vec = embeddings[pos] if embeddings is not None and "embeddings" in include else None
                found[record_id] = (metadatas[pos], vec)
        return found

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found = self._get(wanted, ["metadatas", *(["embeddings"] if include_vectors else [])])
        out = []
        for i in wanted:
            if i not in found:
                continue
            meta, content_hash = decode_metadata(found[i][0])
            raw = found[i][1]
            vec = np.asarray(raw, dtype=np.float32) if raw is not None else np.zeros(0, dtype=np.float32)
            out.append(Record(i, vec, meta, content_hash))
        return out

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id, without reading vectors."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = self._get(wanted, ["metadatas"])
        return {i: decode_metadata(found[i][0])[1] for i in wanted if i in found}

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both; unknown ids are ignored."""
        if ids:
            for chunk in chunks(list(dict.fromkeys(ids)), ID_CHUNK):
                self._call("delete", self._handle.delete, ids=list(chunk))
        if filter is not None:
            where = translate(filter)
            if where is False:
                return
            if where is True:
                self.clear()
                return
            self._call("delete", self._handle.delete, where=where)

    def clear(self) -> None:
        """Delete every record, keeping the collection and its spec."""
        while True:
            batch = self._call("clear", self._handle.get, limit=ID_CHUNK, include=[])["ids"]
            if not batch:
                return
            self._call("clear", self._handle.delete, ids=batch)

    # -- the rest ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of records in the collection."""
        return int(self._call("count", self._handle.count))

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id, fetched ``batch_size`` at a time."""
        size = max(1, int(batch_size))
        offset = 0
        while True:
            batch = self._call("iteration", self._handle.get, limit=size, offset=offset, include=[])["ids"]
            yield from batch
            if len(batch) < size:
                return
            offset += len(batch)

    def drop(self) -> None:
        """Delete the Chroma collection with its records and its spec.

        The records go first: chromadb 1.5 leaves the list values of a dropped collection's records behind
        (a later collection's records can inherit them), and deleting records removes them properly.
        """
        self.clear()
        self._call("drop", self._store.client.delete_collection, self.chroma_name)


class ChromaStore(VectorStore):
    """Chroma's embedded engine or a Chroma server as a gemini-vectors store.

    Args:
        client: A chromadb client (``PersistentClient``, ``HttpClient``, ``CloudClient``...).
        url: The URL it was opened with (kept without secrets, for messages).
        owns_client: Close ``client`` in :meth:`close`.
        collection_prefix: First part of the Chroma name of every collection (``""``: none).
        batch_size: Records per upsert request (None: the client's ``get_max_batch_size()``; never more).
        max_retries: How often a call that failed transiently is repeated.
        retry_backoff: Seconds before the first retry; doubled for each further one (with jitter).
        api_key: Only to keep it out of error messages (the client holds it).
    """

    name_length_unit = "characters once escaped for Chroma"

    def __init__(
        self,
        client: Any,
        *,
        url: str = "",
        owns_client: bool = True,
        collection_prefix: str = "",
        batch_size: int | None = None,
        max_retries: int = 5,
        retry_backoff: float = 0.5,
        api_key: str | None = None,
    ) -> None:
        if batch_size is not None:  # None: the client's get_max_batch_size()
            check_integer_option("batch_size", batch_size, low=1)
        check_integer_option("max_retries", max_retries, low=0)
        check_seconds_option("retry_backoff", retry_backoff)
        self.client = client
        self.url = url
        self._owns_client = owns_client
        self.collection_prefix = check_prefix(collection_prefix)
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self._api_key = api_key
        self._closed = False
        self._max_batch: int | None = None
        self.max_collection_name_length = MAX_CHROMA_NAME - len(self.collection_prefix)

    def __repr__(self) -> str:
        return f"ChromaStore({self.url!r}, collection_prefix={self.collection_prefix!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _said(self, exc: BaseException) -> str:
        """An exception's message, without the token (a client may echo request headers)."""
        return describe_failure(exc, secrets=[self._api_key])

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client, retrying transient failures with exponential backoff and full jitter."""
        if self._closed:
            raise StoreError(f"{self!r} is closed; connect again")
        return _with_retries(
            functools.partial(fn, *args, **kwargs),
            retries=self.max_retries,
            backoff=self.retry_backoff,
            said=self._said,
        )

    def effective_batch_size(self) -> int:
        """Records per upsert: ``batch_size``, never more than the client's ``get_max_batch_size()``."""
        if self._max_batch is None:
            self._max_batch = int(self._call(self.client.get_max_batch_size))
        return min(self.batch_size or self._max_batch, self._max_batch)

    def chroma_name(self, name: str) -> str:
        """The Chroma collection that holds collection ``name`` in this store."""
        return chroma_name(self.collection_prefix, name)

    def name_length(self, name: str) -> int:
        """The length of ``name`` once escaped for Chroma (the prefix is accounted for in the limit)."""
        return len(escape_name(name))

    def _handle(self, name: str) -> Any | None:
        """The chromadb ``Collection`` of ``name``, or None when there is none."""
        chroma = self.chroma_name(name)
        try:
            return self._call(self.client.get_collection, chroma, embedding_function=None)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise StoreError(
                f"reading Chroma collection {chroma} in {self.url} failed: {self._said(exc)}"
            ) from exc

    def _recorded(self, name: str) -> tuple[EmbeddingSpec, Any] | None:
        handle = self._handle(name)
        if handle is None:
            return None
        recorded = check_recorded_owner(
            _parse_metadata(handle.metadata), name, engine="Chroma", native=handle.name, url=self.url
        )
        return recorded[1], handle

    def _check_recorded(self, name: str, spec: EmbeddingSpec) -> Any:
        """The current handle of ``name``, after checking that its recorded spec is still ``spec``."""
        recorded = self._recorded(name)
        return check_still_recorded(
            recorded, spec, name=name, engine="Chroma", native=self.chroma_name(name)
        )[1]

    # -- the VectorStore contract -------------------------------------------------------------

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded in the metadata of ``name``'s Chroma collection, or None when there is none.

        Raises:
            StoreError: the Chroma collection exists but gemini-vectors did not make it for this name.
        """
        recorded = self._recorded(name)
        return recorded[0] if recorded is not None else None

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """Create the Chroma collection for ``name`` (cosine space) with the spec in its metadata."""
        chroma = self.chroma_name(name)
        try:
            handle = self._call(
                self.client.create_collection,
                chroma,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=_record_metadata(name, spec),
                embedding_function=None,
            )
        except Exception as exc:
            if "already exists" not in str(exc).lower():
                raise StoreError(
                    f"creating collection {name!r} ({chroma}) in {self.url} failed: {self._said(exc)}"
                ) from exc
            recorded = self._recorded(name)  # created by someone else meanwhile
            if recorded is None:
                raise StoreError(
                    f"creating collection {name!r} ({chroma}) failed: {self._said(exc)}"
                ) from exc
            if recorded[0] != spec:
                raise SpecMismatchError(name, recorded[0], spec) from None
            return ChromaCollection(self, name, recorded[0], recorded[1])
        return ChromaCollection(self, name, spec, handle)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """A handle on the existing collection ``name`` (its spec already checked)."""
        handle = self._check_recorded(name, spec)
        return ChromaCollection(self, name, spec, handle)

    def list_collections(self) -> list[str]:
        """The names of this store's gemini-vectors collections."""
        try:
            listed = self._call(self.client.list_collections)
        except Exception as exc:
            raise StoreError(f"listing the collections of {self.url} failed: {self._said(exc)}") from exc
        names = []
        for handle in listed:
            if not handle.name.startswith(self.collection_prefix):
                continue
            recorded = _parse_metadata(handle.metadata)
            if recorded is not None and self.chroma_name(recorded[0]) == handle.name:
                names.append(recorded[0])
        return sorted(names)

    def close(self) -> None:
        """Close the client if this store opened it.

        chromadb counts the clients of one path (or server) in a process and stops the shared engine with
        the last one, so closing one store leaves the others of the path working.
        """
        if self._closed:
            return
        self._closed = True
        close = getattr(self.client, "close", None) if self._owns_client else None
        if callable(close):
            close()


def _with_retries(
    call: Callable[[], T], *, retries: int, backoff: float, said: Callable[[BaseException], str]
) -> T:
    """``call()``, repeated after a transient Chroma failure, up to ``retries`` times."""
    return call_with_retries(call, FAILURES, retries=retries, backoff=backoff, said=said)


STORE_OPTIONS = ("collection_prefix", "batch_size", "max_retries", "retry_backoff")


def connect_chroma(url: str, /, **options: Any) -> ChromaStore:
    """The factory behind ``chroma://``, ``chroma+http://`` and ``chroma+https://``.

    Options:
        client: An existing chromadb client to use (not closed by the store).
        api_key: The token for a server (default: ``CHROMA_API_KEY``), sent as ``x-chroma-token``.
        collection_prefix, batch_size, max_retries, retry_backoff: See :class:`ChromaStore`.

    Raises:
        ConfigurationError: a bad URL or option.
        StoreError: the server could not be reached.
    """
    from .connection import api_key_for, open_client, parse_url

    refuse_unknown(options, {"client", "api_key", *STORE_OPTIONS})
    endpoint = parse_url(url)
    store_options = {k: options[k] for k in STORE_OPTIONS if k in options}
    ChromaStore(None, owns_client=False, **store_options)  # refuse bad options before connecting
    client = options.get("client")
    if client is not None:
        return ChromaStore(client, url=endpoint.safe_url, owns_client=False, **store_options)
    if endpoint.embedded and "api_key" in options:
        raise ConfigurationError("chroma:// runs in process: it takes no api_key")
    api_key = None if endpoint.embedded else api_key_for(options.get("api_key"))

    def said(exc: BaseException) -> str:
        return describe_failure(exc, secrets=[api_key])

    try:
        # HttpClient asks the server for its tenant and database at once: a refused connection is retried
        client = _with_retries(
            functools.partial(open_client, endpoint, api_key=api_key),
            retries=int(store_options.get("max_retries", 5)),
            backoff=float(store_options.get("retry_backoff", 0.5)),
            said=said,
        )
    except Exception as exc:
        raise StoreError(f"could not connect to Chroma at {endpoint.safe_url}: {said(exc)}") from None
    return ChromaStore(client, url=endpoint.safe_url, api_key=api_key, **store_options)
