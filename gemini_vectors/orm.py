"""SQLAlchemy embedding columns: filled on flush from other columns, searchable with ``.nearest()``.

::

    class Product(Base):
        __tablename__ = "products"
        id: Mapped[int] = mapped_column(primary_key=True)
        description: Mapped[str]
        photo: Mapped[bytes | None]
        embedding = embedding_column(source=["description", "photo"], embedder=emb)

    session.add_all(products); session.commit()      # embedded on flush, in one Embedder call
    session.scalars(select(Product).order_by(Product.embedding.nearest("red running shoes")).limit(5))

How it behaves:

* **On flush**, every new or changed instance whose source columns changed (SQLAlchemy's attribute
  history, so an unchanged row is never re-embedded) is collected, and all of them are embedded in ONE
  :meth:`Embedder.embed_documents` call per embedder (which sends at most 100 requests per API call).
  The sources of one row become one :class:`~gemini_vectors.content.Item`, hence one vector: strings are
  text, ``bytes`` are sniffed into Image, Audio, Video or PDF parts (text bytes become text), other values
  are formatted with ``str``. NULL and empty sources are left out; a row whose sources are all NULL gets
  a NULL embedding. A value assigned to the embedding column by hand is kept. Every flush is one
  Embedder call, autoflushes included: load the rows you change in one query (or change them inside
  ``with session.no_autoflush:``) so that one commit makes one call.
* **The column type** comes from the installed plugins through the ``vector_column_type`` hook: with
  gemini-vectors-pgvector on PostgreSQL, ``VECTOR(d)`` up to 2,000 dims and ``HALFVEC(d)`` above. On any
  other database (SQLite...) it falls back to a float32 blob; values still load as float32 numpy
  arrays, but ``.nearest()`` raises a clear error since the database cannot compare them.
* **Async sessions** work: the flush hook runs in the sync context of ``AsyncSession``, where the
  Embedder's synchronous call is made (it blocks the event loop for the duration of the API calls).
* **Alembic**: the type renders as ``gemini_vectors.orm.EmbeddingType(model=..., dimensions=...)``; pass
  :func:`render_item` to ``context.configure(render_item=...)`` in ``env.py`` to also get the import.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Float, LargeBinary, event, inspect, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import MappedColumn, Mapper, Session, mapped_column
from sqlalchemy.sql import ColumnElement, bindparam, cast, literal
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType
from sqlalchemy.types import TypeDecorator, TypeEngine

from gemini_vectors import plugins
from gemini_vectors.content import PDF, Audio, Image, Item, Part, Text, Video, part_from_bytes
from gemini_vectors.errors import (
    ConfigurationError,
    ContentError,
    PartialEmbeddingError,
)
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.store import as_vector

Vector = npt.NDArray[np.float32]

INFO_KEY = "gemini_vectors"
"""Key in ``Column.info`` under which an embedding column keeps its :class:`EmbeddingSource`."""


class EmbedderLike(Protocol):
    """What the ORM needs of an embedder (:class:`gemini_vectors.Embedder` has it)."""

    @property
    def spec(self) -> EmbeddingSpec: ...

    def embed_documents(self, items: Iterable[Any], titles: Sequence[str | None] | None = None) -> Any: ...

    def embed_query(self, item: Any, task: TaskType | str = TaskType.RETRIEVAL_QUERY) -> Any: ...


@dataclass(frozen=True)
class EmbeddingSource:
    """Where an embedding column's content comes from, kept in ``Column.info``.

    Attributes:
        columns: Attribute names whose values make the item, in order.
        embedder: The embedder that fills the column and embeds ``.nearest()`` queries.
        title: Attribute name of a document title (sent with the document task), or None.
    """

    columns: tuple[str, ...]
    embedder: EmbedderLike
    title: str | None = None


# -- the column type ---------------------------------------------------------------------------------


class EmbeddingType(TypeDecorator[Vector]):
    """A vector column for one embedding spec: the plugins' vector type, or a float32 blob.

    Args:
        model: The embedding model's name.
        dimensions: Vector length.
        embedder: The embedder used by ``.nearest()`` to embed text queries (optional).
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, model: str, dimensions: int, embedder: EmbedderLike | None = None) -> None:
        super().__init__()
        self.model = model
        self.dimensions = dimensions
        self.embedder = embedder
        self.spec = EmbeddingSpec.for_model(model, dimensions)

    @classmethod
    def for_spec(cls, spec: EmbeddingSpec, embedder: EmbedderLike | None = None) -> EmbeddingType:
        """The type for vectors of ``spec``."""
        return cls(spec.model, spec.dimensions, embedder)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        native = plugins.vector_column_type(dialect, self.spec)
        return dialect.type_descriptor(native if native is not None else LargeBinary())

    @property
    def is_blob(self) -> bool:
        """True when this (dialect-specific) type stores vectors as float32 blobs."""
        return isinstance(self.impl_instance, LargeBinary)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        vector = as_vector(value, self.dimensions, what="embedding")
        if isinstance(self.load_dialect_impl(dialect), LargeBinary):
            return vector.astype("<f4").tobytes()
        return vector

    def process_result_value(self, value: Any, dialect: Dialect) -> Vector | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return np.frombuffer(bytes(value), dtype="<f4").astype(np.float32)
        if hasattr(value, "to_numpy"):  # pgvector Vector/HalfVector, when the driver decodes them
            return np.asarray(value.to_numpy(), dtype=np.float32)
        return np.asarray(value, dtype=np.float32)

    def __repr__(self) -> str:
        return f"EmbeddingType(model={self.model!r}, dimensions={self.dimensions})"

    class comparator_factory(TypeDecorator.Comparator[Vector]):  # SQLAlchemy's name for the hook
        """Adds ``.nearest()`` and ``.similarity()`` to embedding columns."""

        def nearest(
            self, query: Any, *, task: TaskType | str = TaskType.RETRIEVAL_QUERY
        ) -> ColumnElement[float]:
            """The cosine distance to ``query``, for ``order_by`` (smallest first is nearest).

            ``query`` is text, a content part, an :class:`Item`, or a vector. Text and content are
            embedded with the column's embedder (with ``task``) when the statement runs, once.
            """
            return CosineDistance(self.expr, _query_param(self.expr.type, query, task))

        def similarity(
            self, query: Any, *, task: TaskType | str = TaskType.RETRIEVAL_QUERY
        ) -> ColumnElement[float]:
            """The cosine similarity to ``query`` (1 - distance), e.g. to select as a score."""
            return literal(1.0, Float) - self.nearest(query, task=task)


