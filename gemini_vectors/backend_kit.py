"""The plumbing a backend plugin wraps around its database client, in one place for every backend.

A backend (``gemini_vectors_qdrant``, ``gemini_vectors_chroma``, ``gemini_vectors_milvus``, or yours)
talks to its database through a client library. What it must do around those calls is the same
everywhere, and each piece keeps a guarantee, so it lives here once and every backend calls it:

* :class:`ClientFailures`: what a backend's client failures mean (transient, collection not found,
  the server's requested delay), said once per backend and passed to the functions below.
* :func:`call_with_retries`: a call that failed transiently (a rate limit, an overloaded server, a
  dropped connection) is repeated with exponential backoff and full jitter, honouring a server's
  ``Retry-After``; any other failure is raised at once (guarantee 3: a failure of the request is never
  taken for a failure of its content).
* :func:`grpc_code` and :data:`TRANSIENT_GRPC_CODES`: the status of a failed gRPC call, and the
  statuses worth repeating the call for, for a backend whose client speaks gRPC (Qdrant, Milvus).
* :func:`describe_failure`: the text of a client's exception with the store's secrets taken out, for
  logs and error messages (guarantee 4).
* :func:`batches_by_size` and :func:`chunks`: records cut into requests under the engine's limits on
  rows and bytes per request, ids into requests of a bounded length.
* :func:`write_isolating`: a batch the engine rejects is split in halves until the records it rejects
  are found; those are reported by id with the reason, everything else is written (a write never drops
  a record silently, and never fails whole for one bad record). A failure that concerns the whole
  collection (it was dropped) or that is still transient after the retries is never bisected.
* :func:`checked_record`: each record of an upsert is checked before anything is sent (a non-empty
  string id within the backend's limit, a finite vector of the spec's length, portable metadata),
  and a bad one is refused naming its position and id (guarantee 5).
* :func:`check_recorded_owner` and :func:`check_still_recorded`: what a backend recorded with a
  collection (its name and embedding spec) is checked on open and again before every write, so that a
  collection made by something else, or dropped and recreated for another spec meanwhile, never
  receives these vectors (guarantee 2: two specs never meet in one collection).
* :func:`collection_failure`: a client's failure on a collection becomes the error a user can act on
  (:class:`~gemini_vectors.errors.CollectionNotFoundError` when it was dropped, else a
  :class:`~gemini_vectors.errors.StoreError` naming the operation, the collection and the store,
  without secrets).
* :func:`check_integer_option` and :func:`check_seconds_option`: a store's numeric options (batch
  sizes, retries, backoff) are refused when out of range, by name, before anything connects
  (guarantee 5).
* :func:`split_store_url`: a store URL is split once, and a password, a key or a token in it is refused
  before anything connects (guarantee 4: a secret in a URL ends up in logs and shell histories);
  :func:`refuse_unknown` names the options or parameters a backend does not know, and the ones it does.
* :class:`SharedClients`: an engine that runs in process and allows one client per directory or file
  (qdrant-client's local mode, Milvus Lite) gets one client per place, shared by every store that
  connects to it in the process, counted, and closed with the last store that releases it.

The backend keeps what only it knows: which of its client's exceptions are transient, what its
requests look like. The functions here take those as callables, so they can be tested with plain
functions that fail on cue, and so can a backend that uses them.

A third-party backend describes its client's failures once, and uses the functions like this::

    from gemini_vectors.backend_kit import ClientFailures, call_with_retries, describe_failure

    MYDB = ClientFailures("MyDB", logging.getLogger(__name__), is_transient=mydb_is_transient)

    class MyStore(VectorStore):
        def _said(self, exc: BaseException) -> str:
            return describe_failure(exc, secrets=[self._api_key])

        def _call(self, fn, *args, **kwargs):
            return call_with_retries(
                functools.partial(fn, *args, **kwargs),
                MYDB,
                retries=self.max_retries,
                backoff=self.retry_backoff,
                said=self._said,
            )

This module imports only lower layers of gemini-vectors (errors, redaction, spec, filters, store), never
a plugin.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import SplitResult, parse_qsl, urlsplit

from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
)
from gemini_vectors.filters import MetadataValue, validate_metadata
from gemini_vectors.redaction import is_secret_parameter, redact_text
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record, StoreCollection, Vector, as_vector

__all__ = [
    "TRANSIENT_GRPC_CODES",
    "ClientFailures",
    "SharedClient",
    "SharedClients",
    "StoreURL",
    "batches_by_size",
    "call_with_retries",
    "check_integer_option",
    "check_recorded_owner",
    "check_seconds_option",
    "check_still_recorded",
    "checked_record",
    "chunks",
    "collection_failure",
    "describe_failure",
    "grpc_code",
    "refuse_unknown",
    "split_store_url",
    "write_isolating",
]

T = TypeVar("T")
K = TypeVar("K")
P = TypeVar("P")
C = TypeVar("C")
#: What a backend read back from a collection: a tuple whose first item is the recorded name or spec.
R = TypeVar("R", bound=tuple[Any, ...])


#: gRPC statuses worth repeating a call for as it is: the server is unreachable or restarting, over a
#: quota, slower than the deadline, or aborted the call in a conflict.
TRANSIENT_GRPC_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED"})


def grpc_code(exc: BaseException) -> str | None:
    """The name of a failed gRPC call's status code (``"UNAVAILABLE"``), or None for another exception.

    grpcio's ``RpcError`` has a ``code()`` method that returns a ``StatusCode``; clients that wrap it
    often keep the method. The name is read without importing grpc.
    """
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            value = code()
        except Exception:
            return None
        return str(getattr(value, "name", value))
    return None


def _never(exc: BaseException) -> bool:
    return False


def _no_delay(exc: BaseException) -> float | None:
    return None


@dataclass(frozen=True)
class ClientFailures:
    """What a backend's client failures mean: said once per backend, passed to the kit's functions.

    Attributes:
        engine: The database's name, the first word of log lines and messages (``"Qdrant"``).
        log: The backend's logger (users set its level); retries and splits are logged at INFO.
        is_transient: Whether a failure is worth repeating the call as it is (rate limit, overload, a
            dropped connection); the backend knows its client's exceptions.
        is_not_found: Whether a failure says the collection does not exist (default: never).
        server_delay: The seconds a failure says to wait before the next try (``Retry-After``), or None
            when it says nothing (default: never says).
    """

    engine: str
    log: logging.Logger
    is_transient: Callable[[BaseException], bool]
    is_not_found: Callable[[BaseException], bool] = _never
    server_delay: Callable[[BaseException], float | None] = _no_delay


def describe_failure(exc: BaseException, *, secrets: Iterable[str | None] = ()) -> str:
    """``"ExceptionType: message"`` of a client's exception, with every one of ``secrets`` redacted.

    A client may echo its request headers or connection details in an exception, so this is the only
    form in which a backend puts a client's exception into a log line or an error message.
    """
    return redact_text(f"{type(exc).__name__}: {exc}".strip(), secrets=list(secrets))


def call_with_retries(
    call: Callable[[], T],
    failures: ClientFailures,
    *,
    retries: int,
    backoff: float,
    said: Callable[[BaseException], str],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, repeated after each transient failure, up to ``retries`` more times.

    A failure is transient when ``failures.is_transient`` says so. The wait before retry ``n``
    (1-based) is what the server asked for when ``failures.server_delay`` finds it in the exception (a
    ``Retry-After`` header), else a random time between 0 and ``backoff * 2 ** (n - 1)`` seconds (full
    jitter: stores that failed together do not retry together). Each retry is logged at INFO on
    ``failures.log`` as ``"<engine> call failed transiently (...)"`` with the exception as ``said``
    gives it (without secrets).

    Args:
        call: The request, without arguments (``functools.partial(client.upsert, ...)``).
        failures: What the backend's client failures mean.
        retries: How many times to repeat it at most (0: never).
        backoff: Seconds of the first backoff ceiling; doubled for each further retry.
        said: The text of an exception for the log (see :func:`describe_failure`).
        sleep: How to wait (``time.sleep``; a test may pass a function that records the delays).

    Raises:
        Exception: The last failure, unchanged: a failure that is not transient at once, a transient
            one once the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not failures.is_transient(exc) or attempt >= retries:
                raise
            delay = failures.server_delay(exc)
            if delay is None:
                delay = random.uniform(0, backoff * 2**attempt)
            attempt += 1
            failures.log.info(
                "%s call failed transiently (%s); retry %d in %.2fs",
                failures.engine,
                said(exc),
                attempt,
                delay,
            )
            sleep(delay)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (ids per get or delete request)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches_by_size(
    items: Iterable[tuple[K, P, int]], *, max_items: int, max_bytes: int | None = None
) -> Iterator[list[tuple[K, P]]]:
    """``(id, payload)`` pairs in request batches of at most ``max_items`` and ``max_bytes``.

    Each item is ``(id, payload, size)``, its size what it adds to a request (an estimate the backend
    makes). A batch closes before the item that would pass either limit; an item larger than
    ``max_bytes`` on its own goes alone (a backend refuses such a record by name before it gets here).
    """
    batch: list[tuple[K, P]] = []
    batch_bytes = 0
    for key, payload, size in items:
        over_bytes = max_bytes is not None and batch_bytes + size > max_bytes
        if batch and (len(batch) >= max_items or over_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((key, payload))
        batch_bytes += size
    if batch:
        yield batch


def write_isolating(
    batch: Sequence[tuple[str, P]],
    send: Callable[[Sequence[tuple[str, P]]], str | None],
    failures: ClientFailures,
    *,
    fatal: Callable[[BaseException], BaseException | None],
    said: Callable[[BaseException], str],
    unit: str,
    where: str,
) -> dict[str, str]:
    """Send one batch; the ids of its records that were not written, each with the reason.

    ``send(batch)`` writes a batch of ``(record id, payload)`` (retrying transient failures itself,
    e.g. through :func:`call_with_retries`) and returns None when every record was written, or a reason
    when the engine answered that some were not; it raises when the engine refused the request.

    A batch that failed is split in halves, and each half sent again, until the records that fail are
    found one by one (a batch of n records with one bad record costs about 2 log2(n) more requests).
    A batch is not split but reported whole when its failure is transient (the retries are spent: its
    records are as good as any, none is dropped), and its failure is raised as what ``fatal`` returns
    when that is not None.

    Args:
        batch: The batch, e.g. one of :func:`batches_by_size`.
        send: Writes one batch (see above).
        failures: What the backend's client failures mean (transient ones are not split; each split is
            logged at INFO on its logger).
        fatal: The error to raise instead of isolating anything (the collection does not exist, so no
            record can be written), or None for a failure of this batch.
        said: The text of an exception for the reasons and the log (see :func:`describe_failure`).
        unit: What the engine calls a record, for the log (``"points"``, ``"rows"``).
        where: The engine's name of the collection, for the log.

    Raises:
        Exception: What ``fatal`` returned, from the failure it was returned for.
    """
    if not batch:
        return {}
    try:
        reason = send(batch)
        if reason is None:
            return {}
        if len(batch) == 1:
            return {batch[0][0]: reason}
    except Exception as exc:
        error = fatal(exc)
        if error is not None:
            raise error from exc
        reason = said(exc)
        if failures.is_transient(exc) or len(batch) == 1:
            # still failing after the retries: every record of the batch is reported, none dropped
            return {record_id: reason for record_id, _ in batch}
    failures.log.info(
        "%s rejected a batch of %d %s in %s; bisecting: %s", failures.engine, len(batch), unit, where, reason
    )
    half = len(batch) // 2
    again = functools.partial(
        write_isolating, send=send, failures=failures, fatal=fatal, said=said, unit=unit, where=where
    )
    return {**again(batch[:half]), **again(batch[half:])}


def check_integer_option(name: str, value: object, *, low: int, high: int | None = None) -> int:
    """``value`` when it is an integer (not a bool) from ``low`` to ``high`` (None: no upper bound).

    Raises:
        ConfigurationError: ``batch_size must be an integer of at least 1, got 0`` (or ``between 1,024
            and 67,108,864`` with a ``high``).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"between {low:,} and {high:,}" if high is not None else f"of at least {low}"
        raise ConfigurationError(f"{name} must be an integer {bounds}, got {value!r}")
    return value


