"""The portable filter language: parsing, errors that show the offending part, reference semantics."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemini_vectors.errors import FilterError, MetadataError
from gemini_vectors.filters import (
    And,
    Comparison,
    Or,
    matches,
    metadata_equal,
    parse_filter,
    to_mongo,
    validate_metadata,
)


def test_bare_value_means_eq_and_several_keys_mean_and() -> None:
    assert parse_filter({"a": 1, "b": {"$gt": 2, "$lt": 5}}) == And(
        (Comparison("a", "$eq", 1), And((Comparison("b", "$gt", 2), Comparison("b", "$lt", 5))))
    )


def test_or_and_in() -> None:
    assert parse_filter({"$or": [{"a": {"$in": ["x", "y"]}}, {"b": {"$exists": False}}]}) == Or(
        (Comparison("a", "$in", ("x", "y")), Comparison("b", "$exists", False))
    )


def test_none_and_trees_pass_through() -> None:
    tree = Comparison("a", "$eq", 1)
    assert parse_filter(None) is None
    assert parse_filter(tree) is tree


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ({"a": {"$regex": "x"}}, "$regex"),
        ({"a": {"$in": "x"}}, "$in needs a list"),
        ({"a": {"$gt": "2020"}}, "compares numbers only"),
        ({"a": {"$exists": 1}}, "$exists needs true or false"),
        ({"$and": []}, "$and needs a non-empty list"),
        ({"$or": {"a": 1}}, "$or needs a non-empty list"),
        ({"$not": {"a": 1}}, "unknown operator '$not'"),
        ({"a": None}, "NoneType"),
        ({"a": {"b": 1}}, "unknown operator 'b'"),
        ({"a": [1, 2]}, "list"),
        ({}, "empty filter"),
        ({"a": {}}, "empty condition"),
        ([{"a": 1}], "must be an object"),
        ({"a": float("nan")}, "NaN"),
    ],
)
def test_malformed_filters_show_the_offending_part(raw: Any, shown: str) -> None:
    with pytest.raises(FilterError, match=re.escape(shown)):
        parse_filter(raw)


def test_nesting_beyond_the_limit() -> None:
    raw: dict[str, Any] = {"a": 1}
    for _ in range(12):
        raw = {"$and": [raw]}
    with pytest.raises(FilterError, match="deeper than 10"):
        parse_filter(raw)


ROW = {"lang": "en", "year": 2020, "score": 0.5, "tags": ["a", "b"], "flag": True}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"lang": "en"}, True),
        ({"lang": {"$ne": "en"}}, False),
        ({"missing": {"$ne": "x"}}, True),
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$eq": "x"}}, False),
        ({"missing": {"$gt": 1}}, False),
        ({"lang": {"$gt": 1}}, False),
        ({"year": 2020.0}, True),
        ({"flag": 1}, False),
        ({"year": True}, False),
        ({"tags": "a"}, True),
        ({"tags": {"$in": ["z", "b"]}}, True),
        ({"tags": {"$nin": ["b"]}}, False),
        ({"tags": {"$ne": "c"}}, True),
        ({"score": {"$gte": 0.5, "$lt": 1}}, True),
        ({"$or": [{"lang": "de"}, {"year": {"$lte": 2019}}]}, False),
        ({"lang": {"$exists": True}, "missing": {"$exists": False}}, True),
    ],
)
def test_reference_semantics(raw: dict[str, Any], expected: bool) -> None:
    assert matches(parse_filter(raw), ROW) is expected


scalars = st.one_of(st.text(max_size=3), st.integers(-5, 5), st.booleans(), st.floats(-5, 5, allow_nan=False))


@given(
    st.recursive(
        st.dictionaries(
            st.sampled_from(["a", "b"]),
            st.one_of(
                scalars,
                st.fixed_dictionaries(
                    {}, optional={"$in": st.lists(scalars, min_size=1, max_size=3), "$gt": st.integers(-5, 5)}
                ).filter(bool),
            ),
            min_size=1,
        ),
        lambda inner: st.fixed_dictionaries({"$or": st.lists(inner, min_size=1, max_size=3)}),
        max_leaves=6,
    )
)
def test_to_mongo_round_trips(raw: dict[str, Any]) -> None:
    tree = parse_filter(raw)
    assert tree is not None
    assert parse_filter(to_mongo(tree)) == tree


def test_validate_metadata() -> None:
    assert validate_metadata({"a": 1, "b": ("x", "y")}) == {"a": 1, "b": ["x", "y"]}
    for bad, msg in [
        ({"a": None}, "null"),
        ({"a": {"n": 1}}, "dict"),
        ({"a": [1]}, "strings only"),
        ({"": 1}, "non-empty"),
        ({"a": float("inf")}, "inf"),
        ({"$and": "v"}, "starts with '\\$'"),
        ({"__gv_content_hash": "v"}, "reserved"),
        ({"a": 2**80}, "64-bit"),
        ({"a": np.float64("nan")}, "nan"),
        ({"a": "x\x00y"}, "NUL"),
        ({"a": ["ok", "x\x00y"]}, "NUL"),
    ]:
        with pytest.raises(MetadataError, match=msg):
            validate_metadata(bad)


def test_numpy_scalars_are_their_python_values() -> None:
    out = validate_metadata({"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "s": np.str_("x")})
    assert out == {"i": 3, "f": 0.5, "b": True, "s": "x"}
    assert [type(v) for v in out.values()] == [int, float, bool, str]


def test_metadata_equal_tells_bool_int_and_float_apart() -> None:
    assert metadata_equal({"k": 1, "t": ["a", "b"]}, {"k": 1, "t": ["a", "b"]})
    assert metadata_equal({}, {})
    for a, b in [(True, 1), (1, 1.0), (True, 1.0), (0, False), ("1", 1)]:
        assert not metadata_equal({"k": a}, {"k": b}), (a, b)
        assert not metadata_equal({"k": b}, {"k": a}), (b, a)
    assert not metadata_equal({"t": ["a", "b"]}, {"t": ["b", "a"]})
    assert not metadata_equal({"t": ["a"]}, {"t": "a"})
    assert not metadata_equal({"k": 1}, {"k": 1, "j": 1})
