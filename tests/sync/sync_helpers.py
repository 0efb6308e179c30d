"""Helpers shared by the sync tests (imported as ``sync_helpers``; pytest puts this directory on the path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import gemini_vectors as gv
from gemini_vectors.retry import RetryPolicy
from gemini_vectors.testing import GeminiEmulator

#: Short texts keep 5,000-row runs quick against the emulator.
DIMS = 128


@dataclass(frozen=True)
class Pg:
    """The session's PostgreSQL: its libpq URL and, when embedded, its data directory."""

    url: str
    pgdata: Path | None

    @property
    def sqlalchemy_url(self) -> str:
        return "postgresql+psycopg://" + self.url.split("://", 1)[1]


def text_of(i: int, version: int = 0) -> str:
    """The body of row ``i``: short, distinct words so that searches find the row."""
    return f"row {i} w{i % 97} x{i % 89} y{i % 83}" + (f" v{version}" if version else "")


def create_docs(conn: psycopg.Connection[Any], schema: str, n: int, *, table: str = "docs") -> None:
    """A table ``schema.table (id bigint PK, body text, lang text)`` with ``n`` rows, loaded by COPY."""
    ident = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, body text, lang text)").format(ident))
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} (id, body, lang) FROM STDIN").format(ident)) as copy:
        for i in range(n):
            copy.write_row((i, text_of(i), "en" if i % 2 else "fr"))


def fast_embedder(
    emulator: GeminiEmulator, model: str = "gemini-embedding-2", dims: int = DIMS
) -> gv.Embedder:
    """An embedder on the emulator that retries quickly (faults tests would otherwise wait seconds)."""
    return gv.Embedder(
        model,
        dims,
        client=emulator.client(),
        retry=RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05),
        progress=False,
    )
