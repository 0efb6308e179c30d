"""Translate the portable filter tree into Pinecone's filter language, keeping the core's semantics.

:func:`gemini_vectors.filters.matches` is the reference. Pinecone differs from it in two places, and the
translation closes both gaps without relying on the server's answer for records that lack a field:

* ``$ne``/``$nin``: the reference matches records that lack the field; Pinecone's do not (they need a
  value). ``{"f": {"$ne": v}}`` becomes ``{"$or": [{"f": {"$ne": v}}, {"f": {"$exists": false}}]}``.
  Were the server to match missing fields after all, the added branch would change nothing.
* ``$in``/``$nin`` list strings and numbers only; booleans become ``$eq``/``$ne`` alternatives, and
  strings and numbers go in separate arrays so that no array mixes types. Arrays longer than Pinecone's
  10,000 values are split.

Empty ``$in``/``$nin`` lists (which Pinecone may refuse) become an always-false or always-true condition
written with ``$exists``.
"""

from __future__ import annotations

import math
from typing import Any

from gemini_vectors.errors import FilterError
from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar, field_names

from gemini_vectors_pinecone.limits import RESERVED_PREFIX

#: Longest ``$in``/``$nin`` array Pinecone accepts.
MAX_IN_VALUES = 10_000


def to_pinecone(flt: Filter) -> dict[str, Any]:
    """The Pinecone filter that selects exactly the records ``gemini_vectors.filters.matches`` selects.

    Raises:
        FilterError: the filter names a reserved field or holds a number JSON cannot carry.
    """
    for name in field_names(flt):
        if name.startswith(RESERVED_PREFIX):
            raise FilterError(f"field {name!r} is reserved by gemini-vectors and cannot be filtered on")
    return _translate(flt)


def _translate(flt: Filter) -> dict[str, Any]:
    if isinstance(flt, And):
        return {"$and": [_translate(c) for c in flt.clauses]}
    if isinstance(flt, Or):
        return {"$or": [_translate(c) for c in flt.clauses]}
    return _comparison(flt)


def _check(value: Scalar, where: Comparison) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"{value} cannot be sent to Pinecone in the filter on {where.field!r}")
    return value


def _missing(field: str) -> dict[str, Any]:
    return {field: {"$exists": False}}


def _never(field: str) -> dict[str, Any]:
    return {"$and": [{field: {"$exists": True}}, {field: {"$exists": False}}]}


def _always(field: str) -> dict[str, Any]:
    return {"$or": [{field: {"$exists": True}}, {field: {"$exists": False}}]}


def _one_or(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {op: parts}


def _split(values: tuple[Scalar, ...]) -> tuple[list[Scalar], list[Scalar], list[bool]]:
    strings: list[Scalar] = []
    numbers: list[Scalar] = []
    bools: list[bool] = []
    for v in values:
        if isinstance(v, bool):
            if v not in bools:
                bools.append(v)
        elif isinstance(v, str):
            strings.append(v)
        else:
            numbers.append(v)
    return strings, numbers, bools


def _arrays(field: str, op: str, values: list[Scalar]) -> list[dict[str, Any]]:
    return [
        {field: {op: values[start : start + MAX_IN_VALUES]}} for start in range(0, len(values), MAX_IN_VALUES)
    ]


def _comparison(c: Comparison) -> dict[str, Any]:
    field, op = c.field, c.op
    if op == "$exists":
        return {field: {"$exists": bool(c.value)}}
    if not isinstance(c.value, tuple):
        value = _check(c.value, c)
        if op == "$ne":
            return {"$or": [{field: {"$ne": value}}, _missing(field)]}
        return {field: {op: value}}
    values = tuple(_check(v, c) for v in c.value)
    strings, numbers, bools = _split(values)
    if op == "$in":
        parts = _arrays(field, "$in", strings) + _arrays(field, "$in", numbers)
        parts += [{field: {"$eq": b}} for b in bools]
        return _one_or("$or", parts) if parts else _never(field)
    # $nin: no element equals any value, or the field is missing
    if not values:
        return _always(field)
    parts = _arrays(field, "$nin", strings) + _arrays(field, "$nin", numbers)
    parts += [{field: {"$ne": b}} for b in bools]
    return {"$or": [_one_or("$and", parts), _missing(field)]}
