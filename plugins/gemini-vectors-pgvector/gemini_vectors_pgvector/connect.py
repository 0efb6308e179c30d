"""Store factories for the URL schemes this plugin serves, and the URL options they understand.

* ``postgresql://user:pass@host:5432/db`` (also ``postgres://`` and SQLAlchemy's ``postgresql+psycopg://``):
  an existing server with pgvector available.
* ``postgresql+embedded://`` the embedded server in the user data dir; ``postgresql+embedded:///abs/path``,
  ``postgresql+embedded://./relative/path`` or ``postgresql+embedded://~/path`` for another data dir.

gemini-vectors options may be given as URL query parameters or as keyword arguments to
``gv.connect()`` (keywords win): ``index`` (hnsw, binary, none, mrl:<d>), ``schema``, ``pool_size``,
``batch_size``, ``max_attempts``, ``hnsw_m``, ``hnsw_ef_construction``, ``rerank_factor``, ``ef_search``,
``defer_index_min_rows``, ``index_build_workers``, ``index_build_memory_mb``, ``create_extension``.
Every other query parameter (``sslmode``, ``host`` for a socket dir...) goes to libpq.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from gemini_vectors.errors import ConfigurationError
from gemini_vectors_pgvector.embedded import start_server
from gemini_vectors_pgvector.store import PgVectorStore

_INT_OPTIONS = frozenset(
    {
        "pool_size",
        "batch_size",
        "max_attempts",
        "hnsw_m",
        "hnsw_ef_construction",
        "rerank_factor",
        "ef_search",
        "defer_index_min_rows",
        "index_build_workers",
        "index_build_memory_mb",
    }
)
_STR_OPTIONS = frozenset({"index", "schema"})
_BOOL_OPTIONS = frozenset({"create_extension"})
OPTIONS = _INT_OPTIONS | _STR_OPTIONS | _BOOL_OPTIONS


def _coerce(name: str, raw: str) -> Any:
    if name in _INT_OPTIONS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"URL option {name}={raw!r} must be an integer") from None
    if name in _BOOL_OPTIONS:
        lowered = raw.lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigurationError(f"URL option {name}={raw!r} must be true or false")
        return lowered in ("1", "true", "yes", "on")
    return raw


def _unsplit(parts: SplitResult) -> str:
    """``urlunsplit``, keeping the ``//`` of a URL with an empty host (``postgresql:///db?host=/sock``):
    urlunsplit drops it, and libpq then reads the rest as a key=value string and refuses it."""
    text = urlunsplit(parts)
    if parts.scheme and not parts.netloc and not text.startswith(f"{parts.scheme}://"):
        text = f"{parts.scheme}://" + text[len(parts.scheme) + 1 :]
    return text


def split_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take the gemini-vectors options out of ``url``'s query; return the rest of the URL and them."""
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    passthrough: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in OPTIONS:
            options[key] = _coerce(key, value)
        else:
            passthrough.append((key, value))
    return _unsplit(parts._replace(query=urlencode(passthrough, quote_via=quote))), options


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise TypeError(
            f"unknown option(s) for a PostgreSQL store: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(OPTIONS))}"
        )


def connect_postgres(url: str, /, **options: Any) -> PgVectorStore:
    """The factory behind ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` URLs."""
    _check_options(options)
    rest, from_url = split_options(url)
    parts = urlsplit(rest)
    conninfo = _unsplit(parts._replace(scheme="postgresql"))
    return PgVectorStore(conninfo, url=url, **{**from_url, **options})


def embedded_path(url: str) -> str | None:
    """The data dir a ``postgresql+embedded://`` URL names, or None for the default."""
    parts = urlsplit(url)
    path = parts.netloc + parts.path
    if parts.netloc == "" and parts.path.startswith("/~"):
        path = parts.path[1:]
    return path or None


def connect_embedded(url: str, /, **options: Any) -> PgVectorStore:
    """The factory behind ``postgresql+embedded://`` URLs: start or reuse the embedded server."""
    _check_options(options)
    rest, from_url = split_options(url)
    server, uri = start_server(embedded_path(rest))
    shown = url if embedded_path(rest) else f"postgresql+embedded:// ({server.pgdata})"
    return PgVectorStore(uri, url=shown, server=server, **{**from_url, **options})
