"""The Embedder: turns items into unit float32 vectors through the google-genai SDK, getting the traps right.

What it guarantees, whatever the model or the network does:

* one ``types.Content`` per item, so N items give N vectors (the SDK merges a list of strings into ONE
  content for gemini-embedding-2 and returns one vector for N inputs);
* calls of at most 100 requests and a bounded payload, up to ``max_concurrency`` at once, results in
  input order;
* task types applied the way each model takes them (text prefixes for gemini-embedding-2, the
  ``taskType`` field for gemini-embedding-001);
* exactly one finite vector of the requested length per request, L2-normalized, or an error: a short
  answer is retried, never shifted;
* 429, 5xx and dropped connections retried with jittered exponential backoff that honours Retry-After and
  RetryInfo; an optional RPM/TPM limiter keeps under a quota;
* a 400 caused by one item of a batch is isolated by bisection: the others are kept and the error names
  the rejected items (:class:`~gemini_vectors.errors.PartialEmbeddingError`);
* a request refused as a whole (bad key, permission, unknown model, a per-day quota) is never blamed on
  an item: it stops the embed at once, with no retry, no bisection and no further call
  (:class:`~gemini_vectors.errors.RequestRejectedError`; the classification is
  :func:`gemini_vectors.retry.classify_error`);
* every item checked against the model's limits before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from tqdm.auto import tqdm

from gemini_vectors.arguments import check_count, expect_items, expect_many
from gemini_vectors.content import (
    Item,
    ItemStats,
    Part,
    as_item,
    check_item,
    estimate_tokens,
    to_genai_content,
)
from gemini_vectors.errors import (
    APIResponseError,
    ArgumentError,
    ConfigurationError,
    EmbeddingError,
    PartialEmbeddingError,
    RateLimitError,
)
from gemini_vectors.ratelimit import RateLimiter
from gemini_vectors.retry import (
    ErrorKind,
    RetryPolicy,
    classify_error,
    client_secrets,
    request_rejected,
    scrub,
    server_retry_delay,
)
from gemini_vectors.spec import EmbeddingSpec, ModelInfo, TaskType, apply_task_prefix, get_model
from gemini_vectors.uploads import DEFAULT_UPLOAD_THRESHOLD, FileUploads, inline_media_bytes

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]
ItemLike = Item | Part | str
"""What the Embedder takes as one input: a string, a content part, or an Item of interleaved parts."""

#: The Gemini API refuses more than 100 requests in one batchEmbedContents call.
MAX_REQUESTS_PER_CALL = 100
#: Raw media bytes per call; base64 inflates them by 4/3, and the API caps one request body at 20 MB.
DEFAULT_MAX_CALL_BYTES = 8 * 1024 * 1024


class _ShortResponseError(APIResponseError):
    """The API returned fewer or more vectors than requests; the call is retried as a whole."""


class _ItemRejected(Exception):
    """The API's answer blames the content of the call: split it to find the item (bisection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stopped(Exception):
    """Another call of the same embed failed; this one is not sent (the other's error is raised)."""


@dataclass(frozen=True)
class _Request:
    """One checked item, ready to become one ``types.Content``.

    The Content is built when its call is sent, in the worker that sends it: the first call goes out
    while later ones are still waiting, and the media bytes of calls not yet in flight are not held.
    """

    index: int
    item: Item
    task_text_transform: Callable[[str], str] | None
    tokens: int
    nbytes: int

    def content(self) -> types.Content:
        return to_genai_content(self.item, task_text_transform=self.task_text_transform)


@dataclass(frozen=True)
class _Call:
    """One API call: requests that share a task type and a title."""

    requests: tuple[_Request, ...]
    task_type: str | None
    title: str | None

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.requests)

    def contents(self) -> list[types.Content]:
        return [r.content() for r in self.requests]

    def halves(self) -> tuple[_Call, _Call]:
        mid = len(self.requests) // 2
        return (
            _Call(self.requests[:mid], self.task_type, self.title),
            _Call(self.requests[mid:], self.task_type, self.title),
        )


@dataclass
class _Outcome:
    vectors: dict[int, npt.NDArray[np.float32]]
    failures: dict[int, str]

    def merge(self, other: _Outcome) -> _Outcome:
        self.vectors.update(other.vectors)
        self.failures.update(other.failures)
        return self


