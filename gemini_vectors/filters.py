"""The portable metadata filter language, parsed once into a small typed tree.

Users write the Mongo-style filters they know from Pinecone::

    {"lang": "en", "year": {"$gte": 2020},
     "$or": [{"tag": {"$in": ["a", "b"]}}, {"draft": {"$exists": False}}]}

:func:`parse_filter` turns that into :class:`Comparison`, :class:`And` and :class:`Or` nodes; each backend
translates the tree into its own query language with bound parameters. :func:`matches` is the reference
semantics every backend is held to by the contract suite:

* ``$eq``/``$in`` on a list-valued field match when any element matches; ``$ne``/``$nin`` are their exact
  negations, so they also match records that lack the field.
* ``$gt $gte $lt $lte`` compare numbers only; a missing or non-numeric field does not match.
* ``True`` and ``1`` are different values (as in JSON); ``1`` and ``1.0`` are equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

from gemini_vectors.arguments import check_unicode
from gemini_vectors.errors import FilterError, MetadataError

Scalar: TypeAlias = str | int | float | bool
MetadataValue: TypeAlias = str | int | float | bool | list[str]
Metadata: TypeAlias = Mapping[str, MetadataValue]

Operator = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]
OPERATORS: tuple[Operator, ...] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
RANGE_OPERATORS: frozenset[str] = frozenset({"$gt", "$gte", "$lt", "$lte"})
MAX_DEPTH = 10


@dataclass(frozen=True)
class Comparison:
    """``field op value``.

    ``value`` is a scalar, a tuple of scalars (``$in``/``$nin``) or a bool (``$exists``).
    """

    field: str
    op: Operator
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class And:
    """All clauses must match."""

    clauses: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    """At least one clause must match."""

    clauses: tuple[Filter, ...]


Filter: TypeAlias = Comparison | And | Or
FilterLike: TypeAlias = "Mapping[str, Any] | Filter"


def _show(part: Any) -> str:
    try:
        return json.dumps(part, default=repr)
    except (TypeError, ValueError):  # pragma: no cover - json.dumps with default=repr rarely fails
        return repr(part)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_scalar(value: Any, where: Any) -> Scalar:
    if isinstance(value, str | bool) or _is_number(value):
        if isinstance(value, float) and value != value:
            raise FilterError(f"NaN is not a filter value in {_show(where)}")
        return value  # type: ignore[no-any-return]
    raise FilterError(
        f"filter values must be strings, numbers or booleans, not {type(value).__name__}, in {_show(where)}"
    )


def _parse_field(name: str, condition: Any, depth: int) -> Filter:
    if not name or name.startswith("$"):
        raise FilterError(f"unknown operator {name!r} in {_show({name: condition})}; known: $and, $or")
    if not isinstance(condition, Mapping):
        return Comparison(name, "$eq", _check_scalar(condition, {name: condition}))
    if not condition:
        raise FilterError(f"empty condition for field {name!r}")
    parts: list[Filter] = []
    for op, value in condition.items():
        where = {name: {op: value}}
        if op not in OPERATORS:
            raise FilterError(f"unknown operator {op!r} in {_show(where)}; known: {', '.join(OPERATORS)}")
        if op in ("$in", "$nin"):
            if not isinstance(value, list | tuple):
                raise FilterError(f"{op} needs a list of values, got {_show(value)} in {_show(where)}")
            parts.append(Comparison(name, op, tuple(_check_scalar(v, where) for v in value)))
        elif op == "$exists":
            if not isinstance(value, bool):
                raise FilterError(f"$exists needs true or false, got {_show(value)} in {_show(where)}")
            parts.append(Comparison(name, op, value))
        elif op in RANGE_OPERATORS:
            if not _is_number(value):
                raise FilterError(f"{op} compares numbers only, got {_show(value)} in {_show(where)}")
            parts.append(Comparison(name, op, _check_scalar(value, where)))
        else:
            parts.append(Comparison(name, op, _check_scalar(value, where)))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _parse(raw: Any, depth: int) -> Filter:
    if depth > MAX_DEPTH:
        raise FilterError(f"filter nests deeper than {MAX_DEPTH} levels at {_show(raw)}")
    if not isinstance(raw, Mapping):
        raise FilterError(f"a filter must be an object of field conditions, got {_show(raw)}")
    if not raw:
        raise FilterError("empty filter object; pass None for no filter")
    parts: list[Filter] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise FilterError(f"field names must be strings, got {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise FilterError(f"{key} needs a non-empty list of filters, got {_show(value)}")
            clauses = tuple(_parse(v, depth + 1) for v in value)
            parts.append(And(clauses) if key == "$and" else Or(clauses))
        else:
            parts.append(_parse_field(key, value, depth))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def parse_filter(raw: FilterLike | None) -> Filter | None:
    """Parse a Mongo-style filter into a tree; an already parsed tree or None passes through.

    Raises:
        FilterError: the filter is malformed; the message shows the offending part.
    """
    if raw is None or isinstance(raw, Comparison | And | Or):
        return raw
    return _parse(raw, 1)


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (
            isinstance(a, list | tuple)
            and isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
        )
    # type(), not isinstance: True == 1 == 1.0 in Python, but they are three different stored values
    return type(a) is type(b) and bool(a == b)


def metadata_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two metadata mappings hold the same keys and the same values of the same types.

    Unlike ``==``, ``True``, ``1`` and ``1.0`` differ (a filter on ``$eq: True`` tells them apart, and so
    do the backends), and lists are compared element by element the same way. Used to decide whether
    stored metadata must be written again.
    """
    if a.keys() != b.keys():
        return False
    return all(_same_value(a[key], b[key]) for key in a)


