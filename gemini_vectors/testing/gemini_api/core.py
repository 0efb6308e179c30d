"""Routing and fault injection: turns one HTTP request into one answer, independent of the server."""

from __future__ import annotations

import random
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from gemini_vectors.testing.gemini_api import embed, vectors
from gemini_vectors.testing.gemini_api.batches import BatchStore
from gemini_vectors.testing.gemini_api.controls import Faults, Limits, Stats
from gemini_vectors.testing.gemini_api.files import FileStore
from gemini_vectors.testing.gemini_api.protocol import (
    ApiError,
    Request,
    Response,
    invalid_argument,
    retry_error,
)

_EMBED_ROUTES = (
    # Gemini Developer API: /v1/models/M:batchEmbedContents (the SDK), also :embedContent.
    re.compile(
        r"^/(?P<ver>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):(?P<method>batchEmbedContents|embedContent)$"
    ),
    # Vertex AI (express mode with an API key, or project/location with credentials).
    re.compile(
        r"^/(?P<ver>v1|v1beta1)/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/"
        r"(?P<model>[^/:]+):(?P<method>batchEmbedContents|embedContent)$"
    ),
)

WINDOW_SECONDS = 60.0


Route = Callable[[Request, "re.Match[str]"], Response]


class EmulatorCore:
    """The state of one emulator: faults, limits, counters, and the handlers of every endpoint."""

    def __init__(
        self,
        faults: Faults,
        limits: Limits,
        stats: Stats,
        api_keys: frozenset[str] | None = None,
    ) -> None:
        self.faults = faults
        self.limits = limits
        self.stats = stats
        self.api_keys = api_keys
        self.base_url = ""
        self._lock = threading.Lock()
        self._rng = random.Random(faults.seed)
        self._rng_seed = faults.seed
        self._window: deque[float] = deque()
        self._routes: list[tuple[str, re.Pattern[str], str, Route]] = []
        for pattern in _EMBED_ROUTES:
            self.add_route("POST", pattern, "", self._embed)
        self.files = FileStore(self)
        self.batches = BatchStore(self)

    def add_route(self, method: str, pattern: re.Pattern[str], endpoint: str, handler: Route) -> None:
        """Register a handler; ``endpoint`` names it in the counters (empty: the URL's method name)."""
        self._routes.append((method, pattern, endpoint, handler))

    def reset_state(self) -> None:
        """Forget the quota window, uploaded files and batch jobs; re-seed the fault draws."""
        with self._lock:
            self._window.clear()
            self._rng = random.Random(self.faults.seed)
            self._rng_seed = self.faults.seed
        self.files.clear()
        self.batches.clear()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request; never raises."""
        request = Request.parse(method, target, headers, body)
        try:
            for route_method, pattern, endpoint, handler in self._routes:
                match = pattern.match(request.path)
                if match and route_method == request.method:
                    name = endpoint or match.groupdict().get("method") or request.path
                    self.stats._record_call(name, self.api_key(request))
                    response = handler(request, match)
                    break
            else:
                self.stats._record_call("unknown", None)
                raise ApiError(404, f"Method not found: {request.method} {request.path}")
        except ApiError as err:
            response = Response.error(err)
        except Exception as exc:  # an emulator bug must reach the client as a 500, not a dropped socket
            traceback.print_exc(file=sys.stderr)
            response = Response.error(ApiError(500, f"Internal error in the emulator: {type(exc).__name__}"))
        self.stats._record_status(response.status)
        return response

    # Shared checks.

    @staticmethod
    def api_key(request: Request) -> str | None:
        """The caller's key: ``x-goog-api-key``, ``?key=`` or a Vertex bearer token."""
        key = request.header("x-goog-api-key")
        if not key and request.query.get("key"):
            key = request.query["key"][0]
        if not key:
            auth = request.header("authorization") or ""
            if auth.lower().startswith("bearer "):
                key = auth[7:].strip()
        return key or None

    def authorize(self, request: Request) -> None:
        """Google's answers for a missing (403) or unknown (400 API_KEY_INVALID) key."""
        key = self.api_key(request)
        if not key:
            raise ApiError(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.api_keys is not None and key not in self.api_keys:
            raise ApiError(
                400,
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )

    def check_size(self, request: Request, limit: int) -> None:
        """Google's 400 for a request body over the payload limit."""
        if len(request.body) > limit:
            raise ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")

    def _draw(self) -> float:
        with self._lock:
            if self.faults.seed != self._rng_seed:
                self._rng = random.Random(self.faults.seed)
                self._rng_seed = self.faults.seed
            return self._rng.random()

    def _admit(self, faults: Faults) -> None:
        """RPM quota, then the random 429/503 faults."""
        if faults.rpm is not None:
            with self._lock:
                now = time.monotonic()
                while self._window and now - self._window[0] >= WINDOW_SECONDS:
                    self._window.popleft()
                if len(self._window) >= faults.rpm:
                    wait = WINDOW_SECONDS - (now - self._window[0])
                    raise retry_error(
                        429,
                        f"Quota exceeded for quota metric 'Embed content requests' and limit "
                        f"'requests per minute' ({faults.rpm}). Please retry in {wait:.1f}s.",
                        wait,
                    )
                self._window.append(now)
        draw = self._draw()
        if draw < faults.rate_429:
            raise retry_error(
                429,
                f"Resource has been exhausted (e.g. check quota). Please retry in {faults.retry_after:g}s.",
                faults.retry_after,
            )
        if draw < faults.rate_429 + faults.rate_503:
            raise retry_error(503, "The model is overloaded. Please try again later.", faults.retry_after)

    # Online embedding.

    def lookup_file(self, uri: str) -> tuple[str, bytes] | None:
        """``(mime_type, bytes)`` of an uploaded, ACTIVE file named by ``uri``; None if unknown."""
        return self.files.lookup(uri)

    def _embed(self, request: Request, match: re.Match[str]) -> Response:
        faults = Faults(**vars(self.faults))  # one consistent view of the faults for this call
        if faults.latency > 0:
            time.sleep(faults.latency)
        self.authorize(request)
        self.check_size(request, self.limits.max_request_bytes)
        method = match["method"]
        vertex = "publishers/" in request.path
        rules = embed.find_model(match["model"], match["ver"], method)
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        if method == "batchEmbedContents":
            raw = body.get("requests")
            if not isinstance(raw, list):
                raise ApiError(400, "* BatchEmbedContentsRequest.requests: requests must be a list.")
            requests = [
                embed.request_from_body(r if isinstance(r, dict) else {}, f"requests[{i}]")
                for i, r in enumerate(raw)
            ]
            prefix = "BatchEmbedContentsRequest"
        else:
            requests = [embed.request_from_body(body, "content")]
            requests[0].field = ""
            prefix = "EmbedContentRequest"
        self.stats._record_embed_call(len(requests), len(request.body))
        self._admit(faults)
        if not requests:
            raise ApiError(400, f"* {prefix}.requests: at least one request is required.")
        if len(requests) > self.limits.max_batch_requests:
            raise ApiError(
                400,
                f"* {prefix}.requests: at most {self.limits.max_batch_requests} requests can be in one "
                f"batch, got {len(requests)}.",
            )
        checked, violations = embed.embed_requests(
            rules,
            requests,
            url_model=rules.name,
            lookup_file=self.lookup_file,
            reject_marker=faults.reject_texts_containing,
        )
        if violations:
            raise invalid_argument(violations, prefix)
        result = embed.vectors_for(rules, checked)
        values = [{"values": vectors.to_json_values(v)} for v in result.values]
        if values and self._draw() < faults.rate_short:
            values.pop()
        self.stats._record_embedded(len(values))
        usage = {"promptTokenCount": result.tokens, "totalTokenCount": result.tokens}
        if method == "embedContent":
            payload: dict[str, Any] = {"embedding": values[0]} if values else {}
            if vertex:
                payload["usageMetadata"] = {"promptTokenCount": result.tokens}
                payload["truncated"] = result.truncated[0] if result.truncated else False
            return Response.json(payload)
        payload = {"embeddings": values}
        if not vertex:
            payload["usageMetadata"] = usage
        return Response.json(payload)