def check_seconds_option(name: str, value: object) -> float:
    """``value`` as a float when it is a number of seconds >= 0.

    Raises:
        ConfigurationError: ``retry_backoff must be a number of seconds >= 0, got -1``.
    """
    if not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def checked_record(
    collection: StoreCollection, pos: int, record: Record, *, shown_id_length: int | None = None
) -> tuple[Vector, dict[str, MetadataValue]]:
    """The vector and metadata of record ``pos`` of an upsert into ``collection``, checked.

    Args:
        collection: The backend's collection (its spec gives the vector length, its
            :meth:`~gemini_vectors.store.StoreCollection.check_ids` the id limit).
        pos: The record's position in the upsert, for the message.
        record: The record.
        shown_id_length: Show at most this many characters of the id in a message (None: all of it),
            for an engine whose ids may be very long.

    Raises:
        MetadataError: the id is not a non-empty string, or too long for the backend; the metadata is
            not portable.
        ArgumentError: the vector has the wrong length or is not finite (as
            :func:`~gemini_vectors.store.as_vector` says).
    """
    record_id = record.id
    if not isinstance(record_id, str) or not record_id:
        raise MetadataError(f"record {pos}: ids are non-empty strings, got {record_id!r}")
    collection.check_ids([record_id], what="record", offset=pos)
    shown = record_id if shown_id_length is None else record_id[:shown_id_length]
    vector = as_vector(record.vector, collection.spec.dimensions, what=f"vector of record {pos} ({shown!r})")
    metadata = validate_metadata(record.metadata, where=f"metadata of record {pos} ({shown!r})")
    return vector, metadata