def _field_equals(stored: Any, value: Any) -> bool:
    if isinstance(stored, list):
        return any(_values_equal(s, value) for s in stored)
    return _values_equal(stored, value)


def matches(flt: Filter | None, metadata: Mapping[str, Any]) -> bool:
    """Evaluate ``flt`` against one record's metadata: the reference semantics of the language."""
    if flt is None:
        return True
    if isinstance(flt, And):
        return all(matches(c, metadata) for c in flt.clauses)
    if isinstance(flt, Or):
        return any(matches(c, metadata) for c in flt.clauses)
    present = flt.field in metadata and metadata[flt.field] is not None
    stored = metadata.get(flt.field)
    op, value = flt.op, flt.value
    if op == "$exists":
        return present == value
    if op == "$eq":
        return present and _field_equals(stored, value)
    if op == "$ne":
        return not (present and _field_equals(stored, value))
    if op == "$in":
        assert isinstance(value, tuple)
        return present and any(_field_equals(stored, v) for v in value)
    if op == "$nin":
        assert isinstance(value, tuple)
        return not (present and any(_field_equals(stored, v) for v in value))
    if not present or not _is_number(stored) or not _is_number(value):
        return False
    number, bound = float(stored), float(value)  # type: ignore[arg-type]
    if op == "$gt":
        return number > bound
    if op == "$gte":
        return number >= bound
    if op == "$lt":
        return number < bound
    return number <= bound


def to_mongo(flt: Filter) -> dict[str, Any]:
    """Render a tree back into the Mongo-style form (explicit operators), e.g. for Pinecone."""
    if isinstance(flt, And):
        return {"$and": [to_mongo(c) for c in flt.clauses]}
    if isinstance(flt, Or):
        return {"$or": [to_mongo(c) for c in flt.clauses]}
    value = list(flt.value) if isinstance(flt.value, tuple) else flt.value
    return {flt.field: {flt.op: value}}


