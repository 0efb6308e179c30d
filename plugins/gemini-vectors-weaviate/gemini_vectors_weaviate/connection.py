"""``weaviate://``, ``weaviates://`` and ``weaviate+cloud://`` URLs, and opening a client for them.

* ``weaviate://HOST[:PORT][?grpc_port=N&grpc_host=H]``: plain HTTP and gRPC (defaults 8080 and 50051);
* ``weaviates://HOST[:PORT][?grpc_port=N&grpc_host=H]``: both over TLS (defaults 443 and 443);
* ``weaviate+cloud://CLUSTER``: a Weaviate Cloud cluster (``connect_to_weaviate_cloud``).

Every form also takes the store options ``index`` (``hnsw`` or ``mrl:<d>``), ``ef_search`` and
``rerank_factor`` as query parameters (``weaviate://h?index=mrl:512&ef_search=200``); keyword arguments
of ``gv.connect()`` win over them.

The API key comes from the ``api_key`` option or the ``WEAVIATE_API_KEY`` environment variable (required
for ``weaviate+cloud``); it is never part of a URL, a repr or an error message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gemini_vectors.backend_kit import split_store_url
from gemini_vectors.errors import ConfigurationError

API_KEY_ENV = "WEAVIATE_API_KEY"
SCHEMES = ("weaviate", "weaviates", "weaviate+cloud")
URL_PARAMETERS = ("grpc_port", "grpc_host")
#: Store options a URL may carry (see :class:`~gemini_vectors_weaviate.store.WeaviateStore`).
STORE_URL_OPTIONS = ("index", "ef_search", "rerank_factor")
_INT_STORE_OPTIONS = frozenset({"ef_search", "rerank_factor"})


@dataclass(frozen=True)
class Endpoint:
    """Where a Weaviate server answers, parsed from a URL."""

    scheme: str
    host: str
    http_port: int
    grpc_host: str
    grpc_port: int

    @property
    def secure(self) -> bool:
        """Whether HTTP and gRPC use TLS."""
        return self.scheme != "weaviate"

    @property
    def cloud(self) -> bool:
        """Whether this is a Weaviate Cloud cluster."""
        return self.scheme == "weaviate+cloud"

    @property
    def safe_url(self) -> str:
        """The URL without anything secret, for reprs and messages."""
        if self.cloud:
            return f"weaviate+cloud://{self.host}"
        grpc = f"?grpc_port={self.grpc_port}"
        if self.grpc_host != self.host:
            grpc += f"&grpc_host={self.grpc_host}"
        return f"{self.scheme}://{self.host}:{self.http_port}{grpc}"


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what} must be a port number, not {value!r}") from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"{what} must be between 1 and 65535, not {port}")
    return port


def parse_url(url: str, *, grpc_port: Any = None, grpc_host: str | None = None) -> Endpoint:
    """Parse a Weaviate URL; ``grpc_port``/``grpc_host`` options override its parameters.

    Raises:
        ConfigurationError: unknown scheme or parameter, a missing host, a bad port, or credentials in
            the URL (they belong in ``WEAVIATE_API_KEY``).
    """
    split = split_store_url(
        url,
        engine="Weaviate",
        schemes=SCHEMES,
        secret="an API key",
        instead="set WEAVIATE_API_KEY or pass api_key=...",
    )
    scheme, port, params = split.scheme, split.port, split.params
    host = split.parts.hostname
    if not host:
        raise ConfigurationError(f"a {scheme}:// URL needs a host, e.g. {scheme}://localhost")
    unknown = sorted(set(params) - set(URL_PARAMETERS) - set(STORE_URL_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown parameter(s) {', '.join(unknown)} in a {scheme}:// URL; "
            f"known: {', '.join(URL_PARAMETERS + STORE_URL_OPTIONS)}"
        )
    params = {k: v for k, v in params.items() if k in URL_PARAMETERS}
    if scheme == "weaviate+cloud":
        if port is not None or params or grpc_port is not None or grpc_host is not None:
            raise ConfigurationError(
                "a weaviate+cloud:// URL names a cluster only, without port or parameters"
            )
        return Endpoint(scheme, host, 443, host, 443)
    default_http, default_grpc = (8080, 50051) if scheme == "weaviate" else (443, 443)
    http_port = port if port is not None else default_http
    gport = grpc_port if grpc_port is not None else params.get("grpc_port", default_grpc)
    ghost = grpc_host or params.get("grpc_host") or host
    return Endpoint(scheme, host, _port(http_port, "the HTTP port"), ghost, _port(gport, "grpc_port"))


def store_options_from_url(url: str) -> dict[str, Any]:
    """The store options in ``url``'s query (``index`` as text, ``ef_search``/``rerank_factor`` as ints).

    Raises:
        ConfigurationError: a numeric option that is not a whole number.
    """
    try:
        query = urlsplit(url).query
    except ValueError as exc:
        raise ConfigurationError(f"not a Weaviate URL: {exc}") from None
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in STORE_URL_OPTIONS:
            continue
        if key in _INT_STORE_OPTIONS:
            try:
                options[key] = int(value)
            except ValueError:
                raise ConfigurationError(f"URL option {key}={value!r} must be a whole number") from None
        else:
            options[key] = value
    return options


def api_key_from(option: str | None) -> str | None:
    """The API key: the option when given, else ``WEAVIATE_API_KEY`` (empty means none)."""
    key = option if option is not None else os.environ.get(API_KEY_ENV)
    return key or None


def open_client(
    endpoint: Endpoint,
    *,
    api_key: str | None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    init_timeout: float | None = None,
    skip_init_checks: bool = False,
) -> Any:
    """Connect a ``weaviate.WeaviateClient`` to ``endpoint`` (the caller closes it).

    Raises:
        ConfigurationError: ``weaviate+cloud`` without an API key.
    """
    import weaviate
    from weaviate.classes.init import AdditionalConfig, Auth, Timeout

    config = None
    if timeout is not None or init_timeout is not None:
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs.update(query=timeout, insert=timeout)
        if init_timeout is not None:
            kwargs["init"] = init_timeout
        config = AdditionalConfig(timeout=Timeout(**kwargs))
    auth = Auth.api_key(api_key) if api_key else None
    if endpoint.cloud:
        if auth is None:
            raise ConfigurationError(
                f"weaviate+cloud:// needs an API key: set {API_KEY_ENV} or pass api_key=..."
            )
        return weaviate.connect_to_weaviate_cloud(
            cluster_url=endpoint.host,
            auth_credentials=auth,
            headers=headers,
            additional_config=config,
            skip_init_checks=skip_init_checks,
        )
    return weaviate.connect_to_custom(
        http_host=endpoint.host,
        http_port=endpoint.http_port,
        http_secure=endpoint.secure,
        grpc_host=endpoint.grpc_host,
        grpc_port=endpoint.grpc_port,
        grpc_secure=endpoint.secure,
        headers=headers,
        additional_config=config,
        auth_credentials=auth,
        skip_init_checks=skip_init_checks,
    )
