"""The sync and reembed commands refuse bad option combinations, memory stores and a missing extra before
anything is read, embedded or written; --offline and the 768-dimension default, on a SQLite source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sa = pytest.importorskip("sqlalchemy", reason="the sync commands need the sync extra")

from gemini_vectors.cli import main  # noqa: E402
from gemini_vectors.testing import GeminiEmulator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _source(tmp_path: Path, rows: int = 5) -> str:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute(
            sa.text("INSERT INTO docs VALUES (:i, :b)"), [{"i": i, "b": f"text {i}"} for i in range(rows)]
        )
    return url


def _state_tables(url: str) -> list[str]:
    return [t for t in sa.inspect(sa.create_engine(url)).get_table_names() if t.startswith("gemini_vectors")]


def _spec_of(url: str, job: str = "docs") -> str:
    with sa.create_engine(url).connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT spec FROM gemini_vectors_sync_jobs WHERE job = :j"), {"j": job}
            ).scalar()
        )


SYNC_REFUSED = [
    (["--watch", "--workers", "0"], "--workers must be at least 1, got 0"),
    (["--watch", "--workers", "-3"], "--workers must be at least 1, got -3"),
    (["--batch-prices"], "--batch-prices needs --dry-run"),
    (["--drain"], "--drain needs --watch"),
    (["--no-initial-sync"], "--no-initial-sync needs --watch"),
    (["--workers", "2"], "--workers needs --watch"),
    (["--poll-interval", "0.5"], "--poll-interval needs --watch"),
    (["--batch-size", "10"], "--batch-size needs --watch"),
    (["--watch", "--poll-interval", "0"], "--poll-interval must be a number of seconds above 0"),
    (["--watch", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--status", "--watch"], "--status and --watch are two different runs"),
    (["--dry-run", "--unwatch"], "--unwatch and --dry-run are two different runs"),
    (["--full", "--dry-run"], "--full needs a sync pass, which --dry-run skips"),
    (["--watch", "--no-initial-sync", "--full"], "--full needs a sync pass, which --no-initial-sync skips"),
    (["--page-size", "0"], "--page-size must be at least 1"),
    (["--max-attempts", "0"], "--max-attempts must be at least 1"),
]


@pytest.mark.parametrize(("extra", "message"), SYNC_REFUSED, ids=[" ".join(a) for a, _ in SYNC_REFUSED])
def test_sync_refuses_ignored_or_contradicting_options(
    tmp_path: Path,
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    url = _source(tmp_path)
    store = f"memory://opts-{uuid.uuid4().hex[:6]}"
    code = main(["sync", "--source", url, "--table", "docs", "--store", store, "--dimensions", "128", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"gemini-vectors: error: {message}") and err.count("\n") == 1, err
    # refused before anything was read, paid for or written
    assert gemini_env.stats.total_calls == 0 and _state_tables(url) == []


REEMBED_REFUSED = [
    (["--dimensions", "256", "--poll-interval", "1"], "--poll-interval needs --batch-mode"),
    (["--dimensions", "256", "--batch-items", "10"], "--batch-items needs --batch-mode"),
    (["--dimensions", "256", "--batch-mode", "--batch-items", "0"], "--batch-items must be at least 1"),
    (["--dimensions", "256", "--batch-mode", "--poll-interval", "-1"], "--poll-interval must be a number"),
    (["--dimensions", "256", "--dry-run", "--drop-old"], "--dry-run changes nothing, --drop-old drops"),
    (
        ["--abort", "--drop-old"],
        "--abort drops an unfinished re-embed and nothing else: leave --drop-old out",
    ),
    (["--dry-run"], "--dry-run prices a re-embed: say into what"),
]


@pytest.mark.parametrize(("extra", "message"), REEMBED_REFUSED, ids=[" ".join(a) for a, _ in REEMBED_REFUSED])
def test_reembed_refuses_ignored_or_contradicting_options(
    tmp_path: Path,
    gemini_env: GeminiEmulator,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    url = _source(tmp_path)
    store = f"memory://opts-{uuid.uuid4().hex[:6]}"
    assert (
        main(["sync", "--source", url, "--table", "docs", "--store", store, "--dimensions", "128", "--quiet"])
        == 0
    )
    capsys.readouterr()
    gemini_env.stats.reset()
    code = main(["reembed", "--source", url, "--collection", "docs", "--store", store, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"gemini-vectors: error: {message}") and err.count("\n") == 1, err
    assert gemini_env.stats.total_calls == 0 and '"dimensions":128' in _spec_of(url)


def test_reembed_has_no_ignored_table_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reembed", "--source", "sqlite://", "--table", "docs", "--dimensions", "256"])
    assert exc.value.code == 2 and "unrecognized arguments: --table" in capsys.readouterr().err


def _console(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemini_vectors.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_console_script_refuses_a_memory_store_for_a_sync(
    tmp_path: Path, gemini_emulator: GeminiEmulator
) -> None:
    """Its vectors would die with the command while the checkpoints stay in the source database."""
    url = _source(tmp_path)
    env = {**os.environ, "GEMINI_API_KEY": "test-key", "GOOGLE_GEMINI_BASE_URL": gemini_emulator.base_url}
    env.pop("GOOGLE_API_KEY", None)
    for command in (
        ["sync", "--source", url, "--table", "docs", "--store", "memory://", "--dimensions", "128"],
        ["sync", "--source", url, "--table", "docs", "--store", "memory://x", "--watch"],
    ):
        out = _console(command, env)
        assert out.returncode == 2, out
        assert "cannot write to memory://" in out.stderr and "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1
    assert gemini_emulator.stats.total_calls == 0 and _state_tables(url) == []
    # a dry run writes nothing, so it may price the table against an empty memory store
    dry = _console(["sync", "--source", url, "--table", "docs", "--store", "memory://", "--dry-run"], env)
    assert dry.returncode == 0 and "would embed 5" in dry.stdout, dry.stderr


def test_offline_sync_and_reembed_need_no_key_and_new_jobs_get_768_dims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    url = _source(tmp_path)
    store = f"memory://offline-{uuid.uuid4().hex[:6]}"
    base = ["--source", url, "--store", store, "--quiet"]
    assert main(["sync", *base, "--table", "docs", "--offline"]) == 0
    captured = capsys.readouterr()
    assert "embedded 5" in captured.out and "emulator" in captured.err
    assert '"dimensions":768' in _spec_of(url) and '"model":"gemini-embedding-2"' in _spec_of(url)
    # the recorded spec is kept: --model alone does not jump to the model's 3072
    assert main(["sync", *base, "--table", "docs", "--offline", "--model", "gemini-embedding-2"]) == 0
    assert "embedded 0, unchanged 5" in capsys.readouterr().out
    assert main(["reembed", *base, "--collection", "docs", "--offline", "--dimensions", "256"]) == 0
    capsys.readouterr()
    assert '"dimensions":256' in _spec_of(url)
    # without --offline and without a key, a sync never falls back to stand-in vectors
    assert main(["sync", *base, "--table", "docs", "--full"]) == 2
    assert "credentials" in capsys.readouterr().err


def test_an_existing_job_keeps_its_recorded_dimensions(
    tmp_path: Path, gemini_env: GeminiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _source(tmp_path)
    store = f"memory://kept-{uuid.uuid4().hex[:6]}"
    base = ["sync", "--source", url, "--table", "docs", "--store", store, "--quiet"]
    assert main([*base, "--dimensions", "3072"]) == 0
    assert main(base) == 0  # left out: the recorded 3072, not the CLI's 768 for new jobs
    assert "embedded 0, unchanged 5" in capsys.readouterr().out
    assert '"dimensions":3072' in _spec_of(url)


def test_status_unwatch_and_retry_errors_say_what_happened(
    tmp_path: Path, gemini_env: GeminiEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _source(tmp_path)
    base = ["sync", "--source", url, "--table", "docs", "--store", f"memory://st-{uuid.uuid4().hex[:6]}"]
    # a job that never ran has no status to show (not a screen of zeros)
    assert main([*base, "--status"]) == 2
    assert "no sync job 'docs' is recorded" in capsys.readouterr().err
    assert main([*base, "--retry-errors"]) == 2
    assert "run `gemini-vectors sync` first" in capsys.readouterr().err
    assert main([*base, "--quiet", "--dimensions", "128"]) == 0
    capsys.readouterr()
    assert main([*base, "--unwatch"]) == 0
    assert "has no triggers on" in capsys.readouterr().out  # not "removed"
    assert main([*base, "--retry-errors"]) == 0
    assert "no failed rows: nothing to retry" in capsys.readouterr().out
    assert main([*base, "--status"]) == 0
    assert "job docs: table" in capsys.readouterr().out


def _fresh_venv_without_the_sync_extra(tmp_path: Path) -> Path:
    """A venv with the README's install (core + pgvector plugin, no extra), built from uv's cache only."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed: see the manual check in the README's sync section")
    venv = tmp_path / "venv"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    try:
        subprocess.run([uv, "venv", "-q", str(venv)], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [uv, "pip", "install", "-q", "--offline", "-e", str(REPO), "-e",
             str(REPO / "plugins" / "gemini-vectors-pgvector")],
            check=True, capture_output=True, env=env, timeout=120,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no venv could be built offline quickly: {exc}")
    python = venv / "bin" / "python"
    if subprocess.run([python, "-c", "import sqlalchemy"], capture_output=True).returncode == 0:
        pytest.skip("SQLAlchemy came in anyway (another dependency brings it)")
    return python


def test_without_the_sync_extra_help_works_and_commands_name_the_extra(tmp_path: Path) -> None:
    python = _fresh_venv_without_the_sync_extra(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "PYTHONPATH")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "gemini_vectors.cli", *args], capture_output=True, text=True, env=env, timeout=120,
            cwd=tmp_path,
        )  # fmt: skip

    for command in ("sync", "reembed", "search"):
        helped = run(command, "--help")
        assert helped.returncode == 0 and "usage: gemini-vectors" in helped.stdout, helped.stderr
    db = f"sqlite:///{tmp_path / 'src.db'}"
    for args in (
        ("sync", "--source", db, "--table", "docs"),
        ("reembed", "--source", db, "--collection", "docs", "--dimensions", "256"),
        ("search", "--source", db, "--collection", "docs", "text"),
    ):
        out = run(*args)
        assert out.returncode == 2, out
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert "needs the 'sync' extra" in out.stderr and "pip install 'gemini-vectors[sync]'" in out.stderr
