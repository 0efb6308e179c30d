"""The portable filter tree translated to a SQL condition on a ``jsonb`` metadata column.

Every value and every field name travels as a bound parameter; the only identifier, the column, goes
through :mod:`psycopg.sql`. The translation reproduces :func:`gemini_vectors.filters.matches` exactly:

* ``$eq`` is jsonb containment, ``m @> {"f": v} OR m @> {"f": [v]}``: the first matches a scalar equal to
  ``v``, the second a list holding ``v``. jsonb equality is typed like the reference (``true`` is not
  ``1``, ``"1"`` is not ``1``) and numeric (``1`` equals ``1.0``), and ``@>`` is served by the GIN index.
* ``$ne``/``$nin`` are the plain negations of ``$eq``/``$in``, so they match rows lacking the field, as
  the reference does (containment is never NULL on a NOT NULL column, so NOT is safe).
* ``$gt $gte $lt $lte`` hold only where the field is a JSON number (not a bool, string or list); the
  ``CASE`` guarantees the cast to numeric is never attempted on anything else.
* ``$exists`` treats a JSON null like a missing key, as the reference does.

Numbers are compared as ``numeric`` after going through ``repr``, the same text ``json.dumps`` wrote
into the column, so a float filter value and a stored float compare as Python compares them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar
from psycopg import sql
from psycopg.types.json import Jsonb

Query = sql.SQL | sql.Composed
"""A statement or fragment that psycopg's ``execute`` accepts."""

_RANGE_SQL: dict[str, sql.SQL] = {
    "$gt": sql.SQL(">"),
    "$gte": sql.SQL(">="),
    "$lt": sql.SQL("<"),
    "$lte": sql.SQL("<="),
}


def _numeric(value: Scalar) -> Decimal | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # repr() is the shortest text that round-trips; json.dumps writes floats with it too.
    return Decimal(repr(float(value)))


def _equals(column: sql.Identifier, field: str, value: Scalar, params: list[Any]) -> Query:
    params.append(Jsonb({field: value}))
    params.append(Jsonb({field: [value]}))
    return sql.SQL("({col} @> %s OR {col} @> %s)").format(col=column)


def _comparison(node: Comparison, column: sql.Identifier, params: list[Any]) -> Query:
    field, op, value = node.field, node.op, node.value
    if op == "$eq" or op == "$ne":
        assert not isinstance(value, tuple)
        cond = _equals(column, field, value, params)
        return cond if op == "$eq" else sql.SQL("NOT {}").format(cond)
    if op == "$in" or op == "$nin":
        assert isinstance(value, tuple)
        if value:
            parts = [_equals(column, field, v, params) for v in value]
            cond = sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
        else:
            cond = sql.SQL("false")
        return cond if op == "$in" else sql.SQL("NOT {}").format(cond)
    if op == "$exists":
        params.extend([field, field])
        cond = sql.SQL("({col} ? %s AND jsonb_typeof({col} -> %s) <> 'null')").format(col=column)
        return cond if value else sql.SQL("NOT {}").format(cond)
    assert not isinstance(value, tuple | str)
    params.extend([field, field, _numeric(value)])
    return sql.SQL(
        "(CASE WHEN jsonb_typeof({col} -> %s) = 'number' THEN ({col} -> %s)::numeric {op} %s::numeric "
        "ELSE false END)"
    ).format(col=column, op=_RANGE_SQL[op])


def _node(node: Filter, column: sql.Identifier, params: list[Any]) -> Query:
    if isinstance(node, Comparison):
        return _comparison(node, column, params)
    joiner = sql.SQL(" AND ") if isinstance(node, And) else sql.SQL(" OR ")
    assert isinstance(node, And | Or)
    return sql.SQL("({})").format(joiner.join(_node(c, column, params) for c in node.clauses))


def filter_to_sql(flt: Filter, column: sql.Identifier | None = None) -> tuple[Query, list[Any]]:
    """Translate a parsed filter into a boolean SQL expression and its bound parameters, in order.

    Args:
        flt: A tree from :func:`gemini_vectors.filters.parse_filter`.
        column: The jsonb column to test (default ``metadata``).

    Returns:
        The condition, with one ``%s`` placeholder per parameter, and the parameters.
    """
    params: list[Any] = []
    cond = _node(flt, column if column is not None else sql.Identifier("metadata"), params)
    return cond, params
