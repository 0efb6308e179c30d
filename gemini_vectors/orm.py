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

* **On flush**, every new or changed instance whose vector is not the vector of its current content is
  collected, and all of them are embedded in ONE :meth:`Embedder.embed_documents` call per embedder
  (which sends at most 100 requests per API call). A vector is the function of the column's spec, its
  source values and its title: each vector the library computed or loaded is known, by identity, with
  the digest of that content, so an edit after a failed flush and rollback, a ``session.merge()`` of a
  detached copy, or a title-only change is embedded again, and an unchanged row never is. Vectors are
  assigned only once every embedder of the flush has answered. A value assigned by hand (an array the
  library did not make) is kept until the row's content changes. The sources of one row become one
  :class:`~gemini_vectors.content.Item`, hence one vector: strings are text, ``bytes`` are sniffed into
  Image, Audio, Video or PDF parts (text bytes become text), other values are formatted with ``str``.
  NULL and empty sources are left out; a row whose sources are all NULL gets a NULL embedding. Every
  flush is one Embedder call, autoflushes included: load the rows you change in one query (or change
  them inside ``with session.no_autoflush:``) so that one commit makes one call.
* **The spec** of each column is recorded in the table ``gemini_vectors_orm_specs`` (in the schema of the
  column's table; created on first write, and part of the metadata, so ``create_all`` and Alembic know
  it). A flush that would write vectors of another spec (a new model at the same dimensions) raises
  :class:`ColumnSpecMismatchError` before anything is embedded; :func:`reembed` is the way out.
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

import functools
import hashlib
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Column,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    insert,
    inspect,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy import Text as SAText
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import MappedColumn, Mapper, ORMExecuteState, Session, mapped_column
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql import ColumnElement, bindparam, cast, literal, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.ddl import CreateTable
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType
from sqlalchemy.types import TypeDecorator, TypeEngine

from gemini_vectors import plugins
from gemini_vectors.content import PDF, Audio, Image, Item, Part, Text, Video, part_from_bytes
from gemini_vectors.errors import (
    ArgumentError,
    ConfigurationError,
    ContentError,
    PartialEmbeddingError,
    SpecMismatchError,
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

    def compare_values(self, x: Any, y: Any) -> bool:
        # For the ORM's attribute history: numpy's == is elementwise, so without this an array equal
        # to the loaded one (session.merge() copies one in) would look like a new value.
        if x is None or y is None:
            return x is y
        try:
            if np.iscomplexobj(x) or np.iscomplexobj(y):
                return False  # never cast away an imaginary part: the flush refuses such a value
            return bool(np.array_equal(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)))
        except (TypeError, ValueError):
            return False

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
        vector = query_vector(query, coltype.dimensions)
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


def query_vector(values: Any, dimensions: int) -> Vector:
    """A query vector for ``nearest()``: checked, and scaled to unit length.

    Cosine distance does not depend on the query's length, so scaling changes no result; it keeps the
    database's float4 arithmetic from overflowing or underflowing (1e30 squared is inf, 1e-30 squared
    is 0, and either gives NaN distances).

    Raises:
        ArgumentError: wrong length, NaN or infinite elements, or a zero vector (no direction, so its
            distance to anything is undefined).
    """
    vector = as_vector(real_values(values, "query vector"), dimensions, what="query vector")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm == 0.0:
        raise ArgumentError(
            "nearest() got a zero query vector: it has no direction, so its cosine distance to every row "
            "is undefined. Pass a non-zero vector, or text to embed."
        )
    return (vector.astype(np.float64) / norm).astype(np.float32)


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
    mapped = mapped_column(EmbeddingType.for_spec(embedder.spec, embedder), info=info, **column_kwargs)
    return mapped


# -- filling columns on flush --------------------------------------------------------------------------
#
# One rule decides whether a row's vector is stale, wherever the row has been (a failed flush and its
# rollback, session.merge(), another embedder failing in the same flush): a vector is the function of the
# column's spec, its title and its source values. Every vector object the library knows of (those it
# computed, and those loaded from the database beside their content) is noted, by identity, with the
# digest of the content it belongs to. At flush a known vector whose digest differs from the digest of
# the row's current content is embedded again. A value the library does not know of, assigned since the
# row was loaded, is the user's own and is kept. numpy's == never decides anything here.


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
            event.listen(Session, "do_orm_execute", _check_query_specs)
            # On every mapper: a vector loaded from the database is noted with the content loaded beside it.
            event.listen(Mapper, "load", _on_load)
            event.listen(Mapper, "refresh", _on_refresh)
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


