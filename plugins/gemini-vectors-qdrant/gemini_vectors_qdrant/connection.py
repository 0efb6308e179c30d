"""``qdrant://``, ``qdrants://``, ``qdrant+local://`` and ``qdrant+memory://`` URLs, and their clients.

* ``qdrant://HOST[:PORT][?grpc=true&grpc_port=N&prefix=P]``: a Qdrant server over plain HTTP (REST port,
  default 6333), or over gRPC (default port 6334) with ``grpc=true``;
* ``qdrants://HOST[:PORT][?...]``: the same over TLS (Qdrant Cloud, default port 6333), with the API key
  from ``QDRANT_API_KEY`` (or the ``api_key=`` option);
* ``qdrant+local:///abs/path``: qdrant-client's local mode, persisted in that directory;
* ``qdrant+memory://[NAME]``: local mode in memory; a NAME shares one store within the process.

Every URL also takes the store's options as query parameters (``qdrant+local:///var/qdrant?index=mrl:512``,
``qdrant://host?ef_search=128``): ``index``, ``ef_search``, ``rerank_factor``, ``storage``,
``collection_prefix``, ``batch_size``, ``max_batch_bytes``, ``max_retries``, ``retry_backoff``,
``index_filtered_keys``; a keyword of ``gv.connect()`` wins over the same URL option.

Local mode allows one client per directory, so every ``connect()`` of one path in a process shares one
client (counted, closed with the last store). A key, a password or a token in the URL is refused: it
would end up in logs and shell histories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from gemini_vectors.backend_kit import SharedClient, SharedClients, refuse_unknown, split_store_url
from gemini_vectors.errors import ConfigurationError

API_KEY_ENV = "QDRANT_API_KEY"
SCHEMES = ("qdrant", "qdrants", "qdrant+local", "qdrant+memory")
SERVER_PARAMETERS = ("grpc", "grpc_port", "prefix")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Endpoint:
    """Where a Qdrant answers, parsed from a URL."""

    scheme: str
    host: str = ""
    port: int = 6333
    grpc: bool = False
    grpc_port: int = 6334
    prefix: str | None = None
    path: str | None = None  # qdrant+local
    memory_name: str = ""  # qdrant+memory

    @property
    def local(self) -> bool:
        """Whether this is qdrant-client's local mode (in process, no server)."""
        return self.scheme in ("qdrant+local", "qdrant+memory")

    @property
    def secure(self) -> bool:
        """Whether requests go over TLS."""
        return self.scheme == "qdrants"

    @property
    def safe_url(self) -> str:
        """The URL in a normal form, without anything secret (it never holds any)."""
        if self.scheme == "qdrant+local":
            return f"qdrant+local://{self.path}"
        if self.scheme == "qdrant+memory":
            return f"qdrant+memory://{self.memory_name}"
        params = []
        if self.grpc:
            params.append(f"grpc=true&grpc_port={self.grpc_port}")
        if self.prefix:
            params.append(f"prefix={self.prefix}")
        query = "?" + "&".join(params) if params else ""
        return f"{self.scheme}://{self.host}:{self.port}{query}"


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what} must be a port number, not {value!r}") from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"{what} must be between 1 and 65535, not {port}")
    return port