def _query_param(coltype: Any, query: Any, task: TaskType | str) -> Any:
    if not isinstance(coltype, EmbeddingType):  # pragma: no cover - the comparator lives on the type
        raise TypeError("nearest() works on embedding columns only")
    if isinstance(query, np.ndarray | list | tuple):
        vector = as_vector(query, coltype.dimensions, what="query vector")
        return bindparam(None, vector, type_=coltype, unique=True)
    embedder = coltype.embedder
    if embedder is None:
        raise ConfigurationError(
            "nearest() got content to embed but the column has no embedder; pass a vector, or define the "
            "column with embedding_column(..., embedder=...)"
        )
    lock = threading.Lock()
    cached: list[Vector] = []

    def embed_once() -> Vector:
        # Evaluated when the statement executes, after it compiled: no API call for a query that a
        # database without vector support would refuse anyway.
        with lock:
            if not cached:
                cached.append(as_vector(embedder.embed_query(query, task), coltype.dimensions))
            return cached[0]

    return bindparam(None, callable_=embed_once, type_=coltype, unique=True)


class CosineDistance(ColumnElement[float]):
    """Cosine distance between an embedding column and a query vector, compiled per dialect."""

    __visit_name__ = "gemini_vectors_cosine_distance"
    inherit_cache = True
    type = Float()

    def __init__(self, column: ColumnElement[Any], query: ColumnElement[Any]) -> None:
        self.column = column
        self.query = query

    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 - SQLAlchemy's declaration
        ("column", InternalTraversal.dp_clauseelement),
        ("query", InternalTraversal.dp_clauseelement),
    ]


@compiles(CosineDistance)
def _compile_cosine_distance(element: CosineDistance, compiler: SQLCompiler, **kw: Any) -> str:
    coltype = element.column.type
    assert isinstance(coltype, EmbeddingType)
    dialect = compiler.dialect
    native = coltype.load_dialect_impl(dialect)
    distance = getattr(native.comparator_factory, "cosine_distance", None)
    if isinstance(native, LargeBinary) or distance is None:
        raise ConfigurationError(
            f"nearest() needs a database that can compare vectors, but on {dialect.name} the embedding "
            f"column {getattr(element.column, 'key', '')!r} is stored as a float32 blob. Install "
            "gemini-vectors-pgvector and use PostgreSQL with pgvector, or load the vectors and compare "
            "them with numpy."
        )
    expr = type_coerce(element.column, native).op("<=>", return_type=Float)(cast(element.query, native))
    return f"({compiler.process(expr, **kw)})"  # a unit inside any larger expression (1 - ...)


# -- declaring columns ---------------------------------------------------------------------------------


def embedding_column(
    source: str | Sequence[str],
    embedder: EmbedderLike,
    *,
    title: str | None = None,
    **column_kwargs: Any,
) -> MappedColumn[Any]:
    """A mapped column holding the embedding of other columns, filled on flush.

    Args:
        source: The attribute name(s) whose values are embedded together into one vector per row.
        embedder: The embedder (its spec picks the column type; it embeds rows and ``.nearest()`` queries).
        title: Attribute name of a title to send with each document, or None.
        **column_kwargs: Passed to :func:`sqlalchemy.orm.mapped_column` (``nullable`` defaults to True).

    Raises:
        ValueError: no source column was named.
    """
    columns = (source,) if isinstance(source, str) else tuple(source)
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise ValueError("embedding_column needs the name of at least one source column")
    _install_flush_hook()
    info = dict(column_kwargs.pop("info", {}))
    info[INFO_KEY] = EmbeddingSource(columns, embedder, title)
    column_kwargs.setdefault("nullable", True)
    return mapped_column(EmbeddingType.for_spec(embedder.spec, embedder), info=info, **column_kwargs)