def _title_for(obj: Any, src: EmbeddingSource) -> str | None:
    title = getattr(obj, src.title) if src.title else None
    return None if title is None else str(title)


def _value_bytes(value: Any) -> bytes:
    # Tagged by kind, so that b"x" and "x" (or None and "") never share a digest.
    if value is None:
        return b"n"
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + bytes(value)
    if isinstance(value, Item | Text | Image | Audio | Video | PDF):
        return b"p" + value.content_hash().encode()
    return b"o" + str(value).encode("utf-8", "surrogatepass")


@functools.lru_cache(maxsize=64)
def _spec_bytes(spec: EmbeddingSpec) -> bytes:
    return spec.to_json().encode()  # once per spec: digests are taken on every load of a row


def content_digest(src: EmbeddingSource, value_of: Callable[[str], Any]) -> str:
    """The digest of everything an embedding column's vector is a function of: spec, sources and title.

    Args:
        src: The column's source description.
        value_of: Gives the current value of an attribute by name.
    """
    h = hashlib.sha256(b"gemini-vectors orm content v1\0")
    h.update(_spec_bytes(src.embedder.spec))
    for name in src.columns:
        value = _value_bytes(value_of(name))
        h.update(b"\0source %d:" % len(value) + value)
    if src.title:
        value = _value_bytes(value_of(src.title))
        h.update(b"\0title %d:" % len(value) + value)
    return h.hexdigest()


class _Origins:
    """The content digest of each vector object the library knows of, by identity (weakly held)."""

    def __init__(self) -> None:
        # Reentrant: a weakref callback may run (garbage collection) while this thread holds the lock.
        self._lock = threading.RLock()
        self._by_id: dict[int, tuple[weakref.ref[Any], str]] = {}

    def note(self, vector: Any, digest: str) -> None:
        if not isinstance(vector, np.ndarray):
            return
        key = id(vector)

        def forget(ref: weakref.ref[Any]) -> None:
            with self._lock:
                entry = self._by_id.get(key)
                if entry is not None and entry[0] is ref:
                    del self._by_id[key]

        with self._lock:
            self._by_id[key] = (weakref.ref(vector, forget), digest)

    def digest(self, vector: Any) -> str | None:
        if not isinstance(vector, np.ndarray):
            return None
        with self._lock:
            entry = self._by_id.get(id(vector))
        if entry is None or entry[0]() is not vector:
            return None
        return entry[1]


_origins = _Origins()


def _inputs(src: EmbeddingSource) -> tuple[str, ...]:
    return (*src.columns, src.title) if src.title else src.columns


def _note_loaded(state: Any) -> None:
    for key, src in _embedding_columns(state.mapper):
        vector = state.dict.get(key)
        if not isinstance(vector, np.ndarray):
            continue
        names = _inputs(src)
        # Only the content as stored: a source not loaded, or changed since (a refresh of other
        # attributes of a dirty row), is not what the stored vector was made from.
        if any(name not in state.dict or name in state.committed_state for name in names):
            continue
        _origins.note(vector, content_digest(src, state.dict.__getitem__))


def _on_load(target: Any, context: Any) -> None:
    _note_loaded(inspect(target))


def _on_refresh(target: Any, context: Any, attrs: Any) -> None:
    _note_loaded(inspect(target))


def _describe(obj: Any) -> str:
    mapper = inspect(obj).mapper
    keys = ", ".join(
        f"{mapper.get_property_by_column(col).key}={getattr(obj, mapper.get_property_by_column(col).key)!r}"
        for col in mapper.primary_key
    )
    return f"{type(obj).__name__}({keys})"


@dataclass(frozen=True)
class _Job:
    obj: Any
    key: str
    item: Item
    title: str | None
    digest: str


_KEEP: Literal["keep"] = "keep"
_CLEAR: Literal["clear"] = "clear"
_OWN: Literal["own"] = "own"


