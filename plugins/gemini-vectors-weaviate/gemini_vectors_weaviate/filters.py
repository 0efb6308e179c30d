"""The portable filter language translated to weaviate-client ``Filter`` objects.

The reference semantics are :func:`gemini_vectors.filters.matches`; Weaviate differs from them in ways
this module absorbs:

* a filter on a property the collection does not have is an error in Weaviate, and a value of the wrong
  type (``True`` for an ``int`` property, ``1.5`` for an ``int``, a string for a number) is an error or a
  conversion; here such comparisons are decided before anything is sent (``$eq`` on an unknown field
  matches nothing, ``$ne`` everything) and folded away as constants;
* whether a record has a key is answered by the internal ``gv_keys`` property (the property names of the
  record's metadata), because Weaviate's null state also counts ``""`` and ``[]`` as null;
* ``$ne``/``$nin`` must also match records that lack the field: ``NotEqual`` is a deny list in Weaviate
  (the complement of ``Equal``), and the translation adds ``OR gv_keys != field`` so that this holds on
  any server version the client supports;
* range operators compare numbers only; on an ``int`` property a fractional bound is rounded the way
  that keeps the comparison exact (``x > 1.5`` is ``x > 1``);
* text is stored with ``field`` tokenization, so equality is on the whole value, case-sensitive; but
  Weaviate trims surrounding whitespace of both sides, and an empty string cannot be searched for. So a
  text comparison asks for a superset, and the caller checks every result with ``matches`` (see
  :attr:`Translation.exact`): ``$eq`` may find `` a`` for ``a``; ``$ne`` adds the records whose value in
  that field has surrounding whitespace (the internal ``gv_padded`` property lists those fields), which
  ``NotEqual`` would wrongly exclude; ``$eq ""`` asks for every record that has the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar
from weaviate.classes.query import Filter as WFilter
from weaviate.collections.classes.filters import _Filters

from .naming import KEYS_PROPERTY, PADDED_PROPERTY

#: The largest integer a Weaviate ``int`` property holds.
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class _Const:
    value: bool


TRUE = _Const(True)
FALSE = _Const(False)
Node: TypeAlias = "_Filters | _Const"


@dataclass(frozen=True)
class Translation:
    """A translated filter.

    Attributes:
        filter: The Weaviate filter, or None when every record matches.
        matches_nothing: True when no record can match (nothing needs to be sent).
        exact: False when ``filter`` may match more records than the portable filter, so that results
            must be checked with :func:`gemini_vectors.filters.matches`.
    """

    filter: _Filters | None
    matches_nothing: bool
    exact: bool


#: Resolves a metadata key to ``(property name, Weaviate data type)``, or None if no record has it.
Resolver = Callable[[str], "tuple[str, str] | None"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _and(nodes: Sequence[Node]) -> Node:
    parts: list[_Filters] = []
    for node in nodes:
        if isinstance(node, _Const):
            if not node.value:
                return FALSE
            continue
        parts.append(node)
    if not parts:
        return TRUE
    return parts[0] if len(parts) == 1 else WFilter.all_of(parts)


def _or(nodes: Sequence[Node]) -> Node:
    parts: list[_Filters] = []
    for node in nodes:
        if isinstance(node, _Const):
            if node.value:
                return TRUE
            continue
        parts.append(node)
    if not parts:
        return FALSE
    return parts[0] if len(parts) == 1 else WFilter.any_of(parts)


class _Translator:
    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self.exact = True

    def node(self, flt: Filter) -> Node:
        if isinstance(flt, And):
            return _and([self.node(c) for c in flt.clauses])
        if isinstance(flt, Or):
            return _or([self.node(c) for c in flt.clauses])
        return self.comparison(flt)

    def comparison(self, cmp: Comparison) -> Node:
        resolved = self.resolve(cmp.field)
        op, value = cmp.op, cmp.value
        if op == "$exists":
            if resolved is None:
                return FALSE if value else TRUE
            return self.has(resolved[0]) if value else self.lacks(resolved[0])
        if resolved is None:
            # no record has the field: only the negations match, and they match everything
            return TRUE if op in ("$ne", "$nin") else FALSE
        prop, data_type = resolved
        if op == "$eq":
            return self.equal(prop, data_type, value)  # type: ignore[arg-type]
        if op == "$ne":
            return self.not_equal(prop, data_type, value)  # type: ignore[arg-type]
        if op == "$in":
            assert isinstance(value, tuple)
            return self.any_equal(prop, data_type, value)
        if op == "$nin":
            assert isinstance(value, tuple)
            return _and([self.not_equal(prop, data_type, v) for v in value])
        return self.range(prop, data_type, op, value)  # type: ignore[arg-type]

    # -- building blocks ---------------------------------------------------------------------

    def has(self, prop: str) -> Node:
        return WFilter.by_property(KEYS_PROPERTY).equal(prop)

    def lacks(self, prop: str) -> Node:
        return WFilter.by_property(KEYS_PROPERTY).not_equal(prop)

    def padded(self, prop: str) -> Node:
        return WFilter.by_property(PADDED_PROPERTY).equal(prop)

    def typed_value(self, data_type: str, value: Scalar) -> Scalar | None:
        """The value to send for a comparison with a property of ``data_type``, None if none can equal."""
        if data_type in ("text", "text[]"):
            return value if isinstance(value, str) else None
        if data_type == "boolean":
            return value if isinstance(value, bool) else None
        if data_type == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            if isinstance(value, float):
                if not value.is_integer():
                    return None
                value = int(value)
            return value if -INT64_MAX - 1 <= value <= INT64_MAX else None
        if data_type == "number":
            if not _is_number(value):
                return None
            if isinstance(value, int) and float(value) != value:
                self.exact = False  # beyond 2**53 the double is a neighbour; the check sorts it out
            return float(value)
        return None

    def equal(self, prop: str, data_type: str, value: Scalar) -> Node:
        typed = self.typed_value(data_type, value)
        if typed is None:
            return FALSE
        if isinstance(typed, str):
            self.exact = False  # trimmed comparison: a superset, matches() decides
            if typed == "" or typed != typed.strip():
                # Weaviate cannot search for an empty or padded string: every record with the field
                return self.has(prop)
        return WFilter.by_property(prop).equal(typed)

    def not_equal(self, prop: str, data_type: str, value: Scalar) -> Node:
        typed = self.typed_value(data_type, value)
        if typed is None:
            return TRUE
        if isinstance(typed, str):
            self.exact = False
            if typed == "" or typed != typed.strip():
                return TRUE
            # NotEqual misses " a" for "a" (both trim to "a"): records with padded text are candidates too
            return _or([WFilter.by_property(prop).not_equal(typed), self.lacks(prop), self.padded(prop)])
        return _or([WFilter.by_property(prop).not_equal(typed), self.lacks(prop)])

    def any_equal(self, prop: str, data_type: str, values: tuple[Scalar, ...]) -> Node:
        plain: list[Any] = []
        special: list[Node] = []
        for v in values:
            typed = self.typed_value(data_type, v)
            if typed is None:
                continue
            if isinstance(typed, str) and (typed == "" or typed != typed.strip()):
                special.append(self.equal(prop, data_type, v))
            elif typed not in plain:
                # one Python type per property type (bools never meet ints here), so `in` is exact
                plain.append(typed)
        nodes: list[Node] = list(special)
        if any(isinstance(p, str) for p in plain):
            self.exact = False
        if len(plain) == 1:
            nodes.append(WFilter.by_property(prop).equal(plain[0]))
        elif plain:
            nodes.append(WFilter.by_property(prop).contains_any(plain))
        return _or(nodes)

    def range(self, prop: str, data_type: str, op: str, value: Scalar) -> Node:
        if data_type not in ("int", "number") or not _is_number(value):
            return FALSE
        by = WFilter.by_property(prop)
        if data_type == "number":
            bound = float(value)
            if isinstance(value, int) and bound != value:
                self.exact = False
            return {
                "$gt": by.greater_than,
                "$gte": by.greater_or_equal,
                "$lt": by.less_than,
                "$lte": by.less_or_equal,
            }[op](bound)
        # an int property: round a fractional bound so that the integer comparison is the same
        assert isinstance(value, int | float)
        v: int | float = value
        if op == "$gt":
            b = math.floor(v)
            cmp = by.greater_than
        elif op == "$gte":
            b = math.ceil(v)
            cmp = by.greater_or_equal
        elif op == "$lt":
            b = math.ceil(v)
            cmp = by.less_than
        else:
            b = math.floor(v)
            cmp = by.less_or_equal
        if b > INT64_MAX:
            return FALSE if op in ("$gt", "$gte") else self.has(prop)
        if b < -INT64_MAX - 1:
            return FALSE if op in ("$lt", "$lte") else self.has(prop)
        return cmp(int(b))


def translate(flt: Filter | None, resolve: Resolver) -> Translation:
    """Translate a parsed portable filter for a collection whose keys ``resolve`` maps to properties."""
    if flt is None:
        return Translation(None, False, True)
    tr = _Translator(resolve)
    node = tr.node(flt)
    if isinstance(node, _Const):
        return Translation(None, not node.value, tr.exact)
    return Translation(node, False, tr.exact)


def resolver_for(properties: Mapping[str, str], key_to_property: Callable[[str], str | None]) -> Resolver:
    """A :data:`Resolver` over a ``{property name: data type}`` map and a key-to-property lookup."""

    def resolve(key: str) -> tuple[str, str] | None:
        prop = key_to_property(key)
        if prop is None or prop not in properties:
            return None
        return prop, properties[prop]

    return resolve