def check_recorded_owner(
    recorded: R | None, name: str, *, engine: str, native: str, url: str, holder: str = "its metadata carries"
) -> R:
    """``recorded``, after checking that it is gemini-vectors' record of collection ``name``.

    Args:
        recorded: What the backend parsed from the engine's collection ``native``: a tuple whose first
            item is the recorded collection name (the rest is the backend's: spec, plan...), or None
            when the collection carries no gemini-vectors record.
        name: The collection asked for.
        engine: The database's name (``"Qdrant"``).
        native: The engine's name of the collection.
        url: The store's URL, without secrets.
        holder: Where the engine keeps the record, with its verb (``"its metadata carries"``,
            ``"its properties carry"``).

    Raises:
        StoreError: the collection was not made by gemini-vectors, or holds another collection (two
            names that escape to one engine name), with what to do.
    """
    if recorded is None:
        raise StoreError(
            f"{engine} collection {native} in {url} exists but is not a gemini-vectors collection ({holder} "
            "no embedding spec); choose another collection name or collection_prefix"
        )
    if recorded[0] != name:
        raise StoreError(
            f"{engine} collection {native} holds gemini-vectors collection {recorded[0]!r}, not {name!r}"
        )
    return recorded


def check_still_recorded(
    recorded: R | None, spec: EmbeddingSpec, *, name: str, engine: str, native: str
) -> R:
    """``recorded``, after checking that collection ``name`` still exists and still holds ``spec``.

    A backend calls it with what it reads back from the engine just before a write (or before changing
    what it recorded), not with what it read on open: the collection may have been dropped, or dropped
    and recreated for another spec, since.

    Args:
        recorded: A tuple whose first item is the spec recorded now, or None when the collection is gone.
        spec: The spec of the vectors at hand.
        name: The collection.
        engine: The database's name (``"Qdrant"``).
        native: The engine's name of the collection.

    Raises:
        CollectionNotFoundError: the collection no longer exists.
        SpecMismatchError: it holds another spec now.
    """
    if recorded is None:
        raise CollectionNotFoundError(
            f"collection {name!r} ({engine} collection {native}) no longer exists; open it again to "
            "recreate it"
        )
    if recorded[0] != spec:
        raise SpecMismatchError(name, recorded[0], spec)
    return recorded


