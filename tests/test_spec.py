"""The embedding spec and the model table."""

from __future__ import annotations

import dataclasses

import pytest

import gemini_vectors as gv
from gemini_vectors.errors import ConfigurationError, UnknownModelError
from gemini_vectors.spec import TaskType, apply_task_prefix


def test_defaults_and_validation() -> None:
    spec = gv.EmbeddingSpec.for_model("gemini-embedding-2")
    assert (spec.dimensions, spec.task_mechanism, spec.normalized, spec.dtype) == (
        3072,
        "prefix",
        True,
        "float32",
    )
    assert gv.EmbeddingSpec.for_model("models/gemini-embedding-001", 768).task_mechanism == "task_type"
    for bad in (127, 3073, 0):
        with pytest.raises(ConfigurationError, match=r"128\.\.3072"):
            gv.EmbeddingSpec.for_model("gemini-embedding-2", bad)
    with pytest.raises(ConfigurationError, match="integer"):
        gv.EmbeddingSpec.for_model("gemini-embedding-2", 768.0)  # type: ignore[arg-type]


def test_unknown_model_lists_known_and_how_to_add() -> None:
    with pytest.raises(UnknownModelError) as info:
        gv.EmbeddingSpec.for_model("text-embedding-004")
    message = str(info.value)
    assert all(name in message for name in gv.known_models())
    assert "register_model" in message


def test_register_model() -> None:
    info = dataclasses.replace(gv.get_model("gemini-embedding-2"), name="gemini-embedding-2-test-only")
    gv.register_model(info)
    try:
        assert gv.EmbeddingSpec.for_model("gemini-embedding-2-test-only", 256).model == info.name
        with pytest.raises(ConfigurationError, match="already known"):
            gv.register_model(info)
    finally:
        from gemini_vectors import spec as spec_module

        spec_module._MODELS.pop(info.name)


def test_json_round_trip_and_equality() -> None:
    spec = gv.EmbeddingSpec.for_model("gemini-embedding-2", 768)
    assert gv.EmbeddingSpec.from_json(spec.to_json()) == spec
    assert spec != gv.EmbeddingSpec.for_model("gemini-embedding-2", 1536)
    assert spec != gv.EmbeddingSpec.for_model("gemini-embedding-2-preview", 768)
    with pytest.raises(ConfigurationError, match="lacks 'model'"):
        gv.EmbeddingSpec.from_dict({"dimensions": 3})


def test_model_limits() -> None:
    m = gv.get_model("gemini-embedding-2")
    assert (m.max_images, m.max_audio, m.max_video, m.max_pdf, m.max_pdf_pages, m.max_input_tokens) == (
        6,
        1,
        1,
        1,
        6,
        8192,
    )
    old = gv.get_model("gemini-embedding-001")
    assert old.modalities == frozenset({"text"}) and old.max_input_tokens == 2048


@pytest.mark.parametrize(
    ("task", "title", "expected"),
    [
        ("RETRIEVAL_QUERY", None, "task: search result | query: hi"),
        ("question_answering", None, "task: question answering | query: hi"),
        ("FACT_VERIFICATION", None, "task: fact checking | query: hi"),
        ("CODE_RETRIEVAL_QUERY", None, "task: code retrieval | query: hi"),
        ("CLASSIFICATION", None, "task: classification | query: hi"),
        ("CLUSTERING", None, "task: clustering | query: hi"),
        ("SEMANTIC_SIMILARITY", None, "task: sentence similarity | query: hi"),
        ("RETRIEVAL_DOCUMENT", None, "title: none | text: hi"),
        ("RETRIEVAL_DOCUMENT", "Doc", "title: Doc | text: hi"),
    ],
)
def test_task_prefixes(task: str, title: str | None, expected: str) -> None:
    assert apply_task_prefix(TaskType.parse(task), "hi", title) == expected


def test_unknown_task() -> None:
    with pytest.raises(ConfigurationError, match="RETRIEVAL_QUERY"):
        TaskType.parse("SEARCH")