def _decide(state: Any, key: str, src: EmbeddingSource) -> _Job | Literal["keep", "clear", "own"]:
    obj = state.obj()
    # Read the current content first: this loads expired sources (and the vector with them).
    item = item_for(obj, src)
    digest = content_digest(src, functools.partial(getattr, obj))
    current = state.dict.get(key, NO_VALUE)
    made_from = _origins.digest(current)
    if made_from is None:
        if _changed(state, key):
            return _OWN  # assigned since the row was loaded, and not by the library: the user's vector
        if state.key is not None and not any(_changed(state, name) for name in _inputs(src)):
            return _KEEP  # the stored vector of the stored content
    elif made_from == digest:
        return _KEEP
    if item is None:
        return _KEEP if current is None or (current is NO_VALUE and state.key is None) else _CLEAR
    return _Job(obj, key, item, _title_for(obj, src), digest)


def _check_own_vector(obj: Any, key: str, src: EmbeddingSource) -> None:
    value = getattr(obj, key)
    if value is None:
        return
    where = f"{_describe(obj)}.{key}"
    vector = as_vector(real_values(value, where), src.embedder.spec.dimensions, what=where)
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm == 0.0:
        raise ArgumentError(
            f"{where} was set to a zero vector; its cosine distance to anything is undefined. "
            "Assign a non-zero vector, or None to leave the row out of searches."
        )
    # Stored at unit length, like every vector the library makes: a tiny float32 vector would round to
    # all zeros in a HALFVEC column (and give NaN distances), a huge one overflow it. Cosine distance is
    # the same for any length, so no search result changes.
    unit = (vector.astype(np.float64) / norm).astype(np.float32)
    if not (isinstance(value, np.ndarray) and np.array_equal(unit, value)):
        setattr(obj, key, unit)


def real_values(values: Any, what: str) -> Any:
    """``values``, refused when it is an array of what numpy would cast to floats but are not real numbers.

    Raises:
        ArgumentError: complex numbers (the imaginary part would be dropped), strings, booleans or bytes.
    """
    arr = values if isinstance(values, np.ndarray) else None
    if arr is None and isinstance(values, list | tuple):
        arr = np.asarray(values, dtype=object)
    if arr is None:
        return values
    if arr.dtype.kind == "O":
        bad = next(
            (
                v
                for v in arr.ravel()
                if isinstance(v, bool | np.bool_)
                or not isinstance(v, int | float | np.number)
                or isinstance(v, complex | np.complexfloating)
            ),
            None,
        )
        kind = None if bad is None else type(bad).__name__
    else:
        kind = None if arr.dtype.kind in "iuf" else str(arr.dtype)
    if kind is not None:
        raise ArgumentError(
            f"{what} must hold real numbers, not {kind} values; convert it yourself, e.g. "
            "np.asarray(values, dtype=np.float32), if that is what you mean."
        )
    return values


def _embed(embedder: EmbedderLike, jobs: list[_Job]) -> list[Vector]:
    titles = [job.title for job in jobs]
    try:
        vectors = embedder.embed_documents(
            [job.item for job in jobs], titles=titles if any(t is not None for t in titles) else None
        )
    except ContentError as exc:
        if exc.index is not None and 0 <= exc.index < len(jobs):
            exc.add_note(f"while embedding {_describe(jobs[exc.index].obj)}.{jobs[exc.index].key}")
        raise
    except PartialEmbeddingError as exc:
        shown = ", ".join(f"{_describe(jobs[i].obj)}.{jobs[i].key}" for i in list(exc.failures)[:10])
        exc.add_note(f"rejected rows: {shown}; nothing was flushed")
        raise
    # A new array per row: its identity is what marks it as the library's.
    return [np.array(vector, dtype=np.float32) for vector in vectors]


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    batches: dict[int, tuple[EmbedderLike, list[_Job]]] = {}
    clears: list[tuple[Any, str]] = []
    written: dict[tuple[str | None, str, str], tuple[Mapper[Any], EmbeddingSpec]] = {}
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty]:
            state = inspect(obj)
            for key, src in _embedding_columns(state.mapper):
                action = _decide(state, key, src)
                if action == _KEEP:
                    continue
                if action == _OWN:
                    _check_own_vector(obj, key, src)
                elif action == _CLEAR:
                    clears.append((obj, key))
                elif isinstance(action, _Job):
                    batches.setdefault(id(src.embedder), (src.embedder, []))[1].append(action)
                table = state.mapper.get_property(key).columns[0].table
                written[(table.schema, table.name, key)] = (state.mapper, src.embedder.spec)
        _check_specs(session, written)  # before anything is paid for
    computed: list[tuple[_Job, Vector]] = []
    for embedder, jobs in batches.values():
        computed.extend(zip(jobs, _embed(embedder, jobs), strict=True))
    # Assigned only once every embedder has answered: when one fails, no vector of this flush is left
    # in memory to pass for fresh (the rows stay as they were, and the next flush embeds them).
    for obj, key in clears:
        setattr(obj, key, None)
    for job, vector in computed:
        setattr(job.obj, job.key, vector)
        _origins.note(vector, job.digest)


