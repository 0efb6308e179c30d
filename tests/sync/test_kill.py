"""A ``gemini-vectors sync`` killed with SIGKILL at a random point, then run again, loses and doubles nothing.

The sync runs in a child process against the embedded PostgreSQL (source and state) and the Gemini emulator
of this process (reached through GOOGLE_GEMINI_BASE_URL), which counts every vector it hands out across both
runs. The store is pgvector (in the same PostgreSQL) or, when their plugins are installed, the embedded
engines of Qdrant (persisted local mode), Chroma (PersistentClient) and Milvus Lite, each in a directory of
the test's own: the killed and the rerun sync are different processes, so the store must survive on disk.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sync_helpers import DIMS, Pg, create_docs, fast_embedder

import gemini_vectors as gv
from gemini_vectors.errors import CollectionNotFoundError
from gemini_vectors.plugins import store_schemes
from gemini_vectors.sync import Vectorizer
from gemini_vectors.testing import GeminiEmulator


@dataclass(frozen=True)
class Case:
    """One store of the kill test: its URL and the table size that keeps the engine's run short."""

    kind: str
    url: str
    rows: int
    page: int


def _case(kind: str, pg: Pg, schema: str, tmp_path: Path) -> Case:
    if kind == "postgresql":
        # no ANN index: what is tested is the write path, and HNSW upkeep would only slow the runs down
        if pg.pgdata is not None:
            url = f"postgresql+embedded://{pg.pgdata}?schema={schema}_store&index=none"
        else:
            sep = "&" if "?" in pg.url else "?"
            url = f"{pg.url}{sep}schema={schema}_store&index=none"
        return Case(kind, url, 5000, 200)
    scheme = {"qdrant": "qdrant+local", "chroma": "chroma", "milvus": "milvus+lite"}[kind]
    if scheme not in store_schemes():
        pytest.skip(f"the {kind.capitalize()} plugin is not installed")
    # the embedded engines write far slower than PostgreSQL: a small table keeps each case well under a minute
    path = tmp_path / ("kill.db" if kind == "milvus" else kind)
    return Case(kind, f"{scheme}://{path}", 500, 50)


def _sync_command(pg: Pg, schema: str, case: Case) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from gemini_vectors.cli import main; sys.exit(main(sys.argv[1:]))",
        "sync",
        "--source", pg.sqlalchemy_url,
        "--table", f"{schema}.docs",
        "--columns", "body",
        "--store", case.url,
        "--collection", "docs",
        "--model", "gemini-embedding-2",
        "--dimensions", str(DIMS),
        "--state-schema", schema,
        "--page-size", str(case.page),
        "--quiet",
    ]  # fmt: skip


@contextmanager
def _open(pg: Pg, schema: str, case: Case) -> Iterator[gv.VectorStore]:
    # the embedded engines are opened only while no sync runs: Qdrant's local mode locks its directory
    store = (
        gv.connect(pg.url, schema=f"{schema}_store") if case.kind == "postgresql" else gv.connect(case.url)
    )
    try:
        yield store
    finally:
        store.close()


def _stored(store: gv.VectorStore) -> int:
    try:
        return store.open_collection("docs").count()
    except CollectionNotFoundError:
        return 0


def _group_members(pgid: int) -> list[str]:
    """The live (not zombie) processes of process group ``pgid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(stat.split(" ", 1)[0] + " " + stat[stat.find("(") : stat.rfind(")") + 1])
    return found


@pytest.mark.parametrize("kind", ["postgresql", "qdrant", "chroma", "milvus"])
def test_sigkill_at_a_random_point_then_rerun(
    kind: str,
    pg: Pg,
    schema: str,
    pg_conn: psycopg.Connection[Any],
    gemini_emulator: GeminiEmulator,
    tmp_path: Path,
) -> None:
    case = _case(kind, pg, schema, tmp_path)
    rows, page = case.rows, case.page
    create_docs(pg_conn, schema, rows)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    threshold = rng.randrange(2 * page, rows - 4 * page)
    env = {
        **os.environ,
        "GOOGLE_GEMINI_BASE_URL": gemini_emulator.base_url,
        "GEMINI_API_KEY": "test-key",
    }
    env.pop("GOOGLE_API_KEY", None)

    # a session of its own, so the kill takes any helper it started too (Milvus Lite runs a server process)
    child = subprocess.Popen(
        _sync_command(pg, schema, case),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with _open(pg, schema, case) if kind == "postgresql" else _no_store() as watched:

            def progress() -> int:
                # PostgreSQL is read while the sync writes; the embedded engines cannot be (one process
                # per directory), so for them progress is what the emulator has embedded
                return _stored(watched) if watched is not None else gemini_emulator.stats.embedded

            deadline = time.monotonic() + 120
            while progress() < threshold:
                assert child.poll() is None, (
                    f"the sync ended before the kill (seed {seed}): {child.communicate()}"
                )
                assert time.monotonic() < deadline, f"no progress (seed {seed})"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))  # anywhere inside a page: embedding, writing, checkpointing
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while (left := _group_members(child.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"the killed sync left processes behind: {left}"

    with _open(pg, schema, case) as store:
        killed_at = _stored(store)
    assert killed_at < rows, f"the kill came too late to test anything (seed {seed})"

    rerun = subprocess.run(
        _sync_command(pg, schema, case), env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed from a checkpoint" in rerun.stdout

    with _open(pg, schema, case) as store:
        coll = store.open_collection("docs")
        ids = list(coll.iter_ids())
        assert len(ids) == rows and set(ids) == {str(i) for i in range(rows)}, f"seed {seed}"
        if kind == "postgresql":
            with psycopg.connect(pg.url) as conn:
                # exactly one row per id in the store's table, not merely as the store reports it
                table = conn.execute(
                    sql.SQL(
                        "SELECT table_name FROM {}.gemini_vectors_collections WHERE name = 'docs'"
                    ).format(sql.Identifier(f"{schema}_store"))
                ).fetchone()
                assert table is not None
                dupes = conn.execute(
                    sql.SQL("SELECT count(*) - count(DISTINCT id) FROM {}").format(
                        sql.Identifier(f"{schema}_store", table[0])
                    )
                ).fetchone()
                assert dupes == (0,)
        embedded = gemini_emulator.stats.embedded
        assert rows <= embedded <= rows + page, f"seed {seed}: {embedded} vectors for {rows} rows"

        # every stored vector matches its row's current content: a check pass embeds nothing
        gemini_emulator.stats.reset()
        with Vectorizer(
            pg.sqlalchemy_url,
            f"{schema}.docs",
            columns=["body"],
            store=store,
            collection="docs",
            state_schema=schema,
            embedder=fast_embedder(gemini_emulator),
            progress=False,
        ) as vec:
            check = vec.sync()
        assert (check.embedded, check.unchanged, check.deleted) == (0, rows, 0)
        assert gemini_emulator.stats.total_calls == 0


@contextmanager
def _no_store() -> Iterator[None]:
    yield None
