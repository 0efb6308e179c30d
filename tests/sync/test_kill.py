"""A ``gemini-vectors sync`` killed with SIGKILL at a random point, then run again, loses and doubles nothing.

The sync runs in a child process against the embedded PostgreSQL (source, state and pgvector store) and
the Gemini emulator of this process (reached through GOOGLE_GEMINI_BASE_URL), which counts every vector
it hands out across both runs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
from psycopg import sql
from sync_helpers import DIMS, Pg, create_docs, fast_embedder

import gemini_vectors as gv
from gemini_vectors.errors import CollectionNotFoundError
from gemini_vectors.sync import Vectorizer
from gemini_vectors.testing import GeminiEmulator

ROWS = 5000
PAGE = 200


def _store_url(pg: Pg, schema: str) -> str:
    # no ANN index: what is tested is the write path, and HNSW upkeep would only slow the runs down
    if pg.pgdata is not None:
        return f"postgresql+embedded://{pg.pgdata}?schema={schema}_store&index=none"
    sep = "&" if "?" in pg.url else "?"
    return f"{pg.url}{sep}schema={schema}_store&index=none"


def _sync_command(pg: Pg, schema: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from gemini_vectors.cli import main; sys.exit(main(sys.argv[1:]))",
        "sync",
        "--source", pg.sqlalchemy_url,
        "--table", f"{schema}.docs",
        "--columns", "body",
        "--store", _store_url(pg, schema),
        "--collection", "docs",
        "--model", "gemini-embedding-2",
        "--dimensions", str(DIMS),
        "--state-schema", schema,
        "--page-size", str(PAGE),
        "--quiet",
    ]  # fmt: skip


def _stored(store: gv.VectorStore) -> int:
    try:
        return store.open_collection("docs").count()
    except CollectionNotFoundError:
        return 0


def test_sigkill_at_a_random_point_then_rerun(
    pg: Pg, schema: str, pg_conn: psycopg.Connection[Any], gemini_emulator: GeminiEmulator
) -> None:
    create_docs(pg_conn, schema, ROWS)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    threshold = rng.randrange(2 * PAGE, ROWS - 4 * PAGE)
    env = {
        **os.environ,
        "GOOGLE_GEMINI_BASE_URL": gemini_emulator.base_url,
        "GEMINI_API_KEY": "test-key",
    }
    env.pop("GOOGLE_API_KEY", None)
    store = gv.connect(pg.url, schema=f"{schema}_store")
    try:
        child = subprocess.Popen(
            _sync_command(pg, schema), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while _stored(store) < threshold:
            assert child.poll() is None, (
                f"the sync ended before the kill (seed {seed}): {child.communicate()}"
            )
            assert time.monotonic() < deadline, f"no progress (seed {seed})"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # anywhere inside a page: embedding, writing, checkpointing
        child.send_signal(signal.SIGKILL)
        child.communicate()
        killed_at = _stored(store)
        assert child.returncode == -signal.SIGKILL
        assert killed_at < ROWS, f"the kill came too late to test anything (seed {seed})"

        rerun = subprocess.run(
            _sync_command(pg, schema), env=env, capture_output=True, text=True, timeout=300
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "resumed from a checkpoint" in rerun.stdout

        coll = store.open_collection("docs")
        ids = list(coll.iter_ids())
        assert len(ids) == ROWS and set(ids) == {str(i) for i in range(ROWS)}, f"seed {seed}"
        with psycopg.connect(pg.url) as conn:
            # exactly one row per id in the store's table, not merely as the store reports it
            table = conn.execute(
                sql.SQL("SELECT table_name FROM {}.gemini_vectors_collections WHERE name = 'docs'").format(
                    sql.Identifier(f"{schema}_store")
                )
            ).fetchone()
            assert table is not None
            dupes = conn.execute(
                sql.SQL("SELECT count(*) - count(DISTINCT id) FROM {}").format(
                    sql.Identifier(f"{schema}_store", table[0])
                )
            ).fetchone()
            assert dupes == (0,)
        embedded = gemini_emulator.stats.embedded
        assert ROWS <= embedded <= ROWS + PAGE, f"seed {seed}: {embedded} vectors for {ROWS} rows"

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
        assert (check.embedded, check.unchanged, check.deleted) == (0, ROWS, 0)
        assert gemini_emulator.stats.total_calls == 0
    finally:
        store.close()