# -- the spec of each column, recorded in the database -----------------------------------------------------
#
# Two columns of the same dimensions can hold two vector spaces (gemini-embedding-001 and -2 at 768):
# the type cannot tell them apart, so the spec is recorded in a small table beside the user's tables,
# keyed by table and column, and every flush that writes a column compares it first.

SPEC_TABLE = "gemini_vectors_orm_specs"
"""Name of the table recording the spec of each embedding column (in the schema of the column's table)."""

_spec_tables: dict[str | None, Table] = {}
_spec_tables_lock = threading.Lock()


def spec_table(metadata: MetaData, schema: str | None = None) -> Table:
    """The spec registry table, defined in ``metadata`` (once).

    The library creates the registry itself on the first write and never adds it to your metadata: it is
    shared by every app writing embedding columns in the schema, so one app's ``drop_all()`` must not drop
    it. Call this only to create the registry yourself (``spec_table(MetaData()).create(engine)``).
    """
    key = f"{schema}.{SPEC_TABLE}" if schema else SPEC_TABLE
    found = metadata.tables.get(key)
    if found is not None:
        return found
    return Table(
        SPEC_TABLE,
        metadata,
        Column("table_name", String(255), primary_key=True),
        Column("column_name", String(255), primary_key=True),
        Column("spec", SAText(), nullable=False),
        schema=schema,
    )


def _registry(schema: str | None) -> Table:
    with _spec_tables_lock:
        table = _spec_tables.get(schema)
        if table is None:
            table = _spec_tables[schema] = spec_table(MetaData(), schema)
        return table


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: leaves the spec registry out of autogenerate.

    The registry is not in your metadata (the library owns it and creates it on the first write), so
    without this autogenerate would propose to drop it. In ``env.py``:
    ``context.configure(..., include_object=gemini_vectors.orm.include_object)`` (or call it from yours).
    """
    return not (type_ == "table" and name == SPEC_TABLE)


class ColumnSpecMismatchError(SpecMismatchError):
    """An embedding column holds vectors of another spec than its embedder's.

    Attributes:
        column: ``table.column``.
        stored: The spec recorded for the column.
        requested: The spec of the column's embedder now.
    """

    def __init__(self, column: str, stored: EmbeddingSpec, requested: EmbeddingSpec, attribute: str) -> None:
        super().__init__(column, stored, requested)
        self.column = column
        self.args = (
            f"embedding column {column!r} holds vectors of {stored.describe()}, but its embedder is "
            f"{requested.describe()}; vectors of two specs must never meet in one column. Define the column "
            f"with an embedder of the recorded spec, or re-embed every row with the new one: "
            f"gemini_vectors.orm.reembed(session, {attribute}) and commit.",
        )


def _ensure_registry(conn: Connection, schema: str | None) -> Table:
    """The registry table, created when missing; safe when several processes make a first write at once."""
    registry = _registry(schema)
    if inspect(conn).has_table(SPEC_TABLE, schema=schema):
        return registry
    if conn.dialect.name == "postgresql":
        # CREATE TABLE IF NOT EXISTS alone is not safe against a concurrent CREATE (that one fails on the
        # pg_type unique index): the first creator holds this lock until it commits, and the next one
        # then finds the table. Taken only while the table is missing, so writes never queue on it later.
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"gemini_vectors:{SPEC_TABLE}:{schema or ''}"},
        )
    conn.execute(CreateTable(registry, if_not_exists=True))
    return registry


def _insert_missing(
    conn: Connection, registry: Table, table_name: str, column: str, spec: EmbeddingSpec
) -> None:
    """Insert the column's registry row unless one is there (another writer's, maybe not committed yet)."""
    values = {"table_name": table_name, "column_name": column, "spec": spec.to_json()}
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(pg_insert(registry).values(**values).on_conflict_do_nothing())
    elif name == "sqlite":
        conn.execute(sqlite_insert(registry).values(**values).on_conflict_do_nothing())
    else:
        try:
            with conn.begin_nested():
                conn.execute(insert(registry).values(**values))
        except IntegrityError:
            pass  # another writer recorded the column first: the caller reads and compares its spec


def _claim_spec(
    conn: Connection,
    schema: str | None,
    table_name: str,
    column: str,
    spec: EmbeddingSpec,
    *,
    exclusive: bool,
) -> EmbeddingSpec:
    """The column's recorded spec (``spec`` when none was), its registry row locked to the end of the
    transaction: shared for a writer, so that a running reembed() makes it wait and then see the spec
    that one recorded (and a later reembed() waits for it); exclusive for reembed(). SQLite has one writer
    at a time and no lock clause."""
    registry = _ensure_registry(conn, schema)
    where = (registry.c.table_name == table_name, registry.c.column_name == column)
    locked = select(registry.c.spec).where(*where).with_for_update(read=not exclusive)
    stored = conn.execute(locked).scalar_one_or_none()
    if stored is None:
        _insert_missing(conn, registry, table_name, column, spec)
        stored = conn.execute(locked).scalar_one()
    return EmbeddingSpec.from_json(stored)


def _recorded_spec(
    conn: Connection, schema: str | None, table_name: str, column: str
) -> EmbeddingSpec | None:
    """The column's recorded spec, read without a lock (for queries), or None."""
    registry = _registry(schema)
    if not inspect(conn).has_table(SPEC_TABLE, schema=schema):
        return None
    stored = conn.execute(
        select(registry.c.spec).where(registry.c.table_name == table_name, registry.c.column_name == column)
    ).scalar_one_or_none()
    return None if stored is None else EmbeddingSpec.from_json(stored)


