"""Storage planning and table naming (no database needed)."""

from __future__ import annotations

import re

import pytest

from gemini_vectors.errors import ConfigurationError
from gemini_vectors_pgvector import StoragePlan, plan_storage, table_name_for


@pytest.mark.parametrize(
    ("dims", "index", "column", "opclass"),
    [
        (128, "hnsw", "vector", "vector_cosine_ops"),
        (768, "hnsw", "vector", "vector_cosine_ops"),
        (2000, "hnsw", "vector", "vector_cosine_ops"),
        (2001, "hnsw", "halfvec", "halfvec_cosine_ops"),
        (3072, "hnsw", "halfvec", "halfvec_cosine_ops"),
        (4000, "hnsw", "halfvec", "halfvec_cosine_ops"),
        (768, "binary", "vector", "bit_hamming_ops"),
        (3072, "binary", "vector", "bit_hamming_ops"),
        (16000, "binary", "vector", "bit_hamming_ops"),
        (3072, "none", "vector", None),
    ],
)
def test_plan(dims: int, index: str, column: str, opclass: str | None) -> None:
    plan = plan_storage(dims, index)  # type: ignore[arg-type]
    assert (plan.column_type, plan.dimensions, plan.index, plan.opclass) == (column, dims, index, opclass)
    assert StoragePlan.from_dict(plan.to_dict()) == plan


def test_plan_refuses_what_pgvector_cannot_index() -> None:
    with pytest.raises(ConfigurationError, match="index='binary'"):
        plan_storage(4001)
    with pytest.raises(ConfigurationError, match=r"1\.\.16000"):
        plan_storage(16001, "binary")
    with pytest.raises(ConfigurationError, match="unknown index kind"):
        plan_storage(768, "ivfflat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "docs",
        "a b",
        "a-b",
        "A B",
        'Robert\'); DROP TABLE t; -- "x"',
        "日本語のコレクション",
        "x" * 500,
        "_",
        "e\u0301",
    ],
)
@pytest.mark.parametrize("incarnation", [None, "0", "a3f09c", "fffffff0"])
def test_table_names_are_safe_and_short(name: str, incarnation: str | None) -> None:
    table = table_name_for(name, incarnation)
    assert re.fullmatch(r"gv_[a-z0-9_]+", table)
    assert len(table.encode()) <= 63 - len("_hnsw")  # index names add a suffix
    assert table_name_for(name, incarnation) == table
    if incarnation is not None:
        assert table.endswith("_" + incarnation) and table != table_name_for(name, incarnation[:-1] + "1")


@pytest.mark.parametrize("bad", ["", "A3", "g", "123456789", "1; DROP TABLE x"])
def test_an_incarnation_is_a_few_hex_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="hex digits"):
        table_name_for("docs", bad)


def test_table_names_keep_similar_names_apart() -> None:
    names = ["a b", "a-b", "A B", "a_b", "a  b", "日本", "中国", "", "x" * 100 + "1", "x" * 100 + "2"]
    tables = [table_name_for(n) for n in names]
    assert len(set(tables)) == len(names)
