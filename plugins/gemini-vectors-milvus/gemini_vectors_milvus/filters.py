"""The portable filter language as Milvus boolean expressions, over each record's filter index.

Milvus's own JSON comparisons do not keep the portable semantics: ``meta["x"] == 1`` also matches
``true`` (Milvus Lite), ``in`` does not take a JSON path, and ``not`` of a comparison on a missing key is
no match at all (three-valued logic), where ``$ne``/``$nin`` must match records that lack the key. So each
record carries, beside its metadata, a **filter index** (the ``gv_filter`` JSON field) that filters read:

* ``t``: a list of tokens, one per key the record has (``$exists``) and one per (key, value) pair, a list
  giving one per element (``$eq``/``$in`` on a list match any element). A token is a digest of the key
  and the typed value, so ``true`` and ``1`` differ while ``1`` and ``1.0`` are the same number, and no
  user text ever reaches the expression: nothing to escape, nothing to inject. ``t`` is always present
  (maybe empty), so ``not json_contains(...)`` is an exact negation.
* ``n``: the numbers (not bools), keyed by a digest of the key, for ``$gt $gte $lt $lte``: a missing or
  non-numeric field has no entry there and does not match.

An empty ``$in`` matches nothing and an empty ``$nin`` everything; those constants (and infinite bounds)
are folded away here (:data:`True`/:data:`False`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, TypeAlias

from gemini_vectors.filters import And, Comparison, Filter, MetadataValue, Or, Scalar

from .naming import FILTER_FIELD

#: A translated filter, or a constant: True (matches every record), False (matches none).
Translated: TypeAlias = "str | bool"

TOKENS = "t"
NUMBERS = "n"


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _canonical(value: Scalar) -> tuple[str, str]:
    """``(type tag, text)`` of a value: numbers equal in the portable language get one text."""
    if isinstance(value, bool):
        return "b", "true" if value else "false"
    if isinstance(value, str):
        return "s", value
    if isinstance(value, float) and not value.is_integer():
        return "n", repr(value)
    return "n", str(int(value))  # 1, 1.0 and 1e16 read as the integers they equal


def key_token(key: str) -> str:
    """The token saying that a record has ``key``."""
    return "k" + _digest(key)


def value_token(key: str, value: Scalar) -> str:
    """The token saying that ``key`` is (or, for a list, holds) ``value``."""
    tag, text = _canonical(value)
    return "v" + _digest(key, tag, text)


def number_key(key: str) -> str:
    """The key of ``key``'s number in the filter index (a digest: safe in any JSON path)."""
    return "n" + _digest(key)


def filter_index(metadata: Mapping[str, MetadataValue]) -> dict[str, Any]:
    """The filter index of one record's (validated) metadata."""
    tokens: list[str] = []
    numbers: dict[str, int | float] = {}
    for key, value in metadata.items():
        tokens.append(key_token(key))
        for element in value if isinstance(value, list) else [value]:
            tokens.append(value_token(key, element))
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers[number_key(key)] = value
    return {TOKENS: sorted(set(tokens)), NUMBERS: numbers}


def _number_literal(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


_TOKENS_PATH = f'{FILTER_FIELD}["{TOKENS}"]'
_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_LARGEST = 1.7976931348623157e308


def _comparison(c: Comparison) -> Translated:
    if c.op == "$exists":
        expr = f'json_contains({_TOKENS_PATH}, "{key_token(c.field)}")'
        return expr if c.value else f"not {expr}"
    if c.op in ("$eq", "$ne"):
        assert not isinstance(c.value, tuple)
        expr = f'json_contains({_TOKENS_PATH}, "{value_token(c.field, c.value)}")'
        return expr if c.op == "$eq" else f"not {expr}"
    if c.op in ("$in", "$nin"):
        assert isinstance(c.value, tuple)
        if not c.value:
            return c.op == "$nin"
        tokens = ", ".join(f'"{t}"' for t in sorted({value_token(c.field, v) for v in c.value}))
        expr = f"json_contains_any({_TOKENS_PATH}, [{tokens}])"
        return expr if c.op == "$in" else f"not {expr}"
    bound = c.value
    assert isinstance(bound, int | float) and not isinstance(bound, bool)
    path = f'{FILTER_FIELD}["{NUMBERS}"]["{number_key(c.field)}"]'
    if math.isinf(bound):
        # no stored number is infinite (validate_metadata refuses them): fold, or keep "is a number"
        above = bound > 0
        if c.op in ("$gt", "$gte"):
            return False if above else f"{path} >= {-_LARGEST!r}"
        return f"{path} <= {_LARGEST!r}" if above else False
    return f"{path} {_OPS[c.op]} {_number_literal(bound)}"


def translate(flt: Filter | None) -> Translated:
    """The Milvus expression of a parsed filter, or True/False when it folds to a constant."""
    if flt is None:
        return True
    if isinstance(flt, Comparison):
        return _comparison(flt)
    parts: list[str] = []
    is_and = isinstance(flt, And)
    assert isinstance(flt, And | Or)
    for clause in flt.clauses:
        got = translate(clause)
        if got is True:
            if not is_and:
                return True
            continue
        if got is False:
            if is_and:
                return False
            continue
        parts.append(got)
    if not parts:
        return is_and  # every clause folded: all True (And) or all False (Or)
    if len(parts) == 1:
        return parts[0]
    return "(" + (" and " if is_and else " or ").join(f"({p})" for p in parts) + ")"


def as_json(value: Any) -> str:
    """Compact JSON, as Milvus stores a JSON field (for sizing records before they are sent)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
