"""Pinecone's metadata filter language as the emulator checks and evaluates it.

Written from Pinecone's "Filter by metadata" reference, not from any client's needs:

* Operators ``$eq $ne $gt $gte $lt $lte $in $nin $exists`` on a field, ``$and``/``$or`` over lists of
  filters. A bare value means ``$eq``; several keys in one object (fields or operators) mean AND.
* ``$eq``/``$ne`` take a string, number or boolean; ``$gt $gte $lt $lte`` a number; ``$in``/``$nin`` an
  array of strings or numbers (the reference lists no booleans for them, so the emulator refuses one
  with a 400, as it refuses every other malformed filter); ``$exists`` a boolean.
* A list-of-strings field matches ``$eq``/``$in`` when any element matches, ``$ne``/``$nin`` when no
  element does.
* Numbers are 64-bit floats (``1`` equals ``1.0``); booleans are their own type (``true`` is not ``1``).
* Records LACKING the field: only ``{"$exists": false}`` matches them. In particular ``$ne`` and
  ``$nin`` do NOT match a record without the field. This is how the service has answered since early
  2024 (a filter ``{"f": {"$ne": v}}`` "returns only documents where the field is set and different
  from value", as integrators reported when the behaviour changed), and it agrees with the reference's
  wording "matches with metadata values that are not equal": there has to be a value. A client that
  wants MongoDB's semantics adds ``{"f": {"$exists": false}}`` as an alternative.
* Range operators never match a string, boolean or list value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
LOGICAL_OPERATORS = ("$and", "$or")
#: Longest ``$in``/``$nin`` array the service accepts.
MAX_IN_VALUES = 10_000


class FilterSyntaxError(ValueError):
    """The filter is malformed; the message is what the emulator answers with a 400."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def validate(flt: Any, depth: int = 0) -> None:
    """Raise :class:`FilterSyntaxError` when ``flt`` is not a filter Pinecone accepts."""
    if depth > 64:
        raise FilterSyntaxError("filter is nested too deeply")
    if not isinstance(flt, Mapping):
        raise FilterSyntaxError(f"filter must be a JSON object, got {type(flt).__name__}")
    for key, value in flt.items():
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise FilterSyntaxError(f"{key} operator requires a non-empty array of filters")
            for sub in value:
                validate(sub, depth + 1)
        elif key.startswith("$"):
            raise FilterSyntaxError(f"{key} is not a valid operator at the top level of a filter")
        else:
            _validate_condition(key, value)


def _validate_condition(field: str, condition: Any) -> None:
    if _is_scalar(condition):
        return
    if not isinstance(condition, Mapping):
        raise FilterSyntaxError(
            f"filter value for field {field!r} must be a string, number, boolean or an object of "
            f"operators, got {type(condition).__name__}"
        )
    if not condition:
        raise FilterSyntaxError(f"filter for field {field!r} has no operator")
    for op, operand in condition.items():
        if op not in FIELD_OPERATORS:
            raise FilterSyntaxError(f"{op} is not a valid operator for field {field!r}")
        if op in ("$eq", "$ne"):
            if not _is_scalar(operand):
                raise FilterSyntaxError(
                    f"{op} operator for field {field!r} requires a string, number or boolean"
                )
        elif op in RANGE_OPERATORS:
            if not _is_number(operand):
                raise FilterSyntaxError(f"{op} operator for field {field!r} requires a number")
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise FilterSyntaxError(f"{op} operator for field {field!r} requires an array")
            if len(operand) > MAX_IN_VALUES:
                raise FilterSyntaxError(
                    f"{op} operator for field {field!r} has {len(operand)} values; "
                    f"the maximum is {MAX_IN_VALUES}"
                )
            for item in operand:
                if not (isinstance(item, str) or _is_number(item)):
                    raise FilterSyntaxError(
                        f"{op} operator for field {field!r} accepts strings and numbers only, got {item!r}"
                    )
        elif not isinstance(operand, bool):  # $exists
            raise FilterSyntaxError(f"$exists operator for field {field!r} requires a boolean")


def _equal(stored: Any, value: Any) -> bool:
    if isinstance(stored, bool) or isinstance(value, bool):
        return isinstance(stored, bool) and isinstance(value, bool) and stored == value
    if _is_number(stored) and _is_number(value):
        return float(stored) == float(value)
    return isinstance(stored, str) and isinstance(value, str) and stored == value


def _field_has(stored: Any, value: Any) -> bool:
    if isinstance(stored, list):
        return any(_equal(element, value) for element in stored)
    return _equal(stored, value)


def _compare(op: str, stored: Any, operand: Any) -> bool:
    if not _is_number(stored) or (isinstance(stored, float) and math.isnan(stored)):
        return False
    a, b = float(stored), float(operand)
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    return a <= b


def _condition_matches(field: str, condition: Any, metadata: Mapping[str, Any]) -> bool:
    if not isinstance(condition, Mapping):
        condition = {"$eq": condition}
    present = field in metadata
    stored = metadata.get(field)
    for op, operand in condition.items():
        if op == "$exists":
            ok = present == operand
        elif not present:
            ok = False
        elif op == "$eq":
            ok = _field_has(stored, operand)
        elif op == "$ne":
            ok = not _field_has(stored, operand)
        elif op == "$in":
            ok = any(_field_has(stored, v) for v in operand)
        elif op == "$nin":
            ok = not any(_field_has(stored, v) for v in operand)
        else:
            ok = _compare(op, stored, operand)
        if not ok:
            return False
    return True


def evaluate(flt: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    """Whether a record with ``metadata`` matches an already validated filter (None matches all)."""
    if not flt:
        return True
    for key, value in flt.items():
        if key == "$and":
            if not all(evaluate(sub, metadata) for sub in value):
                return False
        elif key == "$or":
            if not any(evaluate(sub, metadata) for sub in value):
                return False
        elif not _condition_matches(key, value, metadata):
            return False
    return True