def collection_failure(
    exc: BaseException,
    failures: ClientFailures,
    *,
    what: str,
    name: str,
    native: str,
    url: str,
    said: Callable[[BaseException], str],
) -> Exception:
    """The error to raise for a client call on collection ``name`` that failed with ``exc``.

    An error of gemini-vectors' own that says what is wrong (a :class:`StoreError`, a bad argument or
    metadata) is kept; a failure that says the collection does not exist (``failures.is_not_found``)
    becomes a
    :class:`CollectionNotFoundError`; anything else a :class:`StoreError` naming the operation
    (``what``), the collection and the store. The caller raises it ``from exc``.
    """
    if isinstance(exc, StoreError | ArgumentError | MetadataError):
        return exc
    engine = failures.engine
    if failures.is_not_found(exc):
        return CollectionNotFoundError(
            f"collection {name!r} ({engine} collection {native}) does not exist; it was dropped, open it "
            "again to recreate it"
        )
    return StoreError(f"{engine} {what} on collection {name!r} ({native}) in {url} failed: {said(exc)}")


@dataclass(frozen=True)
class StoreURL:
    """A store URL split by :func:`split_store_url`, its secrets refused.

    Attributes:
        scheme: The scheme, lower-cased (one of the backend's).
        parts: ``urlsplit`` of the URL.
        port: The port, or None when the URL names none.
        params: The query parameters (the last of a repeated one), blank values kept.
    """

    scheme: str
    parts: SplitResult
    port: int | None
    params: dict[str, str]


