"""The gemini-vectors command, run in-process and as the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gemini_vectors.cli import build_parser, main


def test_demo_runs_offline_on_a_memory_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--store", "memory://", "--offline", "--dimensions", "256"]) == 0
    captured = capsys.readouterr()
    assert "emulator" in captured.err
    assert "6 items" in captured.out and "gemini-embedding-2/256" in captured.out
    first_hits = [line.split()[-1] for line in captured.out.splitlines() if line.strip().startswith("1.")]
    assert first_hits == ["t0", "t4"]  # the cat text for the cat query, the rates text for the rates query


def test_errors_are_reported_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--store", "nosuchdb://x", "--offline"]) == 2
    assert "no plugin serves 'nosuchdb'" in capsys.readouterr().err


def test_every_command_has_help() -> None:
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"demo", "plugins", "emulator"} <= set(choices)
    for name, sub in choices.items():
        assert sub.format_help().strip(), name


def test_console_script_is_installed() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    out = subprocess.run(
        [sys.executable, "-m", "gemini_vectors.cli", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "memory" in out.stdout


def test_readme_main_job_on_the_embedded_default_store(tmp_path: os.PathLike[str]) -> None:
    """The README's first command: `gemini-vectors demo` with no store URL, no API key, no PostgreSQL."""
    pytest.importorskip("gemini_vectors_pgvector", reason="the default store is the pgvector plugin's")
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    env["XDG_DATA_HOME"] = str(tmp_path)  # a user data dir of its own: the server is created from scratch
    out = subprocess.run(
        [sys.executable, "-m", "gemini_vectors.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "postgresql+embedded://" in out.stderr
    assert "XDG_RUNTIME_DIR" not in out.stderr
    assert "collection 'quickstart': 6 items" in out.stdout
    assert os.path.isdir(os.path.join(tmp_path, "gemini-vectors", "pg"))
