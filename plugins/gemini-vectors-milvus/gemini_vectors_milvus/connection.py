"""``milvus://``, ``milvuss://`` and ``milvus+lite://`` URLs, and their clients.

* ``milvus://HOST[:PORT][?db=NAME]``: a Milvus server over plain gRPC (default port 19530);
* ``milvuss://HOST[:PORT][?db=NAME]``: the same over TLS (Zilliz Cloud), with the token (``user:password``
  or an API key) from ``MILVUS_TOKEN`` (or the ``token=`` option);
* ``milvus+lite:///abs/path.db``: Milvus Lite, the engine in process, persisted in that file.

Milvus Lite holds a lock on its file, so every ``connect()`` of one path in a process shares one client
(counted, closed with the last store). A token or a password in the URL is refused: it would end up in
logs and shell histories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gemini_vectors.backend_kit import SharedClient, SharedClients, refuse_unknown, split_store_url
from gemini_vectors.errors import ConfigurationError

TOKEN_ENV = "MILVUS_TOKEN"
SCHEMES = ("milvus", "milvuss", "milvus+lite")
SERVER_PARAMETERS = ("db",)
DEFAULT_PORT = 19530


@dataclass(frozen=True)
class Endpoint:
    """Where a Milvus answers, parsed from a URL."""

    scheme: str
    host: str = ""
    port: int = DEFAULT_PORT
    db: str | None = None
    path: str | None = None  # milvus+lite

    @property
    def lite(self) -> bool:
        """Whether this is Milvus Lite (in process, no server)."""
        return self.scheme == "milvus+lite"

    @property
    def secure(self) -> bool:
        """Whether requests go over TLS."""
        return self.scheme == "milvuss"

    @property
    def uri(self) -> str:
        """The ``uri`` pymilvus takes (no secret: the token travels separately)."""
        if self.lite:
            assert self.path is not None
            return self.path
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"

    @property
    def safe_url(self) -> str:
        """The URL in a normal form, without anything secret (it never holds any)."""
        if self.lite:
            return f"milvus+lite://{self.path}"
        query = f"?db={self.db}" if self.db else ""
        return f"{self.scheme}://{self.host}:{self.port}{query}"


def parse_url(url: str) -> Endpoint:
    """Parse a Milvus URL (see the module docstring).

    Raises:
        ConfigurationError: unknown scheme or parameter, a missing host, a relative path or one not ending
            in ``.db``, a bad port, or a secret in the URL (the token belongs in ``MILVUS_TOKEN``).
    """
    split = split_store_url(
        url, engine="Milvus", schemes=SCHEMES, secret="a token", instead=f"set {TOKEN_ENV} or pass token=..."
    )
    scheme, parts, port, params = split.scheme, split.parts, split.port, split.params
    if scheme == "milvus+lite":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/") or params or not path.endswith(".db"):
            raise ConfigurationError(
                "milvus+lite:// takes an absolute path to a file ending in .db and no parameters, "
                "e.g. milvus+lite:///var/milvus/vectors.db"
            )
        return Endpoint(scheme, path=os.path.normpath(path))
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"a {scheme}:// URL needs a host, e.g. {scheme}://localhost:{DEFAULT_PORT}")
    if parts.path.strip("/"):
        raise ConfigurationError(
            f"a {scheme}:// URL names a server only; a database goes in ?db=..., not {parts.path!r}"
        )
    refuse_unknown(
        params, SERVER_PARAMETERS, what="parameter", where=f" in a {scheme}:// URL", shown=SERVER_PARAMETERS
    )
    if port is not None and not 0 < port < 65536:  # pragma: no cover - urlsplit refuses most already
        raise ConfigurationError(f"the port must be between 1 and 65535, not {port}")
    return Endpoint(
        scheme, host=host, port=port if port is not None else DEFAULT_PORT, db=params.get("db") or None
    )


def token_for(endpoint: Endpoint, option: str | None) -> str | None:
    """The token: the option when given, else ``MILVUS_TOKEN`` for a server (never in clear)."""
    if option is not None:
        return option or None
    if endpoint.lite:
        return None
    return os.environ.get(TOKEN_ENV) or None


def _close(shared: SharedClient[Any]) -> None:
    shared.client.close()
    # MilvusClient.close() leaves Milvus Lite's in-process server (and its lock on the file) running to
    # the end of the process: stop it, so another process can open the same file
    from milvus_lite.server_manager import server_manager_instance  # type: ignore[import-untyped]

    server_manager_instance.release_server(shared.key)  # the key is the path of the file


_lite_clients: SharedClients[Any] = SharedClients(_close)


def acquire_lite(endpoint: Endpoint) -> SharedClient[Any]:
    """The shared Milvus Lite client of ``endpoint``'s file, started on first use."""
    assert endpoint.path is not None
    path = endpoint.path

    def open_client() -> Any:
        try:
            from pymilvus import MilvusClient  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - pymilvus is a dependency
            raise ConfigurationError(f"pymilvus is not installed: {exc}") from None
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        return MilvusClient(path)

    return _lite_clients.acquire(path, open_client)


def release_lite(shared: SharedClient[Any]) -> None:
    """Give back a shared client; the last user closes it (and stops Milvus Lite's server)."""
    _lite_clients.release(shared)


def open_server_client(endpoint: Endpoint, *, token: str | None, timeout: float | None) -> Any:
    """A ``MilvusClient`` for a server endpoint (the caller closes it)."""
    from pymilvus import MilvusClient

    options: dict[str, Any] = {"uri": endpoint.uri}
    if token:
        options["token"] = token
    if endpoint.db:
        options["db_name"] = endpoint.db
    if timeout is not None:
        options["timeout"] = float(timeout)
    return MilvusClient(**options)
