"""The portable filter language as Qdrant filters (``must``/``should``/``must_not`` of field conditions).

How each operator keeps the reference semantics of :func:`gemini_vectors.filters.matches`:

* ``$eq`` on a string or a bool is ``match: value``; on a list field it matches when any element does,
  as in the portable language. Qdrant's exact match never matches a float (and keeps ``1`` apart from
  ``true``), so a number is compared with ``range: {gte: v, lte: v}``, which finds ``1`` and ``1.0``
  alike and never a bool.
* ``$ne`` and ``$nin`` are ``must_not`` of ``$eq``/``$in``: exact negations, so they match records that
  lack the field, as the portable language says.
* ``$in`` is ``match: any`` for strings plus one condition per number or bool, in a ``should``.
* ``$gt $gte $lt $lte`` are ranges, which match numbers only.
* ``$exists`` looks the key up in ``__gv_keys``, the list of keys each record has: Qdrant's
  ``is_empty`` would also count an empty list as missing.

An empty ``$in`` matches nothing and an empty ``$nin`` everything; those constants are folded away here
(:data:`True`/:data:`False`) because an empty ``should`` is no constraint at all to Qdrant.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeAlias

from gemini_vectors.errors import FilterError
from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar

from .naming import KEYS_KEY

if TYPE_CHECKING:
    from qdrant_client.http.models import FieldCondition
    from qdrant_client.http.models import Filter as QdrantFilter

Condition: TypeAlias = "FieldCondition | QdrantFilter"
#: A translated filter, or a constant: True (matches every record), False (matches none).
Translated: TypeAlias = "Condition | bool"

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")


def key_path(field: str) -> str:
    """The Qdrant key path of a top-level payload key (dots and brackets mean nesting, so quote them).

    Raises:
        FilterError: the key holds a double quote, which a Qdrant key path cannot express.
    """
    if _PLAIN_KEY.fullmatch(field):
        return field
    if '"' in field:
        raise FilterError(
            f"metadata key {field!r} holds a double quote, which Qdrant's key paths cannot name; "
            "filter on a key without one"
        )
    return f'"{field}"'


def _equals(path: str, value: Scalar) -> Condition:
    from qdrant_client import models

    if isinstance(value, str | bool):
        return models.FieldCondition(key=path, match=models.MatchValue(value=value))
    return models.FieldCondition(key=path, range=models.Range(gte=float(value), lte=float(value)))


def _one_of(path: str, values: tuple[Scalar, ...]) -> Translated:
    from qdrant_client import models

    strings = [v for v in values if isinstance(v, str)]
    parts: list[Translated] = [_equals(path, v) for v in dict.fromkeys(values) if not isinstance(v, str)]
    if strings:
        parts.append(models.FieldCondition(key=path, match=models.MatchAny(any=list(dict.fromkeys(strings)))))
    return _any(parts)


def _all(parts: list[Translated]) -> Translated:
    from qdrant_client import models

    if any(p is False for p in parts):
        return False
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else models.Filter(must=list[Any](kept))


def _any(parts: list[Translated]) -> Translated:
    from qdrant_client import models

    if any(p is True for p in parts):
        return True
    kept = [p for p in parts if not isinstance(p, bool)]
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else models.Filter(should=list[Any](kept))


def _not(part: Translated) -> Translated:
    from qdrant_client import models

    if isinstance(part, bool):
        return not part
    return models.Filter(must_not=[part])


def _comparison(flt: Comparison) -> Translated:
    from qdrant_client import models

    op, value = flt.op, flt.value
    if op == "$exists":
        present = models.FieldCondition(key=KEYS_KEY, match=models.MatchValue(value=flt.field))
        return present if value else _not(present)
    path = key_path(flt.field)
    if op == "$eq":
        assert not isinstance(value, tuple)
        return _equals(path, value)
    if op == "$ne":
        assert not isinstance(value, tuple)
        return _not(_equals(path, value))
    if op == "$in":
        assert isinstance(value, tuple)
        return _one_of(path, value)
    if op == "$nin":
        assert isinstance(value, tuple)
        return _not(_one_of(path, value))
    assert isinstance(value, int | float) and not isinstance(value, bool)  # the parser checked
    bound = float(value)
    ranges = {
        "$gt": models.Range(gt=bound),
        "$gte": models.Range(gte=bound),
        "$lt": models.Range(lt=bound),
        "$lte": models.Range(lte=bound),
    }
    return models.FieldCondition(key=path, range=ranges[op])


def translate(flt: Filter | None) -> Translated:
    """``flt`` as a ``qdrant_client.models`` condition, or True/False when it is constant.

    Raises:
        FilterError: a key Qdrant cannot name (see :func:`key_path`).
    """
    if flt is None:
        return True
    if isinstance(flt, And):
        return _all([translate(c) for c in flt.clauses])
    if isinstance(flt, Or):
        return _any([translate(c) for c in flt.clauses])
    return _comparison(flt)


def as_filter(translated: Translated) -> QdrantFilter | None:
    """A ``models.Filter`` for the ``query_filter``/``scroll_filter`` argument (None: no filter).

    Call only when ``translated`` is not False (a filter that matches nothing is not sent at all).
    """
    from qdrant_client import models

    if translated is True:
        return None
    assert translated is not False
    return translated if isinstance(translated, models.Filter) else models.Filter(must=[translated])


def index_hints(flt: Filter | None) -> dict[str, str]:
    """The payload index each filtered key wants: ``keyword``, ``bool`` or ``float``, by key path.

    The first value type a key is filtered with decides; a key filtered only with ``$exists`` needs none
    (``__gv_keys`` is indexed when the collection is created).
    """
    hints: dict[str, str] = {}

    def visit(node: Filter) -> None:
        if isinstance(node, And | Or):
            for clause in node.clauses:
                visit(clause)
            return
        if node.op == "$exists":
            return
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        for value in values:
            kind = "keyword" if isinstance(value, str) else "bool" if isinstance(value, bool) else "float"
            hints.setdefault(key_path(node.field), kind)
            break

    if flt is not None:
        visit(flt)
    return hints
