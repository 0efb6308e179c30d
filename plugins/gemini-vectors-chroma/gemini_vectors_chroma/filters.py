"""The portable filter language as Chroma ``where`` clauses.

Chroma metadata values are scalars or non-empty lists; a list field is stored as Chroma's own list value
(an empty list is left out, and remembered in ``__gv_keys``). How each operator keeps the reference
semantics of :func:`gemini_vectors.filters.matches` (each checked on Chroma's engine by the contract suite):

* ``$eq`` on a string is ``{$or: [{k: {$eq: s}}, {k: {$contains: s}}]}``: Chroma's ``$eq`` never matches
  a list, and ``$contains`` matches list elements only (never a substring of a string). On a number or a
  bool it is Chroma's ``$eq``, which finds ``1`` and ``1.0`` alike and keeps ``true`` apart from ``1``.
* ``$ne`` and ``$nin`` are Chroma's ``$ne``/``$nin`` (which match records without the key) and, for
  strings, ``$not_contains`` (which also matches records without the key, or with a scalar).
* ``$in`` groups its values by type (Chroma's ``$in`` takes one type): strings, bools, numbers (as floats
  if any is a float), plus a ``$contains`` per string for list fields.
* ``$gt $gte $lt $lte`` are Chroma's, which compare numbers only.
* every condition is gated by ``__gv_keys`` (see :func:`_gated`): a key the record's key list lacks is
  missing, whatever chromadb holds under it;
* ``$exists`` is ``$contains``/``$not_contains`` on ``__gv_keys``, the keys each record has (an empty list
  counts as present, a missing key as absent).

Constants are folded: an empty ``$in`` matches nothing, an empty ``$nin`` everything, and a key Chroma
cannot store (``#...``, ``chroma:document``) is missing from every record. Chroma's ``$and``/``$or`` want
two clauses or more, so one clause stands alone.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar

from .naming import KEYS_KEY, chroma_key_problem

Where: TypeAlias = dict[str, Any]
#: A translated filter, or a constant: True (matches every record), False (matches none).
Translated: TypeAlias = "Where | bool"


def _all(parts: list[Translated]) -> Translated:
    if any(p is False for p in parts):
        return False
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else {"$and": kept}


def _any(parts: list[Translated]) -> Translated:
    if any(p is True for p in parts):
        return True
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else {"$or": kept}


def _groups(values: tuple[Scalar, ...]) -> list[list[Any]]:
    """The values as lists of one Chroma type each: strings, bools, numbers (floats if any is a float)."""
    unique = list(dict.fromkeys((type(v) is bool, v) for v in values))  # keep True apart from 1
    strings = [v for _, v in unique if isinstance(v, str)]
    bools = [v for is_bool, v in unique if is_bool]
    numbers = [v for is_bool, v in unique if not is_bool and not isinstance(v, str)]
    if any(isinstance(n, float) for n in numbers):
        numbers = list(dict.fromkeys(float(n) for n in numbers))
    return [g for g in (strings, bools, numbers) if g]


def _gated(field: str, translated: Translated, *, negated: bool) -> Translated:
    """``translated``, decided by the record's key list where the key is absent.

    The key list, written with every record, is the truth about which keys a record has: chromadb 1.5
    leaves the list values of a dropped collection's records behind (a record of a later collection can
    inherit a list key it never had), and Chroma's upsert merges metadata. A positive condition also
    requires the key in ``__gv_keys``; a negated one also holds for a record whose key list lacks it.
    """
    if negated:
        return _any([{KEYS_KEY: {"$not_contains": field}}, translated])
    return _all([{KEYS_KEY: {"$contains": field}}, translated])


def _one_of(field: str, values: tuple[Scalar, ...]) -> Translated:
    parts: list[Translated] = []
    for group in _groups(values):
        parts.append({field: {"$in": group}})
        if isinstance(group[0], str):
            parts.extend({field: {"$contains": s}} for s in group)
    return _any(parts)


def _none_of(field: str, values: tuple[Scalar, ...]) -> Translated:
    parts: list[Translated] = []
    for group in _groups(values):
        parts.append({field: {"$nin": group}})
        if isinstance(group[0], str):
            parts.extend(
                {"$or": [{KEYS_KEY: {"$not_contains": field}}, {field: {"$not_contains": s}}]} for s in group
            )
    return _all(parts)


def _missing(flt: Comparison) -> bool:
    """What a comparison says of a record without the field."""
    if flt.op == "$exists":
        return flt.value is False
    return flt.op in ("$ne", "$nin")


def _comparison(flt: Comparison) -> Translated:
    op, value, field = flt.op, flt.value, flt.field
    if chroma_key_problem(field) is not None:
        return _missing(flt)  # no record can hold this key
    if op == "$exists":
        return {KEYS_KEY: {"$contains" if value else "$not_contains": field}}
    if op in ("$eq", "$ne"):
        assert not isinstance(value, tuple)
        if op == "$eq":
            return _gated(field, _one_of(field, (value,)), negated=False)
        return _gated(field, _none_of(field, (value,)), negated=True)
    if op == "$in":
        assert isinstance(value, tuple)
        return _gated(field, _one_of(field, value), negated=False)
    if op == "$nin":
        assert isinstance(value, tuple)
        return _gated(field, _none_of(field, value), negated=True)
    assert isinstance(value, int | float) and not isinstance(value, bool)  # the parser checked
    return _gated(field, {field: {op: value}}, negated=False)


def translate(flt: Filter | None) -> Translated:
    """``flt`` as a Chroma ``where`` dict, or True/False when it is constant."""
    if flt is None:
        return True
    if isinstance(flt, And):
        return _all([translate(c) for c in flt.clauses])
    if isinstance(flt, Or):
        return _any([translate(c) for c in flt.clauses])
    return _comparison(flt)