def _check_specs(
    session: Session, written: dict[tuple[str | None, str, str], tuple[Mapper[Any], EmbeddingSpec]]
) -> None:
    for (schema, table_name, key), (mapper, spec) in written.items():
        conn = session.connection(bind_arguments={"mapper": mapper})
        column = mapper.get_property(key).columns[0].name
        recorded = _claim_spec(conn, schema, table_name, column, spec, exclusive=False)
        if recorded != spec:
            raise ColumnSpecMismatchError(
                f"{table_name}.{column}", recorded, spec, f"{mapper.class_.__name__}.{key}"
            )


def _check_query_specs(orm_execute_state: ORMExecuteState) -> None:
    """Before an ORM query with ``nearest()``/``similarity()`` runs (and before its text is embedded):
    the column's recorded spec must be its embedder's, or the distances compare two vector spaces."""
    if not orm_execute_state.is_select:
        return
    statement: Any = orm_execute_state.statement
    columns: dict[tuple[str | None, str, str], Any] = {}
    for element in visitors.iterate(statement):
        if isinstance(element, CosineDistance):
            col = element.column
            table = getattr(col, "table", None)
            if isinstance(table, Table):
                columns[(table.schema, table.name, getattr(col, "name", ""))] = col
    for col in columns.values():
        coltype = col.type
        table = getattr(col, "table", None)
        if not isinstance(coltype, EmbeddingType) or not isinstance(table, Table):
            continue
        mappers = [m for m in orm_execute_state.all_mappers if table in m.tables]
        conn = orm_execute_state.session.connection(
            bind_arguments={"mapper": mappers[0]} if mappers else {"clause": table}
        )
        recorded = _recorded_spec(conn, table.schema, table.name, col.name)
        if recorded is not None and recorded != coltype.spec:
            attribute = f"{mappers[0].class_.__name__}.{col.key}" if mappers else f"{table.name}.{col.key}"
            raise ColumnSpecMismatchError(f"{table.name}.{col.name}", recorded, coltype.spec, attribute)


