"""Batch Mode for embeddings: ``models/{m}:asyncBatchEmbedContent`` and the ``batches/`` resource.

A job is created from inlined requests (``batch.inputConfig.requests.requests[].request``), stays
PENDING for the first half of ``Faults.batch_seconds`` and RUNNING for the second, then ends in
``Faults.batch_end_state`` (SUCCEEDED by default). Results are computed when the job is created and
shown once it has succeeded, inline under ``metadata.output.inlinedResponses.inlinedResponses`` (the SDK
renames them to ``dest.inlined_embed_content_responses``): ``{"response": {"embedding": {"values"}}}``
per item, or ``{"error": {"code", "message"}}`` for an item the API rejects. One bad item never fails
the job. Online faults (latency, 429, 503, quota) do not apply to batch endpoints.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemini_vectors.testing.gemini_api import embed, vectors
from gemini_vectors.testing.gemini_api.files import rfc3339
from gemini_vectors.testing.gemini_api.protocol import ApiError, Request, Response, page_of

if TYPE_CHECKING:
    from gemini_vectors.testing.gemini_api.core import EmulatorCore

# google.rpc.Code numbers for the HTTP statuses an item can fail with.
_RPC_CODES = {400: 3, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}
_TERMINAL = {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}


@dataclass
class BatchJob:
    """One Batch Mode job and its precomputed results."""

    id: str
    model: str
    display_name: str | None
    created: float
    seconds: float
    end_state: str
    vectors: list[vectors.Vector | None]
    errors: list[dict[str, Any] | None]
    metadata: list[Any]
    tokens: list[int]
    cancelled_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self, now: float) -> str:
        """The state at time ``now`` (jobs advance by the clock, not by polling)."""
        if self.cancelled_at is not None:
            return "BATCH_STATE_CANCELLED"
        elapsed = now - self.created
        if elapsed < self.seconds / 2:
            return "BATCH_STATE_PENDING"
        if elapsed < self.seconds:
            return "BATCH_STATE_RUNNING"
        return f"BATCH_STATE_{self.end_state}"

    def end_time(self) -> float:
        """When the job reached its terminal state."""
        return self.cancelled_at if self.cancelled_at is not None else self.created + self.seconds

    def resource(self, now: float, *, with_output: bool = True) -> dict[str, Any]:
        """The long-running operation JSON that ``batches.get`` returns."""
        state = self.state(now)
        done = state in _TERMINAL
        failed = sum(1 for e in self.errors if e is not None)
        total = len(self.vectors)
        finished = state == "BATCH_STATE_SUCCEEDED"
        stats = {
            "requestCount": str(total),
            "successfulRequestCount": str(total - failed if finished else 0),
            "failedRequestCount": str(failed if finished else 0),
            "pendingRequestCount": str(0 if done else total),
        }
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
            "model": f"models/{self.model}",
            "name": f"batches/{self.id}",
            "state": state,
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(min(now, self.end_time()) if done else now),
            "batchStats": stats,
        }
        if self.display_name:
            metadata["displayName"] = self.display_name
        if done:
            metadata["endTime"] = rfc3339(self.end_time())
        out: dict[str, Any] = {"name": f"batches/{self.id}", "metadata": metadata, "done": done}
        if finished and with_output:
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": self._items()}}
        elif done and not finished:
            reason = (
                "cancelled"
                if state == "BATCH_STATE_CANCELLED"
                else state.removeprefix("BATCH_STATE_").lower()
            )
            out["error"] = {"code": 1 if reason == "cancelled" else 4, "message": f"Batch job {reason}."}
        return out

    def _items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for vec, error, meta, tokens in zip(
            self.vectors, self.errors, self.metadata, self.tokens, strict=True
        ):
            item: dict[str, Any] = (
                {"error": error}
                if error is not None or vec is None
                else {
                    "response": {
                        "embedding": {"values": vectors.to_json_values(vec)},
                        "tokenCount": str(tokens),
                    }
                }
            )
            if meta is not None:
                item["metadata"] = meta
            items.append(item)
        return items


class BatchStore:
    """Batch jobs of one emulator, and the batch endpoints over them."""

    def __init__(self, core: EmulatorCore) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._jobs: dict[str, BatchJob] = {}
        versions = r"(?P<ver>v1|v1beta|v1alpha)"
        core.add_route(
            "POST",
            re.compile(rf"^/{versions}/models/(?P<model>[^/:]+):asyncBatchEmbedContent$"),
            "asyncBatchEmbedContent",
            self._create,
        )
        core.add_route("GET", re.compile(rf"^/{versions}/batches/(?P<id>[^/:]+)$"), "batches.get", self._get)
        core.add_route("GET", re.compile(rf"^/{versions}/batches$"), "batches.list", self._list)
        core.add_route(
            "POST",
            re.compile(rf"^/{versions}/batches/(?P<id>[^/:]+):cancel$"),
            "batches.cancel",
            self._cancel,
        )
        core.add_route(
            "DELETE", re.compile(rf"^/{versions}/batches/(?P<id>[^/:]+)$"), "batches.delete", self._delete
        )

    def clear(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()

    def _find(self, job_id: str) -> BatchJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"Batch batches/{job_id} not found.")
        return job

    def _create(self, request: Request, match: re.Match[str]) -> Response:
        core = self._core
        core.authorize(request)
        core.check_size(request, core.limits.max_batch_job_bytes)
        rules = embed.find_model(match["model"], match["ver"], "asyncBatchEmbedContent")
        body = request.json()
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            raise ApiError(400, "* AsyncBatchEmbedContentRequest.batch: batch is required.")
        input_config = batch.get("inputConfig") or batch.get("input_config") or {}
        if input_config.get("fileName") or input_config.get("file_name"):
            raise ApiError(
                501, "The emulator only supports inlined requests (inputConfig.requests), not an input file."
            )
        container = input_config.get("requests")
        raw = container.get("requests") if isinstance(container, dict) else None
        if not isinstance(raw, list) or not raw:
            raise ApiError(400, "* AsyncBatchEmbedContentRequest.batch.input_config.requests: no requests.")
        faults = core.faults
        job_vectors: list[vectors.Vector | None] = []
        job_errors: list[dict[str, Any] | None] = []
        job_meta: list[Any] = []
        job_tokens: list[int] = []
        for i, item in enumerate(raw):
            item = item if isinstance(item, dict) else {}
            job_meta.append(item.get("metadata"))
            req = embed.request_from_body(item.get("request") or {}, f"requests[{i}]")
            try:
                checked, violations = embed.embed_requests(
                    rules,
                    [req],
                    url_model=rules.name,
                    lookup_file=core.lookup_file,
                    reject_marker=faults.reject_texts_containing,
                )
            except ApiError as err:
                job_vectors.append(None)
                job_errors.append({"code": _RPC_CODES.get(err.code, 2), "message": err.message})
                job_tokens.append(0)
                continue
            if violations:
                message = "\n".join(f"* {v.field}: {v.description}" for v in violations)
                job_vectors.append(None)
                job_errors.append({"code": 3, "message": message})
                job_tokens.append(0)
                continue
            result = embed.vectors_for(rules, checked)
            job_vectors.append(result.values[0])
            job_errors.append(None)
            job_tokens.append(result.tokens)
        display = batch.get("displayName") or batch.get("display_name")
        job = BatchJob(
            id=secrets.token_hex(8),
            model=rules.name,
            display_name=str(display) if display else None,
            created=time.time(),
            seconds=max(0.0, faults.batch_seconds),
            end_state=faults.batch_end_state,
            vectors=job_vectors,
            errors=job_errors,
            metadata=job_meta,
            tokens=job_tokens,
        )
        with self._lock:
            self._jobs[job.id] = job
        core.stats._record_batch_job(len(raw))
        return Response.json(job.resource(time.time()))

    def _get(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        return Response.json(self._find(match["id"]).resource(time.time()))

    def _list(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: (j.created, j.id), reverse=True)
        page, token = page_of(request, jobs, default_size=50, max_size=1000)
        now = time.time()
        # Listing leaves the (possibly huge) inline results out; batches.get returns them.
        payload: dict[str, Any] = {"operations": [j.resource(now, with_output=False) for j in page]}
        if token:
            payload["nextPageToken"] = token
        return Response.json(payload)

    def _cancel(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        job = self._find(match["id"])
        now = time.time()
        with self._lock:
            if job.state(now) not in _TERMINAL:
                job.cancelled_at = now
        return Response.json({})

    def _delete(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        self._find(match["id"])
        with self._lock:
            self._jobs.pop(match["id"], None)
        return Response.json({})
