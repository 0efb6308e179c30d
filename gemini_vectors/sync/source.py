"""Reading an existing table with SQLAlchemy Core and turning its rows into items to embed.

A row becomes ONE item: its content columns, in the order given, become the parts of an interleaved
:class:`~gemini_vectors.Item` (a lone column gives a one-part item). Three kinds of content column:

* ``text``: the value as text (numbers and JSON are rendered as text);
* ``bytes``: a ``bytea``/BLOB value, sniffed by its magic number into an Image, PDF, Audio or Video part
  (UTF-8 text in a binary column becomes a Text part);
* ``path``: a file path (relative paths are resolved against ``path_root``), read lazily.

``auto`` (the default) picks ``bytes`` for binary columns and ``text`` for the others. Write a column as
``"name:kind"`` to choose, e.g. ``["caption", "photo:bytes", "scan_file:path"]``.

The table is read in keyset pages (``WHERE id > :after ORDER BY id LIMIT :n``), each in its own short
transaction, so a long sync never holds a snapshot open. The primary key must be one column of an integer,
string or UUID type; it becomes the record id as text (``str(value)``, the same text PostgreSQL's
``id::text`` gives, which the watch triggers rely on).
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import functools
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from gemini_vectors.collection import item_content_hash
from gemini_vectors.content import (
    Item,
    Part,
    Text,
    part_from_bytes,
    part_from_path,
)
from gemini_vectors.errors import ConfigurationError, ContentError, GeminiVectorsError
from gemini_vectors.filters import MetadataValue

ColumnKind = Literal["auto", "text", "bytes", "path"]
_KINDS: tuple[str, ...] = ("auto", "text", "bytes", "path")


@dataclass(frozen=True)
class ColumnSpec:
    """One content column of the source table and how to read it.

    Attributes:
        name: The column's name.
        kind: ``text``, ``bytes``, ``path``, or ``auto`` (binary columns are ``bytes``, others ``text``).
    """

    name: str
    kind: ColumnKind = "auto"

    @classmethod
    def parse(cls, spec: str | ColumnSpec) -> ColumnSpec:
        """``"body"`` or ``"photo:bytes"`` (or a ColumnSpec, returned as is).

        Raises:
            ConfigurationError: an unknown kind.
        """
        if isinstance(spec, ColumnSpec):
            return spec
        name, sep, kind = spec.rpartition(":")
        if not sep:
            name, kind = spec, "auto"
        elif kind not in _KINDS:
            raise ConfigurationError(
                f"column spec {spec!r}: the kind must be one of {', '.join(_KINDS)} "
                "(for a column whose name holds a colon, pass ColumnSpec(name, kind))"
            )
        if not name:
            raise ConfigurationError(f"column spec {spec!r} has no column name")
        return cls(name, kind)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.name if self.kind == "auto" else f"{self.name}:{self.kind}"


@dataclass(frozen=True)
class SourceRow:
    """One row read from the source, as what to embed.

    Attributes:
        id: The record id (the primary key as text).
        key: The primary key value itself (for keyset pagination).
        item: The item to embed; None when every content column is empty or the row could not be read.
        metadata: Portable metadata from the metadata columns.
        error: Why the row cannot be embedded (an unreadable file, an unsupported media type), or None.
        version: A digest of the row's raw values in every watched column (content, metadata, id). The
            write path reads it again, under a share lock, just before it stores a vector: an unchanged
            version proves the vector is still the vector of the content stored beside it.
    """

    id: str
    key: Any
    item: Item | None
    metadata: Mapping[str, MetadataValue]
    error: str | None = None
    version: str = ""


def item_hash(item: Item) -> str:
    """The content hash :class:`~gemini_vectors.Collection` stores with a record embedded without a title.

    Comparing it with the store's hash tells whether a row's content changed since it was embedded.
    """
    return item_content_hash(item)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL to open for ``url``: plain ``postgresql://`` gets psycopg 3, and an embedded
    ``postgresql+embedded:///PATH`` starts (or joins) that embedded server (needs the pgvector plugin)."""
    if url.rstrip(":/") == "postgresql+embedded":
        url = "postgresql+embedded://"  # the embedded default, however its empty path was written
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(
            f"{url!r} is not a database URL (expected e.g. postgresql://... or sqlite:///...)"
        )
    if scheme == "postgresql+embedded":
        try:
            from gemini_vectors_pgvector.connect import embedded_path
            from gemini_vectors_pgvector.embedded import start_server
        except ImportError as exc:  # pragma: no cover - the plugin ships the embedded server
            raise ConfigurationError(
                "postgresql+embedded:// needs the pgvector plugin: pip install gemini-vectors-pgvector"
            ) from exc
        _, uri = start_server(embedded_path(url.split("?", 1)[0]))
        scheme, _, rest = uri.partition("://")
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


