"""``chroma://``, ``chroma+http://`` and ``chroma+https://`` URLs, and their clients.

* ``chroma:///abs/path``: Chroma's embedded engine (``chromadb.PersistentClient``) on that directory;
* ``chroma+http://HOST[:PORT][?tenant=T&database=D]``: a Chroma server (default port 8000) through
  ``chromadb.HttpClient``;
* ``chroma+https://HOST[:PORT][?...]``: the same over TLS (default port 443), e.g. Chroma Cloud.

The token comes from ``CHROMA_API_KEY`` (or the ``api_key=`` option) and is sent as the ``x-chroma-token``
header; a key, a password or a token in the URL is refused: it would end up in logs and shell histories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gemini_vectors.backend_kit import refuse_unknown, split_store_url
from gemini_vectors.errors import ConfigurationError

API_KEY_ENV = "CHROMA_API_KEY"
TOKEN_HEADER = "x-chroma-token"
SCHEMES = ("chroma", "chroma+http", "chroma+https")
SERVER_PARAMETERS = ("tenant", "database")


@dataclass(frozen=True)
class Endpoint:
    """Where a Chroma answers, parsed from a URL."""

    scheme: str
    host: str = ""
    port: int = 8000
    tenant: str | None = None
    database: str | None = None
    path: str | None = None  # chroma:// (embedded)

    @property
    def embedded(self) -> bool:
        """Whether this is Chroma's embedded engine (in process, no server)."""
        return self.scheme == "chroma"

    @property
    def secure(self) -> bool:
        """Whether requests go over TLS."""
        return self.scheme == "chroma+https"

    @property
    def safe_url(self) -> str:
        """The URL in a normal form, without anything secret (it never holds any)."""
        if self.embedded:
            return f"chroma://{self.path}"
        params = [f"{k}={v}" for k, v in (("tenant", self.tenant), ("database", self.database)) if v]
        query = "?" + "&".join(params) if params else ""
        return f"{self.scheme}://{self.host}:{self.port}{query}"


def parse_url(url: str) -> Endpoint:
    """Parse a Chroma URL (see the module docstring).

    Raises:
        ConfigurationError: unknown scheme or parameter, a missing host, a relative path, a bad port, or a
            secret in the URL (the token belongs in ``CHROMA_API_KEY``).
    """
    split = split_store_url(
        url,
        engine="Chroma",
        schemes=SCHEMES,
        secret="a token",
        instead=f"set {API_KEY_ENV} or pass api_key=...",
    )
    scheme, parts, port, params = split.scheme, split.parts, split.port, split.params
    if scheme == "chroma":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or params:
            raise ConfigurationError(
                "chroma:// takes an absolute directory and no parameters, e.g. chroma:///var/chroma"
            )
        return Endpoint(scheme, path=os.path.normpath(path))
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"a {scheme}:// URL needs a host, e.g. {scheme}://localhost:8000")
    if parts.path.strip("/"):
        raise ConfigurationError(f"a {scheme}:// URL names a server only, not a path {parts.path!r}")
    refuse_unknown(
        params, SERVER_PARAMETERS, what="parameter", where=f" in a {scheme}:// URL", shown=SERVER_PARAMETERS
    )
    default_port = 443 if scheme == "chroma+https" else 8000
    return Endpoint(
        scheme,
        host=host,
        port=port if port is not None else default_port,
        tenant=params.get("tenant") or None,
        database=params.get("database") or None,
    )


def api_key_for(option: str | None) -> str | None:
    """The token: the option when given, else ``CHROMA_API_KEY`` (never in clear anywhere else)."""
    if option is not None:
        return option or None
    return os.environ.get(API_KEY_ENV) or None


def open_client(endpoint: Endpoint, *, api_key: str | None) -> Any:
    """A chromadb client for ``endpoint`` (telemetry off: nothing leaves the machine unasked)."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if endpoint.embedded:
        assert endpoint.path is not None
        os.makedirs(endpoint.path, exist_ok=True)
        # chromadb shares one engine per path within a process, so two stores of a path see each other
        return chromadb.PersistentClient(path=endpoint.path, settings=settings)
    kwargs: dict[str, Any] = {}
    if endpoint.tenant:
        kwargs["tenant"] = endpoint.tenant
    if endpoint.database:
        kwargs["database"] = endpoint.database
    return chromadb.HttpClient(
        host=endpoint.host,
        port=endpoint.port,
        ssl=endpoint.secure,
        headers={TOKEN_HEADER: api_key} if api_key else None,
        settings=settings,
        **kwargs,
    )
