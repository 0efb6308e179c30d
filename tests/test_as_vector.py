"""``as_vector``: the one conversion and check every vector crossing the store boundary goes through."""

from __future__ import annotations

import numpy as np
import pytest

from gemini_vectors.errors import ArgumentError
from gemini_vectors.store import as_vector


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("at", [0, 383, 767])
def test_a_nan_or_infinite_element_is_refused_wherever_it_is(bad: float, at: int) -> None:
    values = np.full(768, 0.01, dtype=np.float32)
    values[at] = bad
    with pytest.raises(ArgumentError, match="query vector contains NaN or infinite values"):
        as_vector(values, 768, what="query vector")


@pytest.mark.filterwarnings("error")
def test_finite_elements_too_large_to_square_are_accepted_without_a_warning() -> None:
    # x.x overflows float32 here; the fast check must not take that for an infinite element.
    values = np.array([3e38, -3e38, 1e20, 0.5], dtype=np.float32)  # float32 already: no cast
    out = as_vector(values, 4)
    assert out.dtype == np.float32 and np.array_equal(out, values)


def test_a_float64_list_is_converted_and_its_length_checked() -> None:
    out = as_vector([0.5, 0.25, 0.125], 3)
    assert out.dtype == np.float32 and out.tolist() == [0.5, 0.25, 0.125]
    with pytest.raises(ArgumentError, match="has 3 dimensions, the collection's spec has 4"):
        as_vector([0.5, 0.25, 0.125], 4)


@pytest.mark.filterwarnings("error")
def test_a_value_beyond_float32_is_refused_without_a_warning() -> None:
    # 1e39 is finite as a Python float and infinite once converted to float32, the type that is stored.
    with pytest.raises(ArgumentError, match="NaN or infinite"):
        as_vector([1e39, 0.0], 2)
