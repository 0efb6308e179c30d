"""Foreign specs (vectors made outside gemini-vectors) and the one writable reserved metadata key."""

from __future__ import annotations

import pytest

import gemini_vectors as gv
from gemini_vectors.filters import TEXT_KEY, validate_metadata


def test_a_foreign_spec_is_its_own_space_and_round_trips() -> None:
    spec = gv.EmbeddingSpec.foreign("langchain:pkg.mod.Class:model-x", 6)
    assert spec.is_foreign and spec.task_mechanism == "external" and spec.dimensions == 6
    assert gv.EmbeddingSpec.from_json(spec.to_json()) == spec
    assert spec != gv.EmbeddingSpec.foreign("langchain:pkg.mod.Other:model-x", 6)
    assert spec != gv.EmbeddingSpec.foreign("langchain:pkg.mod.Class:model-x", 7)
    assert "external embedding" in spec.describe()
    assert not gv.EmbeddingSpec.for_model("gemini-embedding-2", 768).is_foreign


def test_an_identity_no_backend_can_record_is_shortened_deterministically() -> None:
    long = "langchain:" + "x" * 300
    spec = gv.EmbeddingSpec.foreign(long, 8)
    assert len(spec.model) <= 120 and spec.model.isascii() and spec.model.isprintable()
    assert spec == gv.EmbeddingSpec.foreign(long, 8)
    assert spec != gv.EmbeddingSpec.foreign(long + "y", 8)
    accented = gv.EmbeddingSpec.foreign("langchain:modèle", 8)
    assert accented.model.isascii() and accented != gv.EmbeddingSpec.foreign("langchain:modele", 8)


def test_a_foreign_spec_cannot_pose_as_a_gemini_model() -> None:
    with pytest.raises(gv.ConfigurationError, match="cannot take the name"):
        gv.EmbeddingSpec.foreign("gemini-embedding-2", 768)
    with pytest.raises(gv.ConfigurationError, match="non-empty"):
        gv.EmbeddingSpec.foreign(" ", 768)
    with pytest.raises(gv.ConfigurationError, match="task_mechanism"):
        gv.ModelInfo(name="m", task_mechanism="external", max_input_tokens=10, modalities=frozenset({"text"}))  # type: ignore[arg-type]
    with pytest.raises(gv.UnknownModelError):  # no Embedder can be built for a foreign spec's name
        gv.EmbeddingSpec.for_model("langchain:pkg.mod.Class")


def test_the_text_key_is_the_one_reserved_key_a_caller_may_write() -> None:
    assert validate_metadata({TEXT_KEY: "page", "k": 1}) == {TEXT_KEY: "page", "k": 1}
    with pytest.raises(gv.MetadataError, match="str"):
        validate_metadata({TEXT_KEY: 3})
    with pytest.raises(gv.MetadataError, match="reserved"):
        validate_metadata({"__gv_content_hash": "h"})