def split_store_url(url: str, *, engine: str, schemes: Sequence[str], secret: str, instead: str) -> StoreURL:
    """Split a store URL of one of ``schemes``, refusing credentials and secret parameters in it.

    Args:
        url: The URL.
        engine: The database's name, for "not a <engine> URL".
        schemes: The schemes the backend serves.
        secret: What the backend's secret is called, with its article (``"an API key"``, ``"a token"``).
        instead: Where the secret goes instead (``"set QDRANT_API_KEY or pass api_key=..."``).

    Raises:
        ConfigurationError: not a URL, a scheme not in ``schemes``, a user or password in it, or a
            query parameter named like a secret (see :func:`gemini_vectors.redaction.is_secret_parameter`).
            The message names the parameters, never their values.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"not a {engine} URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ConfigurationError(f"unsupported scheme {parts.scheme!r}; use one of {', '.join(schemes)}")
    if parts.username or parts.password:
        raise ConfigurationError(f"credentials do not go into a {scheme}:// URL; {instead}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    secrets = sorted(k for k in params if is_secret_parameter(k))
    if secrets:
        raise ConfigurationError(
            f"{secret} does not go into a {scheme}:// URL (found {', '.join(secrets)}); {instead}"
        )
    return StoreURL(scheme, parts, port, params)


def refuse_unknown(
    given: Iterable[str],
    known: Iterable[str],
    *,
    what: str = "option",
    where: str = "",
    shown: Sequence[str] | None = None,
) -> None:
    """Refuse the names in ``given`` that are not ``known``, naming them and the known ones.

    Args:
        given: The names given (a ``connect()``'s keywords, a URL's parameters).
        known: The names the backend takes.
        what: What a name is, for the message (``"option"``, ``"parameter"``).
        where: Where they were given, for the message (``" in a qdrant:// URL"``).
        shown: The known names to list, in their order (default: ``known``, sorted).

    Raises:
        ConfigurationError: ``unknown option(s) a, b; known: c, d``.
    """
    names = set(known)
    unknown = sorted(set(given) - names)
    if unknown:
        listed = ", ".join(shown if shown is not None else sorted(names))
        raise ConfigurationError(f"unknown {what}(s) {', '.join(unknown)}{where}; known: {listed}")


class SharedClient(Generic[C]):
    """One in-process engine's client, shared by every store of one place (a directory, a file, a name).

    Attributes:
        key: The place, as the backend names it (``("qdrant+local", "/var/qdrant")``).
        client: The client.
        users: How many stores hold it now.
        lock: A lock for callers of a client that is not safe for concurrent use (re-entrant); a
            backend whose client is thread-safe ignores it.
        lives_with_process: Never closed, kept for the next store (a named in-memory engine keeps its
            data as long as the process does, as ``memory://NAME`` does).
    """

    def __init__(self, key: Hashable, client: C, *, lives_with_process: bool = False) -> None:
        self.key = key
        self.client = client
        self.users = 0
        self.lock = threading.RLock()
        self.lives_with_process = lives_with_process

    def __repr__(self) -> str:
        return f"SharedClient({self.key!r}, users={self.users})"


class SharedClients(Generic[C]):
    """The shared clients of one backend in this process: a module-level instance per backend.

    Args:
        close: Closes a client whose last user released it (and whatever the engine leaves behind,
            such as Milvus Lite's server process). Called outside the registry's lock.
    """

    def __init__(self, close: Callable[[SharedClient[C]], None]) -> None:
        self._close = close
        self._clients: dict[Hashable, SharedClient[C]] = {}
        self._lock = threading.Lock()

    def acquire(
        self,
        key: Hashable,
        open_client: Callable[[], C],
        *,
        shared: bool = True,
        lives_with_process: bool = False,
    ) -> SharedClient[C]:
        """The client of ``key``, opened by ``open_client()`` on first use; one more user counted.

        ``open_client`` runs under the registry's lock, so two stores connecting to one place at once
        never open two clients (the engine would refuse the second, or corrupt its files). A failure
        of ``open_client`` is raised as it is, and nothing is registered.

        Args:
            key: The place.
            open_client: Opens a new client for it.
            shared: False: a client for this store alone (an unnamed in-memory engine), not registered,
                closed by its :meth:`release`.
            lives_with_process: See :class:`SharedClient`.
        """
        with self._lock:
            entry = self._clients.get(key) if shared else None
            if entry is None:
                entry = SharedClient(key, open_client(), lives_with_process=lives_with_process)
                if shared:
                    self._clients[key] = entry
            entry.users += 1
            return entry

    def release(self, entry: SharedClient[C]) -> None:
        """Give back a client acquired from this registry; the last user closes it."""
        with self._lock:
            entry.users -= 1
            if entry.users > 0 or entry.lives_with_process:
                return
            if self._clients.get(entry.key) is entry:
                del self._clients[entry.key]
        self._close(entry)

    def __contains__(self, key: Hashable) -> bool:
        """Whether a client of ``key`` is open and registered now."""
        with self._lock:
            return key in self._clients
