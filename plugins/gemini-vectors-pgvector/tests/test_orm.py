"""ORM embedding columns on PostgreSQL with pgvector: column types, flush-time embedding counted at the
Gemini API emulator, nearest() in SQL, async sessions on psycopg, and Alembic autogenerate."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from google import genai
from pgvector.sqlalchemy import HALFVEC, VECTOR
from psycopg import sql
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import gemini_vectors
import gemini_vectors.orm
from gemini_vectors import plugins
from gemini_vectors.embedder import Embedder
from gemini_vectors.orm import SPEC_TABLE, EmbeddingType, embedding_column, include_object, render_item
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.gemini_emulator import GeminiEmulator

DIMS = 768


def tiny_png(shade: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes((shade, 255 - shade, 90)) * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def sa_url(pg_url: str, schema: str) -> Iterator[str]:
    """A SQLAlchemy psycopg URL whose sessions work in a private schema (pgvector types from public)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield pg_url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def engine(sa_url: str, schema: str) -> Iterator[Engine]:
    engine = create_engine(sa_url, connect_args={"options": f"-c search_path={schema},public"})
    yield engine
    engine.dispose()


@pytest.fixture
def emb(gemini_client: genai.Client) -> Embedder:
    return Embedder(model="gemini-embedding-2", dimensions=DIMS, client=gemini_client, progress=False)


def one(session: Session, model: Any, key: int) -> Any:
    found = session.get(model, key)
    assert found is not None
    return found


def product_model(emb: Embedder) -> Any:
    class Base(DeclarativeBase):
        pass

    class Product(Base):
        __tablename__ = "products"
        id: Mapped[int] = mapped_column(primary_key=True)
        description: Mapped[str]
        photo: Mapped[bytes | None]
        embedding = embedding_column(source=["description", "photo"], embedder=emb)

    return Product


def test_the_hook_gives_vector_then_halfvec_on_postgres_and_nothing_elsewhere(engine: Engine) -> None:
    small = plugins.vector_column_type(engine.dialect, EmbeddingSpec.for_model("gemini-embedding-2", 768))
    big = plugins.vector_column_type(engine.dialect, EmbeddingSpec.for_model("gemini-embedding-2", 3072))
    assert isinstance(small, VECTOR) and small.dim == 768
    assert isinstance(big, HALFVEC) and big.dim == 3072
    sqlite = create_engine("sqlite://").dialect
    assert plugins.vector_column_type(sqlite, EmbeddingSpec.for_model("gemini-embedding-2", 768)) is None


