"""The portable filter tree translated to a SQL condition on a ``jsonb`` metadata column.

Every value and every field name travels as a bound parameter; the only identifier, the column, goes
through :mod:`psycopg.sql`. The translation reproduces :func:`gemini_vectors.filters.matches` exactly:

* ``$eq`` is jsonb containment, ``m @> {"f": v} OR m @> {"f": [v]}``: the first matches a scalar equal to
  ``v``, the second a list holding ``v``. jsonb equality is typed like the reference (``true`` is not
  ``1``, ``"1"`` is not ``1``) and numeric (``1`` equals ``1.0``), and ``@>`` is served by the GIN index.
* ``$ne``/``$nin`` are the plain negations of ``$eq``/``$in``, so they match rows lacking the field, as
  the reference does (containment is never NULL on a NOT NULL column, so NOT is safe).
* ``$gt $gte $lt $lte`` hold only where the field is a JSON number (not a bool, string or list); the
  ``CASE`` guarantees the cast is never attempted on anything else. Like the reference, they compare
  both sides as float64: PostgreSQL's ``jsonb -> float8`` cast rounds the stored decimal text (written
  by ``json.dumps`` with ``repr``) to the nearest double, exactly as Python's ``float()`` does.
* ``$exists`` treats a JSON null like a missing key, as the reference does.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from gemini_vectors.filters import And, Comparison, Filter, Or, Scalar

Query = sql.SQL | sql.Composed
"""A statement or fragment that psycopg's ``execute`` accepts."""

_RANGE_SQL: dict[str, sql.SQL] = {
    "$gt": sql.SQL(">"),
    "$gte": sql.SQL(">="),
    "$lt": sql.SQL("<"),
    "$lte": sql.SQL("<="),
}


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
    params.extend([field, field, float(value)])
    return sql.SQL(
        "(CASE WHEN jsonb_typeof({col} -> %s) = 'number' THEN ({col} -> %s)::float8 {op} %s::float8 "
        "ELSE false END)"
    ).format(col=column, op=_RANGE_SQL[op])


def _node(node: Filter, column: sql.Identifier, params: list[Any]) -> Query:
    if isinstance(node, Comparison):
        return _comparison(node, column, params)
    joiner = sql.SQL(" AND ") if isinstance(node, And) else sql.SQL(" OR ")
    assert isinstance(node, And | Or)
    return sql.SQL("({})").format(joiner.join(_node(c, column, params) for c in node.clauses))


def filter_shape(flt: Filter) -> Hashable:
    """What the SQL text of ``flt`` depends on: its operators, nesting and ``$in`` sizes, not its fields
    or values (those are parameters). Two filters of one shape have one condition text."""
    if isinstance(flt, Comparison):
        value = flt.value
        if isinstance(value, tuple):
            return (flt.op, len(value))
        return (flt.op, value) if flt.op == "$exists" else (flt.op,)
    return (type(flt).__name__, tuple(filter_shape(c) for c in flt.clauses))


def filter_params(flt: Filter) -> list[Any]:
    """The parameters of :func:`filter_to_sql`'s condition for ``flt``, in order, without building it.

    Composing the condition is most of the Python work of a filtered search, and it is the same for
    every filter of one :func:`filter_shape`; the parameters are what changes.
    """
    params: list[Any] = []
    _node_params(flt, params)
    return params


def _node_params(node: Filter, params: list[Any]) -> None:
    if not isinstance(node, Comparison):
        for clause in node.clauses:
            _node_params(clause, params)
        return
    field, op, value = node.field, node.op, node.value
    if op in ("$eq", "$ne"):
        params.extend((Jsonb({field: value}), Jsonb({field: [value]})))
    elif op in ("$in", "$nin"):
        assert isinstance(value, tuple)
        for v in value:
            params.extend((Jsonb({field: v}), Jsonb({field: [v]})))
    elif op == "$exists":
        params.extend((field, field))
    else:
        assert not isinstance(value, tuple | str)
        params.extend((field, field, float(value)))


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
