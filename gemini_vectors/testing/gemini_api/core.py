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
    error_info,
    invalid_argument,
    localized,
    quota_exceeded,
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
#: The project the emulator's answers name (Google names the key's project in 403s).
PROJECT_NUMBER = "123456789012"
_SERVICE = "generativelanguage.googleapis.com"
_VERTEX_SERVICE = "aiplatform.googleapis.com"


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
        self._day_requests = 0  # contents admitted since start or reset, against faults.daily_quota
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
            self._day_requests = 0
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
        """The front end's answers about the caller, before any content is read, as Google gives them.

        A missing key (403), an unknown key (400 ``API_KEY_INVALID``), and the switchable
        ``faults.unauthenticated`` (401) and ``faults.permission_denied`` (403).
        """
        key = self.api_key(request)
        service = _VERTEX_SERVICE if "publishers/" in request.path else _SERVICE
        if not key:
            raise ApiError(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.api_keys is not None and key not in self.api_keys:
            message = "API key not valid. Please pass a valid API key."
            raise ApiError(400, message, details=[error_info("API_KEY_INVALID", service), localized(message)])
        if self.faults.unauthenticated:
            message = (
                "API keys are not supported by this API. Expected OAuth2 access token or other "
                "authentication credentials that assert a principal. See "
                "https://cloud.google.com/docs/authentication"
            )
            raise ApiError(401, message, details=[error_info("CREDENTIALS_MISSING", service)])
        reason = self.faults.permission_denied
        if reason:
            raise _permission_denied(reason, key, service)

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

    def _admit(self, faults: Faults, model: str, requests: int) -> None:
        """The per-day quota, the RPM quota, then the random 429/503 faults."""
        if faults.daily_quota is not None:
            with self._lock:
                if self._day_requests + requests > faults.daily_quota:
                    raise quota_exceeded(
                        f"{_SERVICE}/embed_content_free_tier_requests",
                        "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier",
                        faults.daily_quota,
                        model,
                        faults.retry_after,
                    )
                self._day_requests += requests
        if faults.rpm is not None:
            with self._lock:
                now = time.monotonic()
                while self._window and now - self._window[0] >= WINDOW_SECONDS:
                    self._window.popleft()
                if len(self._window) >= faults.rpm:
                    wait = WINDOW_SECONDS - (now - self._window[0])
                    raise quota_exceeded(
                        f"{_SERVICE}/embed_content_free_tier_requests",
                        "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
                        faults.rpm,
                        model,
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
        if match["model"] in faults.retired_models:
            raise embed.model_not_found(match["model"], match["ver"], method)
        rules = embed.find_model(match["model"], match["ver"], method, vertex=vertex)
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
        self._admit(faults, rules.name, len(requests))
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


def _permission_denied(reason: str, key: str, service: str) -> ApiError:
    """Google's 403 PERMISSION_DENIED for ``reason``, with the ErrorInfo and messages it sends."""
    project = f"projects/{PROJECT_NUMBER}"
    if reason == "SERVICE_DISABLED":
        url = f"https://console.developers.google.com/apis/api/{service}/overview?project={PROJECT_NUMBER}"
        message = (
            f"Generative Language API has not been used in project {PROJECT_NUMBER} before or it is "
            f"disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a "
            "few minutes for the action to propagate to our systems and retry."
        )
        info = error_info(
            reason,
            service,
            consumer=project,
            serviceTitle="Generative Language API",
            activationUrl=url,
            containerInfo=PROJECT_NUMBER,
        )
        links = [{"description": "Google developers console API activation", "url": url}]
        help_ = {"@type": "type.googleapis.com/google.rpc.Help", "links": links}
        return ApiError(403, message, details=[info, localized(message), help_])
    if reason == "API_KEY_SERVICE_BLOCKED":
        method = "google.ai.generativelanguage.v1beta.GenerativeService.BatchEmbedContents"
        message = f"Requests to this API {service} method {method} are blocked."
        info = error_info(reason, service, consumer=project, methodName=method)
        return ApiError(403, message, details=[info, localized(message)])
    if reason == "CONSUMER_SUSPENDED":
        # Google's message really quotes the key; the library must take it out of its errors
        message = f"Permission denied: Consumer 'api_key:{key}' has been suspended."
        return ApiError(403, message, details=[error_info(reason, service, consumer=project)])
    message = "The caller does not have permission"
    return ApiError(403, message, details=[error_info(reason, service, consumer=project), localized(message)])
