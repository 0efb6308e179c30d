"""ORM embedding columns on a database without vector support (SQLite): float32 blobs, clear errors.

The embedder runs against the Gemini API emulator; calls are counted there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import media
import numpy as np
import pytest
from google import genai
from sqlalchemy import Engine, LargeBinary, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from gemini_vectors.content import Image, Item, Text
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import ConfigurationError, UnsupportedMediaError
from gemini_vectors.orm import EmbeddingType, embedding_column, part_for_value
from gemini_vectors.testing.gemini_emulator import GeminiEmulator

DIMS = 256


@pytest.fixture
def emb(gemini_client: genai.Client) -> Embedder:
    return Embedder(model="gemini-embedding-2", dimensions=DIMS, client=gemini_client, progress=False)


@pytest.fixture
def product(emb: Embedder) -> Any:
    class Base(DeclarativeBase):
        pass

    class Product(Base):
        __tablename__ = "products"
        id: Mapped[int] = mapped_column(primary_key=True)
        description: Mapped[str | None]
        photo: Mapped[bytes | None]
        embedding = embedding_column(source=["description", "photo"], embedder=emb)

    return Product


@pytest.fixture
def engine(product: Any) -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    product.metadata.create_all(engine)
    yield engine
    engine.dispose()


def row(session: Session, product: Any, key: int) -> Any:
    found = session.get(product, key)
    assert found is not None
    return found


def test_sqlite_gets_a_float32_blob_filled_on_flush(
    engine: Engine, product: Any, emb: Embedder, gemini_emulator: GeminiEmulator
) -> None:
    column_type = product.__table__.c.embedding.type
    assert isinstance(column_type, EmbeddingType)
    assert isinstance(column_type.load_dialect_impl(engine.dialect), LargeBinary)
    photo = media.png(rgb=(10, 200, 10))
    with Session(engine) as session:
        session.add_all(
            [product(id=1, description="red running shoes"), product(id=2, description="a mug", photo=photo)]
        )
        session.commit()
        assert gemini_emulator.stats.embed_calls == 1
        assert gemini_emulator.stats.embed_requests == 2
        raw = session.execute(text("SELECT embedding FROM products WHERE id = 1")).scalar_one()
        assert isinstance(raw, bytes) and len(raw) == 4 * DIMS
        loaded = row(session, product, 1).embedding
        assert loaded.dtype == np.float32 and loaded.shape == (DIMS,)
        want = emb.embed_documents(["red running shoes", Item(["a mug", Image(data=photo)])])
        np.testing.assert_array_equal(loaded, want[0])
        np.testing.assert_array_equal(row(session, product, 2).embedding, want[1])
        assert not np.allclose(want[1], emb.embed_documents(["a mug"])[0])  # the photo counts


def test_only_changed_rows_are_embedded_again(
    engine: Engine, product: Any, gemini_emulator: GeminiEmulator
) -> None:
    with Session(engine) as session:
        session.add_all([product(id=i, description=f"item {i}") for i in range(5)])
        session.commit()
        before = row(session, product, 3).embedding.copy()
        gemini_emulator.stats.reset()
        row(session, product, 0).photo = None  # a source set to what it was: no change
        row(session, product, 1).description = "item 1"
        session.commit()
        assert gemini_emulator.stats.embed_calls == 0
        row(session, product, 3).description = "something else"
        session.commit()
        assert (gemini_emulator.stats.embed_calls, gemini_emulator.stats.embed_requests) == (1, 1)
        assert not np.allclose(row(session, product, 3).embedding, before)


def test_all_null_sources_give_null_and_a_hand_set_vector_is_kept(
    engine: Engine, product: Any, gemini_emulator: GeminiEmulator
) -> None:
    mine = np.zeros(DIMS, dtype=np.float32)
    mine[0] = 1.0
    with Session(engine) as session:
        session.add_all([product(id=1), product(id=2, description="given", embedding=mine)])
        session.commit()
        assert gemini_emulator.stats.embed_calls == 0
        assert row(session, product, 1).embedding is None
        np.testing.assert_array_equal(row(session, product, 2).embedding, mine)
        given = row(session, product, 2)
        given.description = None
        session.commit()
        assert row(session, product, 2).embedding is None


def test_nearest_refuses_clearly_without_a_vector_database(
    engine: Engine, product: Any, gemini_emulator: GeminiEmulator
) -> None:
    with Session(engine) as session:
        session.add(product(id=1, description="red running shoes"))
        session.commit()
        gemini_emulator.stats.reset()
        query = select(product).order_by(product.embedding.nearest("shoes")).limit(5)
        with pytest.raises(
            ConfigurationError, match=r"nearest\(\) needs a database that can compare vectors"
        ):
            session.scalars(query).all()
        assert gemini_emulator.stats.embed_calls == 0  # refused before the query was embedded


def test_unsupported_bytes_name_the_column(engine: Engine, product: Any) -> None:
    with Session(engine) as session:
        session.add(product(id=1, description="x", photo=media.gif()))
        with pytest.raises(UnsupportedMediaError, match="image/gif") as info:
            session.commit()
        assert info.value.__notes__ == ["while embedding Product(id=1).embedding"]


def test_values_become_parts() -> None:
    assert part_for_value(None) is None
    assert part_for_value("") is None
    assert part_for_value(b"") is None
    assert part_for_value("hi") == Text("hi")
    assert part_for_value(b"plain text") == Text("plain text")
    assert part_for_value(42) == Text("42")
    image = part_for_value(media.png())
    assert isinstance(image, Image) and image.mime_type == "image/png"


def test_embedding_column_needs_a_source(emb: Embedder) -> None:
    with pytest.raises(ValueError, match="source column"):
        embedding_column(source=[], embedder=emb)


def test_sqlite_records_the_spec_and_embeds_an_edit_after_a_rollback(
    engine: Engine, product: Any, emb: Embedder, gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    from sqlalchemy.exc import IntegrityError

    from gemini_vectors.orm import SPEC_TABLE, ColumnSpecMismatchError

    with Session(engine) as session:
        session.add(product(id=1, description="taken"))
        session.commit()
        draft = product(id=2, description="first draft")
        session.add_all([draft, product(id=1, description="clash")])
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        draft.description = "second draft"
        session.add(draft)
        session.commit()
        stored = session.execute(select(product.embedding).where(product.id == 2)).scalar_one()
        np.testing.assert_array_equal(stored, emb.embed_documents(["second draft"])[0])
        recorded = session.execute(text(f"SELECT table_name, column_name, spec FROM {SPEC_TABLE}")).one()
        assert recorded[:2] == ("products", "embedding") and '"gemini-embedding-2"' in recorded[2]

    # Another embedder of the same dimensions on the same table is refused before any call.
    other = Embedder(model="gemini-embedding-001", dimensions=DIMS, client=gemini_client, progress=False)

    class Base(DeclarativeBase):
        pass

    class Product001(Base):
        __tablename__ = "products"
        id: Mapped[int] = mapped_column(primary_key=True)
        description: Mapped[str | None]
        photo: Mapped[bytes | None]
        embedding = embedding_column(source=["description", "photo"], embedder=other)

    gemini_emulator.stats.reset()
    with Session(engine) as session:
        session.add(Product001(id=3, description="new"))
        with pytest.raises(ColumnSpecMismatchError, match=r"gemini_vectors\.orm\.reembed"):
            session.commit()
    assert gemini_emulator.stats.total_calls == 0


def test_sqlite_a_reembed_rolled_back_or_failed_leaves_the_old_spec_and_vectors(
    engine: Engine, product: Any, emb: Embedder, gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    from gemini_vectors.errors import PartialEmbeddingError
    from gemini_vectors.orm import SPEC_TABLE, reembed

    poison = "<<rejected by the API>>"
    with Session(engine) as session:
        session.add_all(
            [product(id=i, description=(poison if i == 4 else "") + f"doc {i}") for i in range(1, 5)]
        )
        session.commit()
    other = Embedder(model="gemini-embedding-001", dimensions=DIMS, client=gemini_client, progress=False)

    class Base(DeclarativeBase):
        pass

    class Product001(Base):
        __tablename__ = "products"
        id: Mapped[int] = mapped_column(primary_key=True)
        description: Mapped[str | None]
        photo: Mapped[bytes | None]
        embedding = embedding_column(source=["description", "photo"], embedder=other)

    def state() -> tuple[str, bool]:
        with Session(engine) as session:
            spec = session.execute(text(f"SELECT spec FROM {SPEC_TABLE}")).scalar_one()
            rows = session.execute(select(product.description, product.embedding)).all()
        old = all(np.array_equal(v, emb.embed_documents([d])[0]) for d, v in rows)
        return spec, old

    before = state()
    assert before[1]
    with Session(engine) as session:
        assert reembed(session, Product001.embedding) == 4
        session.rollback()
    assert state() == before
    gemini_emulator.faults.reject_texts_containing = poison
    with Session(engine) as session:
        with pytest.raises(PartialEmbeddingError):
            reembed(session, Product001.embedding, batch_size=2)
        session.commit()
    gemini_emulator.faults.reject_texts_containing = None
    assert state() == before
