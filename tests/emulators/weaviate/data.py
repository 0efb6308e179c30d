"""The emulator's in-memory database: classes, objects, property validation, auto-schema, vectors.

Objects are validated the way a Weaviate 1.33 server validates them (``usecases/objects/validation``):
property names lose the capital of their first letter, ``null`` values are dropped, every value is
checked against its property's data type, unknown properties are added by auto-schema (numbers become
``number`` unless they came as a gRPC int array), and vectors must keep the length of the first vector
of their index. Vectors live in one growing float32 matrix per index so that search is a matrix product.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import threading
import time
import uuid as uuid_lib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import NotFoundError, UnprocessableError, no_such_prop
from .schema import TEXT_TYPES, lowercase_first_letter, normalize_class, normalize_property

#: The server default of ``QUERY_MAXIMUM_RESULTS``.
QUERY_MAXIMUM_RESULTS = 10000
#: The server default of ``QUERY_DEFAULTS_LIMIT``.
QUERY_DEFAULTS_LIMIT = 10


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of ``creationTimeUnix``."""
    return int(time.time() * 1000)


def go_type(value: Any) -> str:
    """The Go type name a value decodes to on the server, as it appears in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def format_go_value(value: Any) -> str:
    """``%v`` formatting of a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_date(value: str) -> dt.datetime:
    """Parse an RFC 3339 date as Go's ``time.Parse(time.RFC3339, ...)`` accepts it."""
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt":
        raise ValueError(value)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def format_date(value: dt.datetime) -> str:
    """Go's RFC 3339 with nanoseconds: trailing zeros of the fraction dropped, ``Z`` for UTC."""
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        base += ("." + f"{value.microsecond:06d}").rstrip("0")
    offset = value.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0):
        return base + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{base}{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"


def canonical_uuid(value: str) -> str:
    """The lowercase, dashed form of a UUID; raises ``ValueError`` for anything else."""
    return str(uuid_lib.UUID(value))


# -- vectors -------------------------------------------------------------------------------------


class VectorIndex:
    """One vector index: vectors in the rows of a growing matrix, searched exactly."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.distance: str = config.get("distance", "cosine")
        self.dims: int | None = None
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._sq_norms = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._free: list[int] = []
        self._used = 0

    def __len__(self) -> int:
        return int(self._alive[: self._used].sum())

    def _grow(self, dims: int) -> None:
        capacity = max(1024, int(self._matrix.shape[0] * 1.5))
        matrix = np.empty((capacity, dims), dtype=np.float32)
        matrix[: self._used] = self._matrix[: self._used]
        sq = np.zeros(capacity, dtype=np.float32)
        sq[: self._used] = self._sq_norms[: self._used]
        alive = np.zeros(capacity, dtype=bool)
        alive[: self._used] = self._alive[: self._used]
        self._matrix, self._sq_norms, self._alive = matrix, sq, alive

    def check(self, vector: np.ndarray) -> None:
        """Raise the server's error when ``vector`` does not fit this index."""
        if vector.ndim != 1 or vector.shape[0] == 0:
            raise UnprocessableError(f'vector for target "{self.name}" must be a non-empty list of numbers')
        if self.dims is not None and vector.shape[0] != self.dims:
            raise UnprocessableError(
                f"insert to vector index: new node has a vector with length {vector.shape[0]}. Existing "
                f"nodes have vectors with length {self.dims}: vector dimensions do not match the index "
                "dimensions"
            )

    def add(self, vector: np.ndarray) -> int:
        """Store ``vector`` (already checked) and return its row."""
        self.check(vector)
        if self.dims is None:
            self.dims = int(vector.shape[0])
            self._matrix = np.zeros((0, self.dims), dtype=np.float32)
        if self._free:
            row = self._free.pop()
        else:
            if self._used >= self._matrix.shape[0]:
                self._grow(self.dims)
            row = self._used
            self._used += 1
        self._matrix[row] = vector
        self._sq_norms[row] = float(np.dot(vector, vector))
        self._alive[row] = True
        return row

    def replace(self, row: int, vector: np.ndarray) -> None:
        """Overwrite the vector in ``row``."""
        self.check(vector)
        self._matrix[row] = vector
        self._sq_norms[row] = float(np.dot(vector, vector))

    def remove(self, row: int) -> None:
        """Free ``row``."""
        self._alive[row] = False
        self._free.append(row)

    def get(self, row: int) -> np.ndarray:
        """A copy of the vector in ``row``."""
        return np.array(self._matrix[row], dtype=np.float32)

    def distances(self, query: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, distances)`` of every live row, or of the live ``rows`` given, to ``query``."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if self.dims is None:
            return empty
        if query.shape[0] != self.dims:
            raise UnprocessableError(
                "vector search: knn search: search layer at level 0: vector lengths don't match: "
                f"{query.shape[0]} vs {self.dims}"
            )
        used = self._used
        pick = np.flatnonzero(self._alive[:used]) if rows is None else rows
        if len(pick) == 0:
            return empty
        q = query.astype(np.float32)
        dist: Any
        if self.distance in ("cosine", "dot", "l2-squared"):
            # one product over the whole matrix beats gathering rows unless few rows are wanted
            dots = (self._matrix[:used] @ q)[pick] if len(pick) * 4 > used else self._matrix[pick] @ q
            if self.distance == "cosine":
                norms = np.sqrt(self._sq_norms[pick]) * float(np.linalg.norm(q))
                safe = np.where(norms > 0, norms, 1.0)
                dist = 1.0 - np.where(norms > 0, dots / safe, 0.0)
            elif self.distance == "dot":
                dist = -dots
            else:
                dist = self._sq_norms[pick] - 2.0 * dots + float(np.dot(q, q))
        elif self.distance == "manhattan":
            dist = np.abs(self._matrix[pick] - q).sum(axis=1)
        else:  # hamming
            dist = (self._matrix[pick] != q).sum(axis=1)
        return pick, np.asarray(dist, dtype=np.float32)


class UnindexedVectors(VectorIndex):
    """A named vector with ``vectorIndexConfig.skip``: kept with its objects, never indexed.

    The server gives such a vector its noop index (``adapters/repos/db/vector/noop``): inserts are not
    checked against other vectors' lengths, the vectors are stored in the objects (so a fetch with
    ``include_vector`` returns them), and any vector search on the target fails.
    """

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self._vectors: dict[int, np.ndarray] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def check(self, vector: np.ndarray) -> None:
        if vector.ndim != 1 or vector.shape[0] == 0:
            raise UnprocessableError(f'vector for target "{self.name}" must be a non-empty list of numbers')

    def add(self, vector: np.ndarray) -> int:
        self.check(vector)
        row = self._next
        self._next += 1
        self._vectors[row] = np.array(vector, dtype=np.float32)
        return row

    def replace(self, row: int, vector: np.ndarray) -> None:
        self.check(vector)
        self._vectors[row] = np.array(vector, dtype=np.float32)

    def remove(self, row: int) -> None:
        self._vectors.pop(row, None)

    def get(self, row: int) -> np.ndarray:
        return np.array(self._vectors[row], dtype=np.float32)

    def distances(self, query: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise UnprocessableError(
            f'vector search: target vector "{self.name}": cannot vector-search on a class not vector-indexed'
        )


def make_index(name: str, config: dict[str, Any]) -> VectorIndex:
    """The index the server builds for ``config``: none (noop) for HNSW with ``skip``, else a real one."""
    return UnindexedVectors(name, config) if config.get("skip") else VectorIndex(name, config)


# -- objects -------------------------------------------------------------------------------------


@dataclass
class StoredObject:
    """One object: its canonical properties, timestamps and the rows of its vectors."""

    uuid: str
    props: dict[str, Any]
    created: int
    updated: int
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class IncomingObject:
    """An object as a request carries it, before validation."""

    class_name: str
    uuid: str
    properties: dict[str, Any] | None
    vector: np.ndarray | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: gRPC int arrays arrive as Python ints; JSON numbers of REST and gRPC structs are floats.
    from_grpc: bool = False


ObjectFault = Callable[[str, str, dict[str, Any]], "str | None"]

LEGACY = ""  # the index name of a class-level (unnamed) vector


class ClassState:
    """One class: its definition, objects and vector indexes."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.objects: dict[str, StoredObject] = {}
        self.indexes: dict[str, VectorIndex] = {}
        self._sorted_ids: list[str] | None = None
        self._sync_indexes()

    @property
    def name(self) -> str:
        return str(self.definition["class"])

    @property
    def named_vectors(self) -> bool:
        return "vectorConfig" in self.definition

    def _sync_indexes(self) -> None:
        if self.named_vectors:
            for vname, cfg in self.definition["vectorConfig"].items():
                if vname not in self.indexes:
                    self.indexes[vname] = make_index(vname, cfg["vectorIndexConfig"])
        elif LEGACY not in self.indexes:
            self.indexes[LEGACY] = make_index(LEGACY, self.definition["vectorIndexConfig"])

    def set_definition(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self._sync_indexes()

    def property(self, name: str) -> dict[str, Any] | None:
        for prop in self.definition["properties"]:
            if prop["name"] == name:
                return prop  # type: ignore[no-any-return]
        return None

    def sorted_ids(self) -> list[str]:
        """Object ids in the cursor order of the server (by UUID bytes)."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.objects, key=lambda u: uuid_lib.UUID(u).bytes)
        return self._sorted_ids

    def invalidate(self) -> None:
        self._sorted_ids = None

    def vector_of(self, obj: StoredObject, name: str) -> np.ndarray | None:
        row = obj.rows.get(name)
        return None if row is None else self.indexes[name].get(row)

    def remove(self, uuid: str) -> StoredObject | None:
        obj = self.objects.pop(uuid, None)
        if obj is not None:
            for name, row in obj.rows.items():
                self.indexes[name].remove(row)
            self.invalidate()
        return obj


class Database:
    """Every class of the emulated server, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.classes: dict[str, ClassState] = {}
        #: Collection aliases (1.32+): alias name -> class name.
        self.aliases: dict[str, str] = {}
        self.autoschema = True
        self.faults: list[Fault] = []
        #: ``QUERY_MAXIMUM_RESULTS``: the most a query may return and a batch delete may delete.
        self.query_maximum_results = QUERY_MAXIMUM_RESULTS

    # -- schema ------------------------------------------------------------------------------

    def get_class(self, name: str) -> ClassState | None:
        """The class called ``name`` (first letter capitalised), or the one alias ``name`` points to."""
        if not name:
            return None
        name = name[:1].upper() + name[1:]
        cls = self.classes.get(name)
        if cls is None and name in self.aliases:
            cls = self.classes.get(self.aliases[name])
        return cls

    def require_class(self, name: str) -> ClassState:
        cls = self.get_class(name)
        if cls is None:
            raise UnprocessableError(f"could not find class {name} in schema")
        return cls

    def create_class(self, body: Any) -> dict[str, Any]:
        definition = normalize_class(body)
        name = definition["class"]
        with self.lock:
            for other in self.classes:
                if other == name:
                    raise UnprocessableError(f"class name {name} already exists")
                if other.lower() == name.lower():
                    raise UnprocessableError(f'class already exists: found similar class "{other}"')
            for alias in self.aliases:
                if alias.lower() == name.lower():
                    raise UnprocessableError(f'class already exists: found similar alias "{alias}"')
            self.classes[name] = ClassState(definition)
        return copy.deepcopy(definition)

    def delete_class(self, name: str) -> None:
        with self.lock:
            cls = self.classes.get(name[:1].upper() + name[1:])
            if cls is not None:
                del self.classes[cls.name]
                for alias in [a for a, c in self.aliases.items() if c == cls.name]:
                    del self.aliases[alias]

    def add_property(self, class_name: str, body: Any) -> dict[str, Any]:
        with self.lock:
            cls = self.get_class(class_name)
            if cls is None:
                raise NotFoundError(f'class "{class_name}": not found')
            prop = normalize_property(body)
            existing = {p["name"].lower() for p in cls.definition["properties"]}
            if prop["name"].lower() in existing:
                raise UnprocessableError(
                    f'class "{cls.name}": conflict for property "{prop["name"]}": already in use or provided '
                    "multiple times"
                )
            definition = copy.deepcopy(cls.definition)
            definition["properties"].append(prop)
            cls.set_definition(definition)
            return copy.deepcopy(prop)

    # -- objects -----------------------------------------------------------------------------

    def _autoschema_class(self, name: str, props: dict[str, Any], from_grpc: bool) -> ClassState:
        stamp = time.strftime("%a %b %d %H:%M:%S %Y")
        body = {
            "class": name,
            "description": "This property was generated by Weaviate's auto-schema feature on " + stamp,
            "properties": [
                {"name": k, "dataType": [_auto_type(v, from_grpc)], "description": _auto_note()}
                for k, v in props.items()
            ],
        }
        self.create_class(body)
        cls = self.get_class(name)
        assert cls is not None
        return cls

    def _autoschema_properties(self, cls: ClassState, props: dict[str, Any], from_grpc: bool) -> None:
        for key, value in props.items():
            if cls.property(key) is None:
                if not self.autoschema:
                    raise no_such_prop(key, cls.name)
                self.add_property(
                    cls.name,
                    {"name": key, "dataType": [_auto_type(value, from_grpc)], "description": _auto_note()},
                )

    def _prepare(self, incoming: IncomingObject) -> tuple[ClassState, dict[str, Any], dict[str, np.ndarray]]:
        """Validate an object; returns its class, canonical properties and vectors by index name."""
        raw = incoming.properties or {}
        if not isinstance(raw, dict):
            raise UnprocessableError(f"could not recognize object's properties: {raw}")
        props: dict[str, Any] = {}
        for key, value in raw.items():
            if value is None:
                continue  # the server drops nulls
            props[lowercase_first_letter(key)] = value
        cls = self.get_class(incoming.class_name)
        if cls is None:
            if not self.autoschema:
                raise UnprocessableError(f"class {incoming.class_name} not found")
            cls = self._autoschema_class(incoming.class_name, props, incoming.from_grpc)
        else:
            self._autoschema_properties(cls, props, incoming.from_grpc)
        canonical = {key: validate_value(cls, key, value) for key, value in props.items()}
        vectors = self._vectors_for(cls, incoming)
        return cls, canonical, vectors

    def _vectors_for(self, cls: ClassState, incoming: IncomingObject) -> dict[str, np.ndarray]:
        vectors = dict(incoming.vectors)
        out: dict[str, np.ndarray] = {}
        if not cls.named_vectors:
            if "default" in vectors:
                incoming_vec = vectors.pop("default")
                out[LEGACY] = incoming_vec
            if vectors:
                raise UnprocessableError(
                    f"collection {cls.name} is configured without multiple named vectors, but received named "
                    f"vectors: {sorted(vectors)}"
                )
            if incoming.vector is not None and incoming.vector.size:
                out[LEGACY] = incoming.vector
        else:
            if incoming.vector is not None and incoming.vector.size:
                names = list(cls.definition["vectorConfig"])
                if len(names) != 1:
                    raise UnprocessableError(
                        f"collection {cls.name} configuration does not have single vector index"
                    )
                out[names[0]] = incoming.vector
            for name, vec in vectors.items():
                if name not in cls.definition["vectorConfig"]:
                    raise UnprocessableError(
                        f"collection {cls.name} does not have configuration for vector {name}"
                    )
                out[name] = vec
        for name, vec in out.items():
            if not np.isfinite(vec).all():
                raise UnprocessableError(f"vector {name or 'default'} contains NaN or infinite values")
            cls.indexes[name].check(vec)
        return out

    def check_faults(self, class_name: str, uuid: str, props: dict[str, Any]) -> None:
        for fault in list(self.faults):
            message = fault.matches(class_name, uuid, props)
            if message is not None:
                raise UnprocessableError(message)

    def put_object(self, incoming: IncomingObject, *, mode: str) -> StoredObject:
        """Write one object; ``mode`` is ``create`` (must not exist), ``replace`` or ``upsert``.

        ``replace`` needs the object to exist; ``upsert`` (batch) creates or replaces.
        """
        try:
            uid = canonical_uuid(incoming.uuid)
        except ValueError:
            raise UnprocessableError(f"invalid UUID length: {len(incoming.uuid)}") from None
        with self.lock:
            cls, props, vectors = self._prepare(incoming)
            existing = cls.objects.get(uid)
            if mode == "create" and existing is not None:
                raise UnprocessableError(f"id '{uid}' already exists")
            if mode == "replace" and existing is None:
                raise NotFoundError(f"object {uid} not found")
            self.check_faults(cls.name, uid, props)
            stamp = now_ms()
            created = existing.created if existing is not None else stamp
            rows: dict[str, int] = {}
            if existing is not None:
                for name, row in existing.rows.items():
                    if name in vectors:
                        cls.indexes[name].replace(row, vectors.pop(name))
                        rows[name] = row
                    else:
                        cls.indexes[name].remove(row)
            for name, vec in vectors.items():
                rows[name] = cls.indexes[name].add(vec)
            obj = StoredObject(uid, props, created, stamp, rows)
            # a write gives the object a new doc id: filtered results list it last
            cls.objects.pop(uid, None)
            cls.objects[uid] = obj
            cls.invalidate()
            return obj

    def merge_object(self, incoming: IncomingObject) -> StoredObject:
        """``PATCH``: merge properties into an existing object; vectors are replaced only when given."""
        uid = canonical_uuid(incoming.uuid)
        with self.lock:
            cls = self.get_class(incoming.class_name)
            if cls is None or uid not in cls.objects:
                raise NotFoundError(f"object {uid} not found")
            old = cls.objects[uid]
            merged = dict(old.props)
            merged.update({lowercase_first_letter(k): v for k, v in (incoming.properties or {}).items()})
            vectors = {name: cls.indexes[name].get(row) for name, row in old.rows.items()}
            if incoming.vector is None and not incoming.vectors:
                carried = IncomingObject(
                    cls.name,
                    uid,
                    merged,
                    None,
                    {("default" if n == LEGACY else n): v for n, v in vectors.items()},
                )
            else:
                carried = IncomingObject(cls.name, uid, merged, incoming.vector, incoming.vectors)
            return self.put_object(carried, mode="replace")

    def delete_object(self, class_name: str, uuid: str) -> bool:
        with self.lock:
            cls = self.get_class(class_name)
            if cls is None:
                return False
            return cls.remove(canonical_uuid(uuid)) is not None

    def iter_objects(self, cls: ClassState) -> Iterator[StoredObject]:
        return iter(list(cls.objects.values()))


# -- faults --------------------------------------------------------------------------------------


@dataclass
class Fault:
    """Rejects matching objects with ``message``; ``times`` bounds how often (None: always)."""

    predicate: Callable[[str, str, dict[str, Any]], bool]
    message: str = "emulator fault: object rejected"
    times: int | None = None
    hits: int = 0

    def matches(self, class_name: str, uuid: str, props: dict[str, Any]) -> str | None:
        if self.times is not None and self.hits >= self.times:
            return None
        if not self.predicate(class_name, uuid, props):
            return None
        self.hits += 1
        return self.message


# -- property values -----------------------------------------------------------------------------


def _auto_note() -> str:
    return "This property was generated by Weaviate's auto-schema feature on " + time.strftime(
        "%a %b %d %H:%M:%S %Y"
    )


def _auto_type(value: Any, from_grpc: bool) -> str:
    """The data type auto-schema gives a new property (``usecases/objects/auto_schema.go``)."""
    if isinstance(value, str):
        if _is_date(value):
            return "date"
        if _is_uuid(value):
            return "uuid"
        return "text"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) and from_grpc:
        return "int"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        if set(value) >= {"latitude", "longitude"} and len(value) == 2:
            return "geoCoordinates"
        if "input" in value and set(value) <= {"input", "defaultCountry"}:
            return "phoneNumber"
        raise UnprocessableError("auto-schema of object properties is not supported by this emulator")
    if isinstance(value, list):
        if not value:
            return "text[]"
        kinds = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                kind = "date[]" if _is_date(item) else "uuid[]" if _is_uuid(item) else "text[]"
            elif isinstance(item, bool):
                kind = "boolean[]"
            elif isinstance(item, int) and from_grpc:
                kind = "int[]"
            elif isinstance(item, int | float):
                kind = "number[]"
            else:
                raise UnprocessableError(f"element [{i}]: unrecognized data type of value '{item}'")
            kinds.append(kind)
        first = kinds[0]
        for i, kind in enumerate(kinds):
            if kind == first:
                continue
            text_like = {"text[]", "date[]", "uuid[]"}
            if kind in text_like and first in text_like:
                first = "text[]"
                continue
            raise UnprocessableError(
                f"element [{i}]: mismatched data type - '{first[:-2]}' expected, got '{kind[:-2]}'"
            )
        return first
    raise UnprocessableError(
        f"unrecognized data type of value '{value}' - one of 'text', 'number', 'int', 'boolean', 'date', "
        "'uuid', 'object', 'phoneNumber', 'geoCoordinates' expected"
    )


def _is_date(value: str) -> bool:
    try:
        parse_date(value)
    except ValueError:
        return False
    return True


def _is_uuid(value: str) -> bool:
    try:
        uuid_lib.UUID(value)
    except ValueError:
        return False
    return True


_TYPE_WORDS = {
    "text": "text",
    "uuid": "uuid",
    "int": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "geoCoordinates": "geoCoordinates",
    "phoneNumber": "phoneNumber",
    "blob": "blob",
    "text[]": "text array",
    "int[]": "integer array",
    "number[]": "number array",
    "boolean[]": "boolean array",
    "date[]": "date array",
    "uuid[]": "uuid array",
}


def _int_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"requires an integer, the given value is '{format_go_value(value)}'")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"requires an integer, the given value is '{format_go_value(value)}'")
        value = int(value)
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"the JSON number '{value}' could not be converted to an int")
    return int(value)


def _number_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"requires a float, the given value is '{format_go_value(value)}'")
    return float(value)


def _text_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a string, but {go_type(value)}")
    return value


def _bool_value(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"not a bool, but {go_type(value)}")
    return value


def _date_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            "requires a string with a RFC3339 formatted date, "
            f"but the given value is '{format_go_value(value)}'"
        )
    try:
        return format_date(parse_date(value))
    except ValueError:
        raise ValueError(
            f"requires a string with a RFC3339 formatted date, but the given value is '{value}'"
        ) from None


def _uuid_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"requires a string of UUID format, but the given value is '{format_go_value(value)}'"
        )
    try:
        return canonical_uuid(value)
    except ValueError:
        raise ValueError(f"requires a string of UUID format, but the given value is '{value}'") from None


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "text": _text_value,
    "int": _int_value,
    "number": _number_value,
    "boolean": _bool_value,
    "date": _date_value,
    "uuid": _uuid_value,
}


def _geo_value(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"geoCoordinates must be a map, but got: {go_type(value)}")
    for key in ("longitude", "latitude"):
        if key not in value:
            raise ValueError(f"geoCoordinates is missing required field '{key}'")
    return {"latitude": float(value["latitude"]), "longitude": float(value["longitude"])}


def _phone_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"phoneNumber must be a map, but got: {go_type(value)}")
    if "input" not in value:
        raise ValueError("phoneNumber is missing required field 'input'")
    if not isinstance(value["input"], str):
        raise ValueError("phoneNumber.input must be a string")
    digits = "".join(c for c in value["input"] if c.isdigit())
    return {
        "input": value["input"],
        "defaultCountry": value.get("defaultCountry", ""),
        "countryCode": 0,
        "internationalFormatted": value["input"],
        "national": int(digits) if digits else 0,
        "nationalFormatted": value["input"],
        "valid": bool(digits),
    }


def _blob_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a blob base64 string, but {go_type(value)}")
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError("not a valid blob base64 string") from None
    return value


def _nested_value(value: Any, nested: list[dict[str, Any]], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"object must be a map, but got: {go_type(value)}")
    by_name = {p["name"]: p for p in nested}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        prop = by_name.get(key)
        if prop is None:
            raise ValueError(f"unknown property '{key}'")
        try:
            out[key] = _typed_value(prop["dataType"][0], item, prop.get("nestedProperties") or [], where)
        except ValueError as exc:
            raise ValueError(f"property '{key}': {exc}") from None
    return out


def _typed_value(data_type: str, value: Any, nested: list[dict[str, Any]], where: str) -> Any:
    if data_type in _SCALARS:
        return _SCALARS[data_type](value)
    if data_type.endswith("[]") and data_type[:-2] in _SCALARS:
        if not isinstance(value, list):
            raise ValueError(f"not a {data_type[:-2]} array, but {go_type(value)}")
        convert = _SCALARS[data_type[:-2]]
        return [convert(v) for v in value]
    if data_type == "geoCoordinates":
        return _geo_value(value)
    if data_type == "phoneNumber":
        return _phone_value(value)
    if data_type == "blob":
        return _blob_value(value)
    if data_type == "object":
        return _nested_value(value, nested, where)
    if data_type == "object[]":
        if not isinstance(value, list):
            raise ValueError(f"not an object array, but {go_type(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_nested_value(item, nested, where))
            except ValueError as exc:
                raise ValueError(f"invalid object '{i}' in array: {exc}") from None
        return out
    raise ValueError(f"unrecognized data type '{data_type}'")


def validate_value(cls: ClassState, name: str, value: Any) -> Any:
    """Check ``value`` against property ``name`` of ``cls`` and return its canonical form."""
    prop = cls.property(name)
    if prop is None:
        raise no_such_prop(name, cls.name)
    data_type = prop["dataType"][0]
    try:
        return _typed_value(data_type, value, prop.get("nestedProperties") or [], name)
    except ValueError as exc:
        if data_type in ("object", "object[]"):
            kind = "object" if data_type == "object" else "object[]"
            raise UnprocessableError(
                f"invalid {kind} property '{name}' on class '{cls.name}': {exc}"
            ) from None
        word = _TYPE_WORDS.get(data_type, data_type)
        raise UnprocessableError(f"invalid {word} property '{name}' on class '{cls.name}': {exc}") from None


def property_length(value: Any) -> int:
    """The length the server indexes for ``len(prop)`` and the null state (0 means null)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return len(value)
    return -1


def is_text_type(data_type: str) -> bool:
    return data_type in TEXT_TYPES


def iter_values(value: Any) -> Iterable[Any]:
    """The elements of an array value, or the value itself."""
    if isinstance(value, list):
        return value
    return (value,)