# -- filling columns on flush --------------------------------------------------------------------------


_hook_lock = threading.Lock()
_hook_installed = False
_columns_by_mapper: weakref.WeakKeyDictionary[Mapper[Any], list[tuple[str, EmbeddingSource]]] = (
    weakref.WeakKeyDictionary()
)


def _install_flush_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            # On the Session class, so every session sees it, including AsyncSession's sync_session.
            event.listen(Session, "before_flush", _before_flush)
            _hook_installed = True


def _embedding_columns(mapper: Mapper[Any]) -> list[tuple[str, EmbeddingSource]]:
    found = _columns_by_mapper.get(mapper)
    if found is None:
        found = []
        for prop in mapper.column_attrs:
            for col in prop.columns:
                src = getattr(col, "info", {}).get(INFO_KEY)
                if isinstance(src, EmbeddingSource):
                    found.append((prop.key, src))
        _columns_by_mapper[mapper] = found
    return found


def _changed(state: Any, key: str) -> bool:
    return bool(state.attrs[key].history.has_changes())


def part_for_value(value: Any, where: str = "value") -> Part | Item | None:
    """The content part for one source value; None for NULL and empty values.

    ``bytes`` are sniffed: images, audio, video and PDFs become those parts, UTF-8 text becomes text.

    Raises:
        UnsupportedMediaError: bytes of a type the model does not take; names ``where``.
    """
    if value is None:
        return None
    if isinstance(value, Item | Text | Image | Audio | Video | PDF):
        return value
    if isinstance(value, str):
        return Text(value) if value else None
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return part_from_bytes(data, where=where) if data else None
    return Text(str(value))


def item_for(obj: Any, src: EmbeddingSource) -> Item | None:
    """The item (one vector) made of ``obj``'s source values, or None when they are all NULL/empty."""
    parts: list[Part] = []
    for name in src.columns:
        part = part_for_value(getattr(obj, name), f"{type(obj).__name__}.{name}")
        if isinstance(part, Item):
            parts.extend(part.parts)
        elif part is not None:
            parts.append(part)
    return Item(parts) if parts else None


def _describe(obj: Any) -> str:
    mapper = inspect(obj).mapper
    keys = ", ".join(
        f"{mapper.get_property_by_column(col).key}={getattr(obj, mapper.get_property_by_column(col).key)!r}"
        for col in mapper.primary_key
    )
    return f"{type(obj).__name__}({keys})"


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    todo: dict[int, tuple[EmbedderLike, list[tuple[Any, str, Item, str | None]]]] = {}
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty]:
            state = inspect(obj)
            columns = _embedding_columns(state.mapper)
            if not columns:
                continue
            is_new = state.key is None
            for key, src in columns:
                if _changed(state, key):
                    continue  # set by hand: keep it
                if not is_new and not any(_changed(state, name) for name in src.columns):
                    continue
                item = item_for(obj, src)
                if item is None:
                    setattr(obj, key, None)
                    continue
                title = getattr(obj, src.title) if src.title else None
                group = todo.setdefault(id(src.embedder), (src.embedder, []))[1]
                group.append((obj, key, item, None if title is None else str(title)))
    for embedder, rows in todo.values():
        titles = [t for *_, t in rows]
        try:
            vectors = embedder.embed_documents(
                [item for _, _, item, _ in rows],
                titles=titles if any(t is not None for t in titles) else None,
            )
        except ContentError as exc:
            if exc.index is not None and 0 <= exc.index < len(rows):
                obj, key, _, _ = rows[exc.index]
                exc.add_note(f"while embedding {_describe(obj)}.{key}")
            raise
        except PartialEmbeddingError as exc:
            shown = ", ".join(f"{_describe(rows[i][0])}.{rows[i][1]}" for i in list(exc.failures)[:10])
            exc.add_note(f"rejected rows: {shown}; nothing was flushed")
            raise
        for (obj, key, _, _), vector in zip(rows, vectors, strict=True):
            setattr(obj, key, np.asarray(vector, dtype=np.float32))


# -- alembic ------------------------------------------------------------------------------------------


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Alembic ``render_item`` hook: renders embedding columns and adds ``import gemini_vectors.orm``.

    In ``env.py``: ``context.configure(..., render_item=gemini_vectors.orm.render_item)``.
    """
    if type_ == "type" and isinstance(obj, EmbeddingType):
        autogen_context.imports.add("import gemini_vectors.orm")
        return f"gemini_vectors.orm.{obj!r}"
    return False


__all__ = [
    "INFO_KEY",
    "CosineDistance",
    "EmbedderLike",
    "EmbeddingSource",
    "EmbeddingType",
    "embedding_column",
    "item_for",
    "part_for_value",
    "render_item",
]
