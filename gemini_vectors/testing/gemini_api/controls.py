"""The knobs and counters of the emulator: faults to inject, limits to enforce, what it saw."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, fields

MiB = 1024 * 1024


@dataclass
class Faults:
    """Faults the emulator injects into embedding calls; change them at any time, even mid-run.

    Each call reads the current values once when it arrives, so assigning an attribute from another
    thread is safe. Random draws come from one generator seeded with ``seed`` (re-seeded whenever
    ``seed`` is assigned), so a sequential run sees the same faults every time.

    Attributes:
        latency: Seconds every embedding call sleeps before it is answered.
        rate_429: Probability that a call is answered 429 RESOURCE_EXHAUSTED.
        retry_after: Seconds put into ``Retry-After`` (rounded up) and RetryInfo of 429/503 answers.
        rate_503: Probability that a call is answered 503 UNAVAILABLE.
        rate_short: Probability that a successful reply drops its last embedding.
        rpm: Requests-per-minute quota: a call that would be the (rpm+1)-th admitted call within a
            sliding 60 s window is answered 429 (rejected calls do not count against the window).
        reject_texts_containing: When a request's text contains this marker, the whole call is answered
            400 INVALID_ARGUMENT naming that request's index, as the API rejects a batch for one item.
        seed: Seed of the fault draws.
        batch_seconds: How long a Batch Mode job stays PENDING and then RUNNING (each half).
        batch_end_state: The state a Batch Mode job ends in: ``SUCCEEDED``, ``FAILED`` or ``EXPIRED``.
        file_processing_seconds: How long an uploaded file stays PROCESSING before it is ACTIVE; using
            it before then is answered 400 FAILED_PRECONDITION, as Google does for fresh videos.
        daily_quota: Requests per day of the project (each content of a batch counts as one request,
            as Google counts them): a call that would pass it is answered 429 RESOURCE_EXHAUSTED with a
            ``google.rpc.QuotaFailure`` naming the per-day quota
            (``EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier``) and, as Google does, a
            short RetryInfo that retrying cannot honour. The day is the emulator's life (``reset()``
            starts a new one).
        permission_denied: An ErrorInfo reason: every call (embedding, files, batches) is answered 403
            PERMISSION_DENIED with Google's body for it: ``SERVICE_DISABLED`` (the project has not
            enabled the Generative Language API), ``API_KEY_SERVICE_BLOCKED`` (the key's API
            restrictions), ``CONSUMER_SUSPENDED`` (whose message echoes the key, as Google's does), or
            any other reason with a generic message.
        unauthenticated: Every call is answered 401 UNAUTHENTICATED ``CREDENTIALS_MISSING``, as Vertex
            AI answers a key where it needs OAuth credentials.
        retired_models: Model ids answered 404 NOT_FOUND like a model that does not exist, as Google
            answers for a shut-down model.
    """

    latency: float = 0.0
    rate_429: float = 0.0
    retry_after: float = 1.0
    rate_503: float = 0.0
    rate_short: float = 0.0
    rpm: int | None = None
    reject_texts_containing: str | None = None
    seed: int = 0
    batch_seconds: float = 0.5
    batch_end_state: str = "SUCCEEDED"
    file_processing_seconds: float = 0.0
    daily_quota: int | None = None
    permission_denied: str | None = None
    unauthenticated: bool = False
    retired_models: tuple[str, ...] = ()

    def reset(self) -> None:
        """Turn every fault off again (back to the defaults)."""
        for f in fields(self):
            setattr(self, f.name, f.default)


@dataclass
class Limits:
    """Request limits the emulator enforces with 400 INVALID_ARGUMENT, as Google documents them.

    Attributes:
        max_batch_requests: Requests in one ``batchEmbedContents`` call.
        max_request_bytes: Bytes of one HTTP request body (Google answers 400 "Request payload size
            exceeds the limit" above 20 MB).
        max_batch_job_bytes: Bytes of the inlined requests of one Batch Mode job.
        max_upload_bytes: Bytes of one file uploaded through the File API (2 GB at Google).
    """

    max_batch_requests: int = 100
    max_request_bytes: int = 20 * MiB
    max_batch_job_bytes: int = 20 * MiB
    max_upload_bytes: int = 2048 * MiB

    def reset(self) -> None:
        """Back to Google's limits."""
        for f in fields(self):
            setattr(self, f.name, f.default)


@dataclass
class _Counts:
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    embed_requests: int = 0
    embedded: int = 0
    call_sizes: list[tuple[int, int]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    batch_jobs: int = 0
    batch_requests: int = 0
    uploads: int = 0
    file_deletes: int = 0


class Stats:
    """Counters of what the emulator received; safe to read while calls are in flight.

    Every property returns a snapshot (a copy), never a live view.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c = _Counts()
        self._files_stored = 0

    def reset(self) -> None:
        """Zero every counter (stored files stay; their number is state, not a counter)."""
        with self._lock:
            self._c = _Counts()

    @property
    def calls(self) -> dict[str, int]:
        """HTTP calls by endpoint, e.g. ``{"batchEmbedContents": 3, "files.upload": 1}``."""
        with self._lock:
            return dict(self._c.calls)

    @property
    def total_calls(self) -> int:
        """Every HTTP call, whatever its endpoint and answer."""
        with self._lock:
            return sum(self._c.calls.values())

    @property
    def embed_calls(self) -> int:
        """Online embedding calls (``batchEmbedContents``, ``embedContent``, ``predict``)."""
        with self._lock:
            return sum(self._c.calls[k] for k in ("batchEmbedContents", "embedContent", "predict"))

    @property
    def statuses(self) -> dict[int, int]:
        """Answers by HTTP status code."""
        with self._lock:
            return dict(self._c.statuses)

    @property
    def embed_requests(self) -> int:
        """Contents received in online embedding calls (one request is one content)."""
        with self._lock:
            return self._c.embed_requests

    @property
    def embedded(self) -> int:
        """Vectors sent back in successful online replies."""
        with self._lock:
            return self._c.embedded

    @property
    def call_sizes(self) -> list[tuple[int, int]]:
        """``(requests, body bytes)`` of every online embedding call whose body could be parsed."""
        with self._lock:
            return list(self._c.call_sizes)

    @property
    def keys_seen(self) -> frozenset[str]:
        """API keys that reached the emulator (never shown in a repr)."""
        with self._lock:
            return frozenset(self._c.keys)

    @property
    def batch_jobs(self) -> int:
        """Batch Mode jobs created."""
        with self._lock:
            return self._c.batch_jobs

    @property
    def batch_requests(self) -> int:
        """Requests received inside Batch Mode jobs (not counted in ``embed_requests``)."""
        with self._lock:
            return self._c.batch_requests

    @property
    def uploads(self) -> int:
        """Files whose upload was finalized."""
        with self._lock:
            return self._c.uploads

    @property
    def file_deletes(self) -> int:
        """Files deleted through the File API."""
        with self._lock:
            return self._c.file_deletes

    @property
    def files_stored(self) -> int:
        """Files currently stored (uploaded and not yet deleted)."""
        with self._lock:
            return self._files_stored

    def __repr__(self) -> str:
        with self._lock:
            c = self._c
            return (
                f"Stats(calls={dict(c.calls)}, embed_requests={c.embed_requests}, embedded={c.embedded}, "
                f"statuses={dict(c.statuses)}, batch_jobs={c.batch_jobs}, uploads={c.uploads}, "
                f"files_stored={self._files_stored}, keys_seen={len(c.keys)})"
            )

    # Recording, used by the emulator only.

    def _record_call(self, endpoint: str, key: str | None) -> None:
        with self._lock:
            self._c.calls[endpoint] += 1
            if key:
                self._c.keys.add(key)

    def _record_status(self, status: int) -> None:
        with self._lock:
            self._c.statuses[status] += 1

    def _record_embed_call(self, requests: int, size: int) -> None:
        with self._lock:
            self._c.embed_requests += requests
            self._c.call_sizes.append((requests, size))

    def _record_embedded(self, vectors: int) -> None:
        with self._lock:
            self._c.embedded += vectors

    def _record_batch_job(self, requests: int) -> None:
        with self._lock:
            self._c.batch_jobs += 1
            self._c.batch_requests += requests

    def _record_upload(self) -> None:
        with self._lock:
            self._c.uploads += 1

    def _record_file_delete(self) -> None:
        with self._lock:
            self._c.file_deletes += 1

    def _set_files_stored(self, count: int) -> None:
        with self._lock:
            self._files_stored = count