def create_engine(url: str | sa.Engine) -> sa.Engine:
    """A SQLAlchemy engine for a source URL (see :func:`engine_url`), or the engine given."""
    if isinstance(url, sa.Engine):
        return url
    try:
        return sa.create_engine(engine_url(url), pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigurationError(f"cannot open the source database: {exc}") from exc


def split_table_name(table: str, schema: str | None) -> tuple[str | None, str]:
    """``("s", "t")`` for ``"s.t"``; a ``schema`` given apart wins."""
    if schema is None and "." in table:
        first, _, name = table.partition(".")
        return first, name
    return schema, table


_ID_TYPES: tuple[type, ...] = (int, str, uuid.UUID)


def _is_unique_key(table: sa.Table, column: str) -> bool:
    """False only when the table says ``column`` is not unique on its own: it has a primary key that is
    not that column, and no unique constraint or index on that column alone. A table or view without a
    primary key cannot say, and is trusted."""
    return not table.primary_key.columns or _has_unique_key(table, column)


def _has_unique_key(table: sa.Table, column: str) -> bool:
    """Whether the table itself guarantees ``column`` is unique: it is the primary key, or has a unique
    constraint or index of its own."""
    if [c.name for c in table.primary_key.columns] == [column]:
        return True
    alone = [column]
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and [c.name for c in constraint.columns] == alone:
            return True
    return any(index.unique and [c.name for c in index.columns] == alone for index in table.indexes)


def _raw_digest(values: Sequence[Any]) -> str:
    """A digest of raw column values that changes whenever one of them does (types included)."""
    h = hashlib.sha256()
    for value in values:
        if isinstance(value, bytes | bytearray | memoryview):
            data = b"b" + bytes(value)
        elif isinstance(value, dict | list):
            data = b"j" + json.dumps(value, sort_keys=True, default=str).encode()
        else:
            data = f"{type(value).__name__}:{value!r}".encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:32]


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _metadata_value(value: Any) -> MetadataValue | None:
    """A portable metadata value for a column value (None: leave the key out)."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, bytes | memoryview):
        return None
    return json.dumps(value, sort_keys=True, default=str)


class SourceTable:
    """One table of a source database, read in keyset pages and turned into :class:`SourceRow` values.

    Args:
        engine: The source database.
        table: The table name, optionally ``schema.table``.
        id_column: The primary key column (one unique column of an integer, string or UUID type).
        columns: Content columns (names or ``name:kind``); None takes every text column but the id.
        metadata_columns: Columns copied into each record's metadata.
        schema: The table's schema, if not in ``table``.
        path_root: Directory that relative paths in ``path`` columns are resolved against.

    Raises:
        ConfigurationError: the table or a column does not exist, or the id column has a type that
            cannot page.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: str,
        id_column: str = "id",
        columns: Sequence[str | ColumnSpec] | None = None,
        *,
        metadata_columns: Sequence[str] = (),
        schema: str | None = None,
        path_root: str | Path | None = None,
    ) -> None:
        self.engine = engine
        self.schema, self.name = split_table_name(table, schema)
        try:
            self.table = sa.Table(self.name, sa.MetaData(), schema=self.schema, autoload_with=engine)
        except sa.exc.NoSuchTableError as exc:
            raise ConfigurationError(f"the source database has no table {self.qualified_name!r}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigurationError(f"cannot read table {self.qualified_name!r}: {exc}") from exc
        cols = self.table.c
        if id_column not in cols:
            raise ConfigurationError(f"table {self.qualified_name!r} has no column {id_column!r}")
        self.id_column = id_column
        self.id_col: sa.Column[Any] = cols[id_column]
        id_type = _python_type(self.id_col)
        if id_type not in _ID_TYPES:
            raise ConfigurationError(
                f"id column {id_column!r} is {self.id_col.type}; a sync pages by a key of an integer, "
                "string or UUID type"
            )
        self.id_type: type = id_type
        if not _is_unique_key(self.table, id_column):
            primary = ", ".join(c.name for c in self.table.primary_key.columns)
            raise ConfigurationError(
                f"id column {id_column!r} of {self.qualified_name!r} is not unique: the primary key is "
                f"({primary}). A sync pages by one unique column: the primary key, or a column with a unique "
                "constraint (composite primary keys are not supported)"
            )
        if columns is None:
            specs = [
                ColumnSpec(c.name, "text")
                for c in self.table.columns
                if c.name != id_column and isinstance(c.type, sa.String)
            ]
            if not specs:
                raise ConfigurationError(f"table {self.qualified_name!r} has no text column; name columns=")
        else:
            specs = [ColumnSpec.parse(c) for c in columns]
        if not specs:
            raise ConfigurationError("columns= names no content column")
        resolved: list[ColumnSpec] = []
        for spec in specs:
            if spec.name not in cols:
                raise ConfigurationError(f"table {self.qualified_name!r} has no column {spec.name!r}")
            kind = spec.kind
            if kind == "auto":
                kind = "bytes" if isinstance(cols[spec.name].type, sa.LargeBinary) else "text"
            resolved.append(ColumnSpec(spec.name, kind))
        self.columns: tuple[ColumnSpec, ...] = tuple(resolved)
        for name in metadata_columns:
            if name not in cols:
                raise ConfigurationError(f"table {self.qualified_name!r} has no column {name!r}")
        self.metadata_columns: tuple[str, ...] = tuple(metadata_columns)
        self.path_root = Path(path_root) if path_root is not None else None
        wanted = [self.id_column, *(c.name for c in self.columns), *self.metadata_columns]
        self._select_cols = [cols[n] for n in dict.fromkeys(wanted)]
        #: Whether the table guarantees the id column unique; if not, each pass checks the data.
        self.key_is_declared_unique = _has_unique_key(self.table, id_column)

    @property
    def qualified_name(self) -> str:
        """``schema.table`` or ``table``."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @functools.cached_property
    def canonical_name(self) -> str:
        """``schema.table`` with the connection's default schema filled in when none was given."""
        schema = self.schema or sa.inspect(self.engine).default_schema_name
        return f"{schema}.{self.name}" if schema else self.name

    def is_named(self, table: str) -> bool:
        """Whether ``table`` (``table`` or ``schema.table``) names this table; a missing schema is the
        connection's default one, so ``products`` and ``public.products`` are the same PostgreSQL table."""
        schema, name = split_table_name(table, None)
        if name != self.name:
            return False
        if (schema or None) == (self.schema or None):
            return True
        default = sa.inspect(self.engine).default_schema_name
        return (schema or default) == (self.schema or default)

    @property
    def watched_columns(self) -> tuple[str, ...]:
        """Columns whose change changes a record: content, metadata and the id."""
        return tuple(dict.fromkeys([self.id_column, *(c.name for c in self.columns), *self.metadata_columns]))

    def fingerprint(self) -> str:
        """A short hash of what is read (table, id, columns), stored with the job to spot a changed config."""
        text = json.dumps(
            [self.canonical_name, self.id_column, [str(c) for c in self.columns], list(self.metadata_columns)]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- ids ---------------------------------------------------------------------------------------------

    def format_id(self, key: Any) -> str:
        """The record id for a primary key value."""
        return str(key)

    def parse_id(self, text: str) -> Any:
        """The primary key value for a record id.

        Raises:
            ValueError: the text is not a key of the id column's type.
        """
        if self.id_type is int:
            return int(text)
        if self.id_type is uuid.UUID:
            return uuid.UUID(text)
        return text

    def _keys(self, ids: Sequence[str]) -> dict[Any, str]:
        keys: dict[Any, str] = {}
        for i in ids:
            try:
                keys[self.parse_id(i)] = i
            except ValueError:
                continue
        return keys

    # -- reading -----------------------------------------------------------------------------------------

    def count(self) -> int:
        """The number of rows (for progress bars)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def count_null_ids(self) -> int:
        """Rows whose id column is NULL: no record can be keyed by them, so every read leaves them out."""
        if not self.id_col.nullable:
            return 0
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(self.table).where(self.id_col.is_(None))
                ).scalar_one()
            )

    def duplicate_ids(self, limit: int = 5) -> list[str]:
        """Up to ``limit`` ids that more than one row has (none when the table declares the key unique).

        Keyset paging reads one row per id, so a repeated id would silently lose rows.
        """
        if self.key_is_declared_unique:
            return []
        with self.engine.connect() as conn:
            keys = conn.execute(
                sa.select(self.id_col)
                .where(self.id_col.is_not(None))
                .group_by(self.id_col)
                .having(sa.func.count() > 1)
                .order_by(self.id_col)
                .limit(limit)
            ).scalars()
            return [self.format_id(k) for k in keys]

    def pages(self, after: Any = None, page_size: int = 500) -> Iterator[list[SourceRow]]:
        """Rows in primary key order after ``after`` (all when None), ``page_size`` at a time.

        Rows with a NULL id are left out (see :meth:`count_null_ids`): they cannot be keyed, and a NULL
        can never be a keyset position to page on from.

        Raises:
            ConfigurationError: two rows of one page have the same id (the id column is not unique).
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        last = after
        while True:
            query = (
                sa.select(*self._select_cols)
                .where(self.id_col.is_not(None))
                .order_by(self.id_col)
                .limit(page_size)
            )
            if last is not None:
                query = query.where(self.id_col > last)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            page = [self.to_row(r) for r in rows]
            if len({r.id for r in page}) != len(page):
                counts = collections.Counter(r.id for r in page)
                raise self.not_unique(sorted(i for i, n in counts.items() if n > 1))
            yield page
            if len(rows) < page_size:
                return
            last = rows[-1][self.id_column]

    def not_unique(self, ids: Sequence[str]) -> ConfigurationError:
        """The error for an id column whose values repeat."""
        shown = ", ".join(repr(i) for i in ids[:5])
        return ConfigurationError(
            f"id column {self.id_column!r} of {self.qualified_name!r} is not unique: {shown} "
            "occur more than once. Each row needs its own id, or rows are lost: pass a unique id column, "
            f"or add a unique constraint (ALTER TABLE ... ADD UNIQUE ({self.id_column}))"
        )

    def fetch(
        self, ids: Sequence[str], conn: sa.Connection | None = None, *, lock: bool = False
    ) -> list[SourceRow]:
        """The rows with these record ids that exist, in primary key order.

        Args:
            ids: Record ids.
            conn: Read in this connection's transaction.
            lock: Take a share lock on the rows (``FOR SHARE``) until ``conn``'s transaction ends, so no
                writer can change or delete them meanwhile; ``conn`` is then required. Rows a writer holds
                are skipped, not waited for (``SKIP LOCKED``): waiting could deadlock with the application's
                own transactions, and a row being written will be queued or read again anyway.
        """
        keys = self._keys(ids)
        if not keys:
            return []
        query = sa.select(*self._select_cols).where(self.id_col.in_(list(keys))).order_by(self.id_col)
        if lock:
            if conn is None:
                raise ValueError("fetch(lock=True) needs the connection whose transaction holds the lock")
            if self.engine.dialect.name != "sqlite":  # SQLite has one writer at a time anyway
                query = query.with_for_update(read=True, skip_locked=True)
        if conn is not None:
            rows = conn.execute(query).mappings().all()
        else:
            with self.engine.connect() as own:
                rows = own.execute(query).mappings().all()
        return [self.to_row(r) for r in rows]

    def missing(self, ids: Sequence[str], conn: sa.Connection | None = None) -> list[str]:
        """The record ids among ``ids`` that have no row (or are not ids of this table at all)."""
        keys = self._keys(ids)
        present: set[Any] = set()
        if keys:
            query = sa.select(self.id_col).where(self.id_col.in_(list(keys)))
            if conn is not None:
                present = set(conn.execute(query).scalars())
            else:
                with self.engine.connect() as own:
                    present = set(own.execute(query).scalars())
        found = {keys[k] for k in present if k in keys}
        return [i for i in ids if i not in found]

    # -- rows to items -----------------------------------------------------------------------------------

    def to_row(self, row: Mapping[Any, Any]) -> SourceRow:
        """Turn one fetched row into a :class:`SourceRow` (never raises for bad content: sets ``error``)."""
        key = row[self.id_column]
        rid = self.format_id(key)
        version = _raw_digest([row[c.name] for c in self._select_cols])
        metadata: dict[str, MetadataValue] = {}
        for name in self.metadata_columns:
            value = _metadata_value(row[name])
            if value is not None:
                metadata[name] = value
        try:
            parts = [p for spec in self.columns if (p := self._part(spec, row[spec.name])) is not None]
        except (GeminiVectorsError, OSError, TypeError, ValueError) as exc:
            return SourceRow(rid, key, None, metadata, f"{type(exc).__name__}: {exc}", version)
        return SourceRow(rid, key, Item(parts) if parts else None, metadata, version=version)

    def _part(self, spec: ColumnSpec, value: Any) -> Part | None:
        if value is None:
            return None
        where = f"column {spec.name!r}"
        if spec.kind == "text":
            if isinstance(value, bytes | memoryview):
                value = bytes(value).decode("utf-8")
            elif isinstance(value, dict | list):
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            text = value if isinstance(value, str) else str(value)
            return Text(text) if text.strip() else None
        if spec.kind == "bytes":
            if isinstance(value, str):
                raise ContentError(f"{where} holds text, not bytes; declare it as {spec.name}:text")
            data = bytes(value)
            return part_from_bytes(data, where=where) if data else None
        raw = str(value).strip()
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_absolute() and self.path_root is not None:
            path = self.path_root / path
        return part_from_path(path)