#: Metadata keys starting with this are kept for gemini-vectors' own use (content hashes, encodings).
RESERVED_KEY_PREFIX = "__gv_"
#: The one reserved key a caller may write: the text a record was embedded from, kept by the framework
#: adapters (LangChain's ``page_content``, LlamaIndex's node text) beside the user's metadata, which may
#: then use any other key. Its value is a str; every backend stores and returns it like any other key.
TEXT_KEY = RESERVED_KEY_PREFIX + "text"
WRITABLE_RESERVED_KEYS: frozenset[str] = frozenset({TEXT_KEY})


def is_reserved_key(key: str) -> bool:
    """Whether ``key`` is reserved for gemini-vectors' internals (so no caller may write it)."""
    return key.startswith(RESERVED_KEY_PREFIX) and key not in WRITABLE_RESERVED_KEYS

_INT64 = (-(2**63), 2**63 - 1)


def validate_metadata(metadata: Mapping[str, Any], *, where: str = "metadata") -> dict[str, MetadataValue]:
    """Check that metadata uses only portable value types: str, int, float, bool, list of str.

    NumPy scalars become the Python value they hold. A key may not start with ``$`` (a filter could
    never name it) or with ``__gv_`` (reserved), and an int must fit in 64 bits.

    Raises:
        MetadataError: a key is not a string, a value is None, nested, or NaN; the message names it.
    """
    out: dict[str, MetadataValue] = {}
    for key, raw in metadata.items():
        if not isinstance(key, str) or not key:
            raise MetadataError(f"{where}: keys must be non-empty strings, got {key!r}")
        if key.startswith("$"):
            raise MetadataError(f"{where}: key {key!r} starts with '$', which filters read as an operator")
        if is_reserved_key(key):
            raise MetadataError(
                f"{where}: keys starting with {RESERVED_KEY_PREFIX!r} are reserved, got {key!r}"
            )
        value = raw.item() if isinstance(raw, np.generic) else raw  # np.int64(3) -> 3, np.str_ -> str
        if key in WRITABLE_RESERVED_KEYS and not isinstance(value, str):
            raise MetadataError(f"{where}: {key!r} holds a record's text, a str, not {type(raw).__name__}")
        if value is None:
            raise MetadataError(f"{where}: {key!r} is null; leave the key out instead")
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise MetadataError(f"{where}: {key!r} is {value}, which no backend can store")
        if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            raise MetadataError(f"{where}: {key!r} is {value}, outside the 64-bit range backends store")
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise MetadataError(f"{where}: {key!r} holds a NUL character, which PostgreSQL cannot store")
        check_unicode(key, where, what="key")
        for text in value if isinstance(value, list | tuple) else (value,):
            if isinstance(text, str):
                check_unicode(text, where, what=f"{key!r} value")
        if isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise MetadataError(f"{where}: {key!r} is a list; lists may hold strings only")
            if any("\x00" in v for v in value):
                raise MetadataError(f"{where}: {key!r} holds a NUL character, which PostgreSQL cannot store")
            out[key] = [str(v) for v in value]
        elif isinstance(value, str | int | float | bool):
            out[key] = value
        else:
            raise MetadataError(
                f"{where}: {key!r} is a {type(raw).__name__}; values must be str, int, float, bool "
                "or a list of str"
            )
    return out


def field_names(flt: Filter | None) -> set[str]:
    """Every field a filter mentions (backends use it to check names before querying)."""
    if flt is None:
        return set()
    if isinstance(flt, Comparison):
        return {flt.field}
    names: set[str] = set()
    for clause in flt.clauses:
        names |= field_names(clause)
    return names


__all__ = [
    "OPERATORS",
    "RESERVED_KEY_PREFIX",
    "TEXT_KEY",
    "WRITABLE_RESERVED_KEYS",
    "And",
    "Comparison",
    "Filter",
    "FilterLike",
    "Metadata",
    "MetadataValue",
    "Or",
    "Scalar",
    "field_names",
    "is_reserved_key",
    "matches",
    "metadata_equal",
    "parse_filter",
    "to_mongo",
    "validate_metadata",
]