def _describe_api_error(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    if isinstance(exc, genai_errors.APIError):
        return scrub(f"{exc.code} {exc.status}: {exc.message}", secrets)
    return scrub(f"{type(exc).__name__}: {exc}", secrets)


class Embedder:
    """Embeds text, images, audio, video and PDFs with a Gemini embedding model.

    Args:
        model: Model name from the model table (see :func:`gemini_vectors.known_models`).
        dimensions: Output size (Matryoshka truncation); the model's default (3072) when None.
        client: A ``google.genai.Client`` to use; one is built from the environment when None
            (``GEMINI_API_KEY``/``GOOGLE_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``).
        api_key: Key for the client built here; never logged or shown.
        vertexai: Build a Vertex AI client; sends one content per call, concurrently.
        rpm: Requests-per-minute quota to stay under (None: no limit).
        tpm: Estimated tokens-per-minute quota to stay under (None: no limit).
        max_concurrency: Calls in flight at once.
        retry: Attempts and backoff for transient failures.
        max_call_bytes: Bound on the raw media bytes sent in one call.
        progress: Show a progress bar: True, False, or None for "on a terminal, for more than one call".
        upload_threshold_bytes: An item with more inline media bytes than this has its media uploaded
            through the File API before the call and deleted after it (None: always inline). Ignored on
            Vertex AI, which has no File API.
    """

    def __init__(
        self,
        model: str = "gemini-embedding-2",
        dimensions: int | None = None,
        *,
        client: genai.Client | None = None,
        api_key: str | None = None,
        vertexai: bool = False,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        max_call_bytes: int = DEFAULT_MAX_CALL_BYTES,
        progress: bool | None = None,
        upload_threshold_bytes: int | None = DEFAULT_UPLOAD_THRESHOLD,
    ) -> None:
        self.model_info: ModelInfo = get_model(model).available()  # a shut-down model is refused here
        self.spec = EmbeddingSpec.for_model(self.model_info.name, dimensions)
        self.max_concurrency = check_count(max_concurrency, "max_concurrency", error=ConfigurationError)
        self.retry = retry or RetryPolicy()
        self.max_call_bytes = check_count(max_call_bytes, "max_call_bytes", error=ConfigurationError)
        self.progress = progress
        if upload_threshold_bytes is not None:
            check_count(upload_threshold_bytes, "upload_threshold_bytes", minimum=0, error=ConfigurationError)
        self.upload_threshold_bytes = upload_threshold_bytes
        self.limiter = RateLimiter(rpm=rpm, tpm=tpm)
        self._client = client if client is not None else self._build_client(api_key, vertexai)
        # taken out of every message built from an API answer (some answers echo the key)
        self._secrets = client_secrets(self._client)
        self.vertexai = bool(getattr(getattr(self._client, "_api_client", None), "vertexai", vertexai))
        # items are checked (and files cut) against the limits of the API this client talks to
        self.model_info = self.model_info.on("vertex-ai" if self.vertexai else "gemini-api")
        self._max_requests = 1 if self.vertexai else MAX_REQUESTS_PER_CALL

    @staticmethod
    def _build_client(api_key: str | None, vertexai: bool) -> genai.Client:
        try:
            return (
                genai.Client(api_key=api_key, vertexai=vertexai)
                if api_key
                else genai.Client(vertexai=vertexai)
            )
        except ValueError as exc:
            # the SDK's message never holds the key; ours says where one is looked for
            raise ConfigurationError(
                "no Gemini API credentials: set GEMINI_API_KEY (or GOOGLE_API_KEY), pass api_key=..., "
                f"or pass a configured google.genai.Client as client= ({exc})"
            ) from exc

    @property
    def client(self) -> genai.Client:
        """The google-genai client in use."""
        return self._client

    @property
    def dimensions(self) -> int:
        """Length of every vector this embedder returns."""
        return self.spec.dimensions

    @property
    def model(self) -> str:
        """The model's name."""
        return self.spec.model

    def __repr__(self) -> str:
        return f"Embedder(model={self.model!r}, dimensions={self.dimensions}, vertexai={self.vertexai})"

    # -- request shaping -------------------------------------------------------------------------

    def _checked(
        self,
        items: Iterable[ItemLike],
        task: TaskType | str | None,
        titles: Sequence[str | None] | None,
    ) -> Iterator[tuple[int, Item, str | None, Callable[[str], str] | None, int, ItemStats]]:
        """Check every item against the model's limits: ``(index, item, title, transform, reserved, stats)``.

        ``transform`` is the task prefix for the item's text, and ``reserved`` its token estimate.
        """
        expect_items(items)
        task_type = TaskType.parse(task) if task is not None else None
        checked = [_item_at(index, x) for index, x in enumerate(items)]
        if titles is not None:
            expect_many(titles, "titles", of="titles (str or None)")
            titles = list(titles)
            if task_type is not TaskType.RETRIEVAL_DOCUMENT:
                raise ArgumentError(f"titles are for documents (task RETRIEVAL_DOCUMENT), not task={task!r}")
            if len(titles) != len(checked):
                raise ArgumentError(f"got {len(titles)} titles for {len(checked)} items")
            for index, title in enumerate(titles):
                if title is not None and not isinstance(title, str):
                    raise ArgumentError(f"item {index}: a title must be a str or None, got {title!r}")
        by_prefix = self.model_info.task_mechanism == "prefix"
        for index, item in enumerate(checked):
            title = titles[index] if titles is not None else None
            transform: Callable[[str], str] | None = None
            reserved = 0
            if by_prefix and task_type is not None and item.text_parts:
                transform = _prefixer(task_type, title)
                reserved = estimate_tokens(transform(""))  # the prefix counts against the token limit
            stats = check_item(item, self.model_info, index, reserved_tokens=reserved)
            yield index, item, title, transform, reserved, stats

    def check(
        self,
        items: Iterable[ItemLike],
        task: TaskType | str | None = None,
        *,
        titles: Sequence[str | None] | None = None,
    ) -> None:
        """Check ``items`` (and ``titles``) as :meth:`embed` would, without sending anything.

        Raises:
            ContentError: an item breaks a model limit; the error names its index.
            ArgumentError: the arguments have the wrong shape (a lone string, fewer titles than items).
        """
        for _ in self._checked(items, task, titles):
            pass

    def _prepare(
        self,
        items: Iterable[ItemLike],
        task: TaskType | str | None,
        titles: Sequence[str | None] | None,
        uploads: FileUploads | None = None,
    ) -> list[_Call]:
        """Check every item against the model's limits, then group the requests into calls."""
        task_type = TaskType.parse(task) if task is not None else None
        requests: list[tuple[_Request, str | None]] = []
        for index, item, title, transform, reserved, stats in self._checked(items, task_type, titles):
            # --- large media through the File API (uploads.py); deleted when the embed call ends ---
            threshold = self.upload_threshold_bytes
            if uploads is not None and threshold is not None and inline_media_bytes(item) > threshold:
                item = uploads.offload(item, threshold)
                stats = check_item(item, self.model_info, index, reserved_tokens=reserved)
            request = _Request(index, item, transform, stats.estimated_tokens, stats.request_bytes)
            requests.append((request, title))
        by_prefix = self.model_info.task_mechanism == "prefix"
        api_task = task_type.value if (task_type is not None and not by_prefix) else None
        return self._plan(
            requests, api_task, send_titles=not by_prefix and task_type is TaskType.RETRIEVAL_DOCUMENT
        )

    def _plan(
        self, requests: list[tuple[_Request, str | None]], task_type: str | None, *, send_titles: bool
    ) -> list[_Call]:
        calls: list[_Call] = []
        current: list[_Request] = []
        current_title: str | None = None
        current_bytes = 0
        if send_titles:
            # the SDK takes one title per call, so items that share a title must share calls
            requests = sorted(requests, key=lambda pair: pair[1] or "")
        for request, title in requests:
            title = title if send_titles else None
            full = len(current) >= self._max_requests or (
                current and current_bytes + request.nbytes > self.max_call_bytes
            )
            if current and (full or title != current_title):
                calls.append(_Call(tuple(current), task_type, current_title))
                current, current_bytes = [], 0
            current.append(request)
            current_title = title
            current_bytes += request.nbytes
        if current:
            calls.append(_Call(tuple(current), task_type, current_title))
        return calls

    def _config(self, call: _Call) -> types.EmbedContentConfig:
        return types.EmbedContentConfig(
            output_dimensionality=self.spec.dimensions, task_type=call.task_type, title=call.title
        )

    # -- answers ---------------------------------------------------------------------------------

    def _vectors_from(self, response: types.EmbedContentResponse, call: _Call) -> _Outcome:
        embeddings = response.embeddings or []
        if len(embeddings) != len(call.requests):
            raise _ShortResponseError(
                f"the API returned {len(embeddings)} vectors for {len(call.requests)} requests"
            )
        rows = []
        for request, embedding in zip(call.requests, embeddings, strict=True):
            values = embedding.values or []
            if len(values) != self.spec.dimensions:
                raise APIResponseError(
                    f"item {request.index}: the API returned {len(values)} dimensions, "
                    f"{self.spec.dimensions} were requested"
                )
            rows.append(values)
        matrix = np.asarray(rows, dtype=np.float32)
        if not np.isfinite(matrix).all():
            bad = [call.requests[i].index for i in np.flatnonzero(~np.isfinite(matrix).all(axis=1))]
            raise APIResponseError(f"the API returned non-finite values for items {bad}")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            bad = [call.requests[i].index for i in np.flatnonzero(norms[:, 0] == 0)]
            raise APIResponseError(f"the API returned zero vectors for items {bad}")
        matrix /= norms
        return _Outcome({r.index: matrix[i] for i, r in enumerate(call.requests)}, {})

    def _file_uploads(self) -> contextlib.AbstractContextManager[FileUploads | None]:
        """Uploads for one embed call, deleted when it ends; none on Vertex AI or without a threshold."""
        if self.upload_threshold_bytes is None or self.vertexai:
            return contextlib.nullcontext()
        return FileUploads(self._client)

    def _give_up(self, exc: BaseException, call: _Call, attempts: int) -> EmbeddingError:
        first, last = call.requests[0].index, call.requests[-1].index
        where = f"items {first}..{last}" if first != last else f"item {first}"
        described = _describe_api_error(exc, self._secrets)
        if isinstance(exc, genai_errors.APIError) and exc.code == 429:
            return RateLimitError(f"rate limited on {where} after {attempts} attempts: {described}")
        if isinstance(exc, APIResponseError):
            return APIResponseError(f"{where}: {exc} (after {attempts} attempts)")
        return EmbeddingError(f"embedding {where} failed after {attempts} attempts: {described}")

    def _wait_before_retry(self, exc: Exception, call: _Call, attempt: int) -> float:
        """Seconds to wait before trying ``call`` again after ``exc``; raises when it must not be retried.

        What ``exc`` means is :func:`~gemini_vectors.retry.classify_error`'s answer, nothing else: a
        request-level refusal raises RequestRejectedError at once (no retry, no bisection); an answer that
        blames the content raises ``_ItemRejected`` for the caller to bisect the call; other failures that
        retrying cannot fix, or the last attempt's, become the library's errors.
        """
        kind = ErrorKind.RETRY if isinstance(exc, _ShortResponseError) else classify_error(exc).kind
        if kind is ErrorKind.REQUEST:
            rejected = request_rejected(exc, secrets=self._secrets)
            assert rejected is not None
            raise rejected from exc
        if kind is ErrorKind.ITEM:
            raise _ItemRejected(_describe_api_error(exc, self._secrets)) from exc
        if kind is not ErrorKind.RETRY or attempt >= self.retry.max_attempts:
            raise self._give_up(exc, call, attempt) from exc
        delay = self.retry.backoff(attempt, server_retry_delay(exc))
        log.debug(
            "retrying %d requests in %.2fs after %s",
            len(call.requests),
            delay,
            _describe_api_error(exc, self._secrets),
        )
        return delay

    # -- sync driver -----------------------------------------------------------------------------

    def _send(self, call: _Call, stop: threading.Event) -> _Outcome:
        contents = call.contents()
        for attempt in range(1, self.retry.max_attempts + 1):
            # a wait ends early, and nothing more is sent, once another call of this embed has failed
            if stop.wait(self.limiter.reserve(call.tokens)):
                raise _Stopped()
            try:
                response = self._client.models.embed_content(
                    model=self.spec.model,
                    contents=contents,
                    config=self._config(call),
                )
                return self._vectors_from(response, call)
            except Exception as exc:
                if stop.wait(self._wait_before_retry(exc, call, attempt)):
                    raise _Stopped() from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, call: _Call, stop: threading.Event) -> _Outcome:
        """Send ``call``; when the answer blames its content, split it until the rejected items are found.

        Any other failure, found at any depth of the split, propagates at once: no further half is sent.
        """
        try:
            return self._send(call, stop)
        except _ItemRejected as rejected:
            if len(call.requests) == 1:
                return _Outcome({}, {call.requests[0].index: rejected.reason})
            left, right = call.halves()
            return self._run(left, stop).merge(self._run(right, stop))

    def _run_guarded(self, call: _Call, stop: threading.Event) -> _Outcome:
        """:meth:`_run` in a worker: a failure stops the other workers' next sends at once."""
        if stop.is_set():
            raise _Stopped()
        try:
            return self._run(call, stop)
        except _Stopped:
            raise
        except BaseException:
            stop.set()
            raise

    def embed(
        self,
        items: Iterable[ItemLike],
        task: TaskType | str | None = None,
        *,
        titles: Sequence[str | None] | None = None,
    ) -> Matrix:
        """Embed ``items``; returns an ``(n, dimensions)`` float32 array of unit vectors, in input order.

        Args:
            items: Strings, content parts (``Image(...)``...) or ``Item([...])`` of interleaved parts.
            task: The task the vectors serve (a :class:`TaskType` or its name); None sends items as they are.
            titles: Per-item document titles, used with ``RETRIEVAL_DOCUMENT``.

        Raises:
            ContentError: an item breaks a model limit (nothing was sent).
            PartialEmbeddingError: the API rejected some items; the error carries the others' vectors.
            EmbeddingError: a call failed after every retry.
        """
        with self._file_uploads() as uploads:
            calls = self._prepare(items, task, titles, uploads)
            total = sum(len(c.requests) for c in calls)
            result = _Outcome({}, {})
            stop = threading.Event()
            with self._progress_bar(total, len(calls)) as bar:
                if len(calls) <= 1 or self.max_concurrency == 1:
                    for call in calls:
                        result.merge(self._run(call, stop))
                        bar.update(len(call.requests))
                else:
                    with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="gemini-embed") as pool:
                        futures = {pool.submit(self._run_guarded, call, stop): call for call in calls}
                        try:
                            for future in as_completed(futures):
                                try:
                                    outcome = future.result()
                                except _Stopped:
                                    continue  # the error that stopped it comes from its own future
                                result.merge(outcome)
                                bar.update(len(futures[future].requests))
                        except BaseException:
                            stop.set()
                            for f in futures:
                                f.cancel()
                            raise
        return self._assemble(result, total)

    def _assemble(self, outcome: _Outcome, total: int) -> Matrix:
        out = np.full((total, self.spec.dimensions), np.nan, dtype=np.float32)
        succeeded = np.zeros(total, dtype=bool)
        for index, vector in outcome.vectors.items():
            out[index] = vector
            succeeded[index] = True
        if outcome.failures:
            raise PartialEmbeddingError(dict(sorted(outcome.failures.items())), out, succeeded)
        return out

    def request_contents(
        self, items: Iterable[ItemLike], task: TaskType | str | None = None
    ) -> tuple[list[types.Content], types.EmbedContentConfig]:
        """The Contents and the config this embedder would send for ``items``, in input order.

        For callers that send them another way, such as Gemini Batch Mode: one Content per item, the
        task applied as this model takes it, every item checked against the model's limits first.

        Raises:
            ContentError: an item breaks a model limit.
        """
        calls = self._prepare(items, task, None)
        requests = sorted((r for call in calls for r in call.requests), key=lambda r: r.index)
        task_type = calls[0].task_type if calls else None
        config = self._config(_Call((), task_type, None))
        return [r.content() for r in requests], config

    def embed_documents(
        self, items: Iterable[ItemLike], titles: Sequence[str | None] | None = None
    ) -> Matrix:
        """Embed documents for retrieval (task ``RETRIEVAL_DOCUMENT``), with optional titles."""
        return self.embed(items, TaskType.RETRIEVAL_DOCUMENT, titles=titles)

    def embed_query(
        self, item: ItemLike, task: TaskType | str = TaskType.RETRIEVAL_QUERY
    ) -> npt.NDArray[np.float32]:
        """Embed one query; returns a ``(dimensions,)`` unit vector."""
        vector: npt.NDArray[np.float32] = self.embed([item], task)[0]
        return vector

    # -- async driver ----------------------------------------------------------------------------

    async def _asend(self, call: _Call, stop: asyncio.Event) -> _Outcome:
        # reading media files blocks: keep it off the event loop
        contents = await asyncio.to_thread(call.contents)
        for attempt in range(1, self.retry.max_attempts + 1):
            await asyncio.sleep(self.limiter.reserve(call.tokens))
            if stop.is_set():
                raise _Stopped()
            try:
                response = await self._client.aio.models.embed_content(
                    model=self.spec.model,
                    contents=contents,
                    config=self._config(call),
                )
                return self._vectors_from(response, call)
            except Exception as exc:
                await asyncio.sleep(self._wait_before_retry(exc, call, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _arun(self, call: _Call, gate: asyncio.Semaphore, stop: asyncio.Event) -> _Outcome:
        """Async twin of :meth:`_run`; a failure stops the other tasks' next sends at once."""
        try:
            async with gate:
                if stop.is_set():
                    raise _Stopped()
                try:
                    return await self._asend(call, stop)
                except (_ItemRejected, _Stopped):
                    raise
                except BaseException:
                    stop.set()  # before the gate lets the next call in
                    raise
        except _ItemRejected as rejected:
            if len(call.requests) == 1:
                return _Outcome({}, {call.requests[0].index: rejected.reason})
            left, right = call.halves()
            return (await self._arun(left, gate, stop)).merge(await self._arun(right, gate, stop))

    async def aembed(
        self,
        items: Iterable[ItemLike],
        task: TaskType | str | None = None,
        *,
        titles: Sequence[str | None] | None = None,
    ) -> Matrix:
        """Async twin of :meth:`embed`, on the SDK's async client."""
        with self._file_uploads() as uploads:
            # checking limits (it reads media headers) and uploading large files block: keep them off the loop
            calls = await asyncio.to_thread(self._prepare, items, task, titles, uploads)
            total = sum(len(c.requests) for c in calls)
            gate = asyncio.Semaphore(self.max_concurrency)
            stop = asyncio.Event()
            result = _Outcome({}, {})
            with self._progress_bar(total, len(calls)) as bar:
                tasks = [asyncio.ensure_future(self._arun(call, gate, stop)) for call in calls]
                try:
                    for done in asyncio.as_completed(tasks):
                        try:
                            outcome = await done
                        except _Stopped:
                            continue  # the error that stopped it comes from its own task
                        result.merge(outcome)
                        bar.update(len(outcome.vectors) + len(outcome.failures))
                except BaseException:
                    for t in tasks:
                        t.cancel()
                    raise
        return self._assemble(result, total)

    async def aembed_documents(
        self, items: Iterable[ItemLike], titles: Sequence[str | None] | None = None
    ) -> Matrix:
        """Async twin of :meth:`embed_documents`."""
        return await self.aembed(items, TaskType.RETRIEVAL_DOCUMENT, titles=titles)

    async def aembed_query(
        self, item: ItemLike, task: TaskType | str = TaskType.RETRIEVAL_QUERY
    ) -> npt.NDArray[np.float32]:
        """Async twin of :meth:`embed_query`."""
        vector: npt.NDArray[np.float32] = (await self.aembed([item], task))[0]
        return vector

    # -- progress --------------------------------------------------------------------------------

    def _progress_bar(self, total: int, calls: int) -> tqdm[Any]:
        show = self.progress if self.progress is not None else (calls > 1 and sys.stderr.isatty())
        return tqdm(total=total, unit="item", desc=f"embedding ({self.model})", disable=not show, leave=False)


def _item_at(index: int, x: ItemLike) -> Item:
    try:
        return as_item(x)
    except TypeError as exc:
        raise ArgumentError(f"item {index}: {exc}") from None


def _prefixer(task: TaskType, title: str | None) -> Callable[[str], str]:
    def transform(text: str) -> str:
        return apply_task_prefix(task, text, title)

    return transform