def test_the_orm_example_counts_calls_at_the_emulator(
    engine: Engine, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Product = product_model(emb)
    Product.metadata.create_all(engine)
    column = sa.inspect(engine).get_columns("products")
    assert {c["name"]: str(c["type"]) for c in column}["embedding"] == "VECTOR(768)"

    products = [
        Product(id=i, description=f"running shoe model {i}", photo=tiny_png(i % 250) if i % 50 == 0 else None)
        for i in range(500)
    ]
    with Session(engine) as session:
        session.add_all(products)
        session.commit()
        assert gemini_emulator.stats.embed_calls == 5  # 500 rows, <= 100 per call, one Embedder call
        assert gemini_emulator.stats.embed_requests == 500

        gemini_emulator.stats.reset()
        # Loaded in one query: a get() per row would autoflush the previous change (one call each).
        for p in session.scalars(select(Product).where(Product.id.in_([7, 77, 177]))):
            p.description = f"red running shoe {p.id}"
        session.commit()
        assert (gemini_emulator.stats.embed_calls, gemini_emulator.stats.embed_requests) == (1, 3)

        gemini_emulator.stats.reset()
        one(session, Product, 8).description = "running shoe model 8"  # the same value
        session.commit()
        assert gemini_emulator.stats.total_calls == 0

        # nearest() runs in SQL, ordered like exact cosine similarity on the stored vectors.
        gemini_emulator.stats.reset()
        query = select(Product.id).order_by(Product.embedding.nearest("red running shoe 77")).limit(5)
        top = list(session.scalars(query))
        assert gemini_emulator.stats.embed_requests == 1
        q = emb.embed_query("red running shoe 77")
        stored = {pid: vec for pid, vec in session.execute(select(Product.id, Product.embedding))}
        exact = sorted(stored, key=lambda i: -float(np.dot(stored[i], q)))
        assert top == exact[:5]
        assert top[0] == 77
        score = session.scalar(select(Product.embedding.similarity(q)).where(Product.id == 77))
        assert score == pytest.approx(float(np.dot(stored[77], q)), abs=1e-5)


def test_3072_dims_get_halfvec(engine: Engine, gemini_client: genai.Client) -> None:
    emb = Embedder(model="gemini-embedding-2", dimensions=3072, client=gemini_client, progress=False)
    Product = product_model(emb)
    Product.metadata.create_all(engine)
    types = {c["name"]: str(c["type"]) for c in sa.inspect(engine).get_columns("products")}
    assert types["embedding"] == "HALFVEC(3072)"
    with Session(engine) as session:
        session.add(Product(id=1, description="a kettle"))
        session.commit()
        got = one(session, Product, 1).embedding
        assert got.dtype == np.float32 and got.shape == (3072,)
        np.testing.assert_allclose(got, emb.embed_documents(["a kettle"])[0], atol=2e-3)  # float16


async def test_async_session_on_psycopg(
    sa_url: str, schema: str, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    Product = product_model(emb)
    engine = create_async_engine(sa_url, connect_args={"options": f"-c search_path={schema},public"})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Product.metadata.create_all)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            session.add_all([Product(id=i, description=f"teapot {i}") for i in range(120)])
            await session.commit()
            assert (gemini_emulator.stats.embed_calls, gemini_emulator.stats.embed_requests) == (2, 120)
            top = (
                await session.scalars(
                    select(Product.id).order_by(Product.embedding.nearest("teapot 42")).limit(1)
                )
            ).all()
            assert top == [42]
            gemini_emulator.stats.reset()
            await session.commit()
            assert gemini_emulator.stats.total_calls == 0
    finally:
        await engine.dispose()


def test_alembic_autogenerate_renders_and_compares_the_column(engine: Engine, emb: Embedder) -> None:
    from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    Product = product_model(emb)

    def ours(name: str | None, type_: str, parent: Any) -> bool:
        # PostgreSQL shows every table on the search_path, and other tests leave theirs in public.
        return type_ != "table" or name in Product.metadata.tables or name == SPEC_TABLE

    opts = {"compare_type": True, "include_name": ours}
    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn, opts=opts)
        diffs = compare_metadata(ctx, Product.metadata)
        # The spec registry is the library's, not in the app's metadata (one app's drop_all() must not
        # drop what other apps' columns rely on): the first write creates it.
        assert sorted((d[0], d[1].name) for d in diffs) == [("add_table", "products")], diffs
        upgrade = produce_migrations(ctx, Product.metadata).upgrade_ops
        assert upgrade is not None
        code = render_python_code(upgrade, render_item=render_item)
        assert "gemini_vectors.orm.EmbeddingType(model='gemini-embedding-2', dimensions=768)" in code
        # The rendered migration runs as written (with the import render_item asks for).
        namespace: dict[str, Any] = {"op": Operations(ctx), "sa": sa, "gemini_vectors": gemini_vectors}
        exec("def upgrade():\n" + code, namespace)
        namespace["upgrade"]()
    types = {c["name"]: str(c["type"]) for c in sa.inspect(engine).get_columns("products")}
    assert types["embedding"] == "VECTOR(768)"
    with Session(engine) as session:
        session.add(Product(id=1, description="a first row"))
        session.commit()  # creates the registry
    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn, opts=opts)
        assert [d[0] for d in compare_metadata(ctx, Product.metadata)] == ["remove_table"]
        # With the library's include_object hook, the registry is left alone, and there is no spurious
        # alter_column either.
        ctx = MigrationContext.configure(conn, opts={**opts, "include_object": include_object})
        assert compare_metadata(ctx, Product.metadata) == []

    autogen = SimpleNamespace(imports=set())
    assert render_item("type", Product.__table__.c.embedding.type, autogen) == (
        "gemini_vectors.orm.EmbeddingType(model='gemini-embedding-2', dimensions=768)"
    )
    assert autogen.imports == {"import gemini_vectors.orm"}
    assert render_item("type", sa.Integer(), autogen) is False
    assert isinstance(Product.__table__.c.embedding.type, EmbeddingType)