def _flag(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{what} takes true or false, not {value!r}")


def _int_option(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be an integer") from None


def _float_option(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be a number") from None


#: The store options a URL may carry, with how their text is read (the store checks the values).
URL_OPTIONS: dict[str, Any] = {
    "index": lambda name, raw: raw,
    "ef_search": _int_option,
    "rerank_factor": _int_option,
    "storage": lambda name, raw: raw,
    "collection_prefix": lambda name, raw: raw,
    "batch_size": _int_option,
    "max_batch_bytes": _int_option,
    "max_retries": _int_option,
    "retry_backoff": _float_option,
    "index_filtered_keys": lambda name, raw: _flag(raw, f"URL option {name}"),
}


def split_store_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take the store options (:data:`URL_OPTIONS`) out of ``url``'s query: the rest of the URL, and them.

    Raises:
        ConfigurationError: an option's text is not of its type, or an option is given twice.
    """
    base, sep, rest = url.partition("?")
    if not sep:
        return url, {}
    query, hash_sign, fragment = rest.partition("#")
    options: dict[str, Any] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in URL_OPTIONS:
            kept.append((key, value))
            continue
        if key in options:
            raise ConfigurationError(f"URL option {key} is given twice; give it once")
        options[key] = URL_OPTIONS[key](key, value)
    remaining = urlencode(kept)
    return base + ("?" + remaining if remaining else "") + hash_sign + fragment, options


def parse_url(url: str) -> Endpoint:
    """Parse a Qdrant URL (see the module docstring).

    Raises:
        ConfigurationError: unknown scheme or parameter, a missing host, a relative path, a bad port, or a
            secret in the URL (the API key belongs in ``QDRANT_API_KEY``).
    """
    split = split_store_url(
        url,
        engine="Qdrant",
        schemes=SCHEMES,
        secret="an API key",
        instead=f"set {API_KEY_ENV} or pass api_key=...",
    )
    scheme, parts, port, params = split.scheme, split.parts, split.port, split.params
    if scheme == "qdrant+local":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or params:
            raise ConfigurationError(
                "qdrant+local:// takes an absolute directory and no parameters but the store options "
                f"({', '.join(URL_OPTIONS)}), e.g. qdrant+local:///var/qdrant?index=mrl:512"
            )
        return Endpoint(scheme, path=os.path.normpath(path))
    if scheme == "qdrant+memory":
        if params or parts.path.strip("/"):
            raise ConfigurationError(
                "qdrant+memory:// takes an optional name and the store options "
                f"({', '.join(URL_OPTIONS)}) only, e.g. qdrant+memory://test?ef_search=128"
            )
        return Endpoint(scheme, memory_name=parts.netloc)
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"a {scheme}:// URL needs a host, e.g. {scheme}://localhost:6333")
    if parts.path.strip("/"):
        raise ConfigurationError(
            f"a {scheme}:// URL names a server only; a path prefix goes in ?prefix=..., not {parts.path!r}"
        )
    refuse_unknown(
        params,
        SERVER_PARAMETERS,
        what="parameter",
        where=f" in a {scheme}:// URL",
        shown=(*SERVER_PARAMETERS, *URL_OPTIONS),
    )
    grpc = _flag(params.get("grpc", "false"), "grpc")
    grpc_port = _port(params.get("grpc_port", 6334), "grpc_port")
    return Endpoint(
        scheme,
        host=host,
        port=_port(port if port is not None else 6333, "the port"),
        grpc=grpc,
        grpc_port=grpc_port,
        prefix=params.get("prefix") or None,
    )


def api_key_for(endpoint: Endpoint, option: str | None) -> str | None:
    """The API key: the option when given, else ``QDRANT_API_KEY`` for ``qdrants://`` (never in clear)."""
    if option is not None:
        return option or None
    if endpoint.secure:
        return os.environ.get(API_KEY_ENV) or None
    return None


def _close(shared: SharedClient[Any]) -> None:
    shared.client.close()


# local mode is plain Python over dicts (and sqlite when persisted): its callers hold SharedClient.lock
_local_clients: SharedClients[Any] = SharedClients(_close)


def acquire_local(endpoint: Endpoint) -> SharedClient[Any]:
    """The shared local-mode client of ``endpoint``, opened on first use.

    An unnamed ``qdrant+memory://`` gets a client of its own; a named one lives as long as the process
    (as ``memory://NAME`` does); a directory's closes with its last store.
    """
    from qdrant_client import QdrantClient

    def open_client() -> Any:
        if endpoint.scheme == "qdrant+local":
            assert endpoint.path is not None
            os.makedirs(endpoint.path, exist_ok=True)
            return QdrantClient(path=endpoint.path, force_disable_check_same_thread=True)
        return QdrantClient(location=":memory:", force_disable_check_same_thread=True)

    named_memory = endpoint.scheme == "qdrant+memory" and bool(endpoint.memory_name)
    return _local_clients.acquire(
        (endpoint.scheme, endpoint.path or endpoint.memory_name),
        open_client,
        shared=endpoint.scheme == "qdrant+local" or named_memory,
        lives_with_process=named_memory,
    )


def release_local(shared: SharedClient[Any]) -> None:
    """Give back a shared client; the last user closes it."""
    _local_clients.release(shared)


def open_server_client(
    endpoint: Endpoint, *, api_key: str | None, timeout: float | None, **client_options: Any
) -> Any:
    """A ``QdrantClient`` for a server endpoint (the caller closes it)."""
    from qdrant_client import QdrantClient

    return QdrantClient(
        host=endpoint.host,
        port=endpoint.port,
        grpc_port=endpoint.grpc_port,
        prefer_grpc=endpoint.grpc,
        https=endpoint.secure,
        api_key=api_key,
        prefix=endpoint.prefix,
        timeout=int(timeout) if timeout is not None else None,
        **client_options,
    )