def _record_spec(
    conn: Connection, schema: str | None, table_name: str, column: str, spec: EmbeddingSpec
) -> None:
    # Locked FOR UPDATE to the end of the transaction: writers of the old spec that already checked it
    # commit first (their rows are then in the pages read next), later ones wait and then see this spec.
    if _claim_spec(conn, schema, table_name, column, spec, exclusive=True) != spec:
        registry = _registry(schema)
        where = (registry.c.table_name == table_name, registry.c.column_name == column)
        conn.execute(update(registry).where(*where).values(spec=spec.to_json()))


def reembed(session: Session, attribute: Any, *, batch_size: int = 100) -> int:
    """Embed every row of an embedding column again with the column's embedder, and record its spec.

    The way out of :class:`ColumnSpecMismatchError` after the column's embedder changed. It runs in the
    session's transaction, in a savepoint, a page of rows per Embedder call and flush: commit to keep the
    new vectors (until then other sessions see the old vectors under the old spec, and on PostgreSQL their
    writes to the column wait, then are refused as of the new spec), roll back to keep the old ones. When
    it raises, the savepoint is rolled back: the column and its recorded spec are as they were.

    Args:
        session: The session to work in.
        attribute: The mapped embedding column, e.g. ``Product.embedding``.
        batch_size: Rows per page (loaded, embedded and flushed together).

    Returns:
        The number of rows embedded (rows whose sources are all NULL get NULL and are not counted).

    Raises:
        ArgumentError: ``attribute`` is not an embedding column, or ``batch_size`` is not positive.
    """
    prop = getattr(attribute, "property", None)
    columns: Sequence[Any] = getattr(prop, "columns", None) or ()
    src = getattr(columns[0], "info", {}).get(INFO_KEY) if columns else None
    if prop is None or not isinstance(src, EmbeddingSource):
        raise ArgumentError(
            f"reembed() takes a mapped embedding column such as Product.embedding, not {attribute!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size must be a positive integer, not {batch_size!r}")
    mapper: Mapper[Any] = prop.parent
    # In a savepoint: a failure on any page (a row the API rejects, a lost connection) rolls back the
    # pages already flushed and the spec recorded, so a commit after it keeps the column wholly old;
    # never new vectors under the old spec, or old ones under the new spec.
    _begin_sqlite_transaction(session.connection(bind_arguments={"mapper": mapper}))
    with session.begin_nested():
        return _reembed_pages(session, mapper, prop.key, columns[0], src, batch_size)


def _begin_sqlite_transaction(conn: Connection) -> None:
    # Python's sqlite3 begins a transaction only before a data change, and a SAVEPOINT outside one is a
    # transaction of its own that RELEASE commits: the caller's rollback would then keep the new spec.
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not getattr(dbapi, "in_transaction", True):
        conn.exec_driver_sql("BEGIN")


def _reembed_pages(
    session: Session, mapper: Mapper[Any], key: str, column: Any, src: EmbeddingSource, batch_size: int
) -> int:
    table = column.table
    conn = session.connection(bind_arguments={"mapper": mapper})
    _record_spec(conn, table.schema, table.name, column.name, src.embedder.spec)
    pk = [mapper.get_property_by_column(col).class_attribute for col in mapper.primary_key]
    last: tuple[Any, ...] | None = None
    done = 0
    while True:
        page = select(mapper.class_).order_by(*pk).limit(batch_size)
        if last is not None:
            page = page.where(tuple_(*pk) > tuple_(*last))
        rows = list(session.scalars(page))
        if not rows:
            return done
        jobs: list[_Job] = []
        for obj in rows:
            item = item_for(obj, src)
            if item is None:
                setattr(obj, key, None)
            else:
                digest = content_digest(src, functools.partial(getattr, obj))
                jobs.append(_Job(obj, key, item, _title_for(obj, src), digest))
        if jobs:
            for job, vector in zip(jobs, _embed(src.embedder, jobs), strict=True):
                setattr(job.obj, key, vector)
                _origins.note(vector, job.digest)
        session.flush()
        done += len(jobs)
        last = tuple(getattr(rows[-1], attr.key) for attr in pk)


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
    "SPEC_TABLE",
    "ColumnSpecMismatchError",
    "CosineDistance",
    "EmbedderLike",
    "EmbeddingSource",
    "EmbeddingType",
    "content_digest",
    "embedding_column",
    "include_object",
    "item_for",
    "part_for_value",
    "query_vector",
    "real_values",
    "reembed",
    "render_item",
    "spec_table",
]
