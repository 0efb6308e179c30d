"""Every error the library raises can be caught from the package: ``RetiredModelError`` (raised for a
model Google shut down, such as ``gemini-embedding-2-preview``) was defined in ``spec`` only, outside the
exception tree's module and the package's exports, so ``except gv.RetiredModelError`` did not work."""

from __future__ import annotations

import inspect

import pytest

import gemini_vectors as gv
import gemini_vectors.errors
import gemini_vectors.spec
from gemini_vectors.testing import GeminiEmulator


def test_retired_model_error_is_exported_from_the_tree(gemini_emulator: GeminiEmulator) -> None:
    assert gv.RetiredModelError is gemini_vectors.errors.RetiredModelError
    assert gemini_vectors.spec.RetiredModelError is gv.RetiredModelError  # the old import path still works
    assert "RetiredModelError" in gv.__all__
    with pytest.raises(gv.RetiredModelError) as info:
        gv.Embedder("gemini-embedding-2-preview", client=gemini_emulator.client())
    assert isinstance(info.value, gv.ConfigurationError) and isinstance(info.value, gv.GeminiVectorsError)
    assert info.value.successor == "gemini-embedding-2"


def test_every_error_class_of_the_tree_is_exported() -> None:
    tree = {
        name
        for name, obj in vars(gemini_vectors.errors).items()
        if inspect.isclass(obj) and issubclass(obj, gv.GeminiVectorsError)
    }
    assert tree <= set(gv.__all__)
    assert all(getattr(gv, name) is getattr(gemini_vectors.errors, name) for name in tree)
