"""The embedding spec that identifies a vector space, and the table of models we know.

Two vectors may be compared only when they were made under the same :class:`EmbeddingSpec`: the same
model, the same number of dimensions and the same way of applying task types. Every store records the
spec beside its vectors and checks it on open, write and query.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from gemini_vectors.errors import ConfigurationError, UnknownModelError

TaskMechanism = Literal["prefix", "task_type"]
"""How a model learns the task: ``prefix`` puts it into the text, ``task_type`` sends the API field."""


def _check_mechanism(value: object, where: str) -> None:
    known = get_args(TaskMechanism)
    if value not in known:
        raise ConfigurationError(f"{where}: task_mechanism must be one of {known}, got {value!r}")


Modality = Literal["text", "image", "audio", "video", "pdf"]


class TaskType(enum.StrEnum):
    """The user-facing task names, the same for every model."""

    RETRIEVAL_QUERY = "RETRIEVAL_QUERY"
    RETRIEVAL_DOCUMENT = "RETRIEVAL_DOCUMENT"
    SEMANTIC_SIMILARITY = "SEMANTIC_SIMILARITY"
    CLASSIFICATION = "CLASSIFICATION"
    CLUSTERING = "CLUSTERING"
    QUESTION_ANSWERING = "QUESTION_ANSWERING"
    FACT_VERIFICATION = "FACT_VERIFICATION"
    CODE_RETRIEVAL_QUERY = "CODE_RETRIEVAL_QUERY"

    @classmethod
    def parse(cls, value: TaskType | str) -> TaskType:
        """Return the task for a name such as ``"retrieval_query"``; an unknown name lists the known."""
        if isinstance(value, TaskType):
            return value
        if not isinstance(value, str):
            raise ConfigurationError(f"a task type is a TaskType or its name, got {value!r}")
        try:
            return cls(value.strip().upper())
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ConfigurationError(f"unknown task type {value!r}; known task types: {known}") from None


# gemini-embedding-2 ignores the taskType field and expects the task inside the text.
_QUERY_PREFIXES: dict[TaskType, str] = {
    TaskType.RETRIEVAL_QUERY: "search result",
    TaskType.QUESTION_ANSWERING: "question answering",
    TaskType.FACT_VERIFICATION: "fact checking",
    TaskType.CODE_RETRIEVAL_QUERY: "code retrieval",
    TaskType.CLASSIFICATION: "classification",
    TaskType.CLUSTERING: "clustering",
    TaskType.SEMANTIC_SIMILARITY: "sentence similarity",
}


def apply_task_prefix(task: TaskType, text: str, title: str | None = None) -> str:
    """Format ``text`` the way gemini-embedding-2 expects for ``task``.

    Documents become ``title: {title or "none"} | text: {text}``; every other task becomes
    ``task: {name} | query: {text}``.
    """
    if task is TaskType.RETRIEVAL_DOCUMENT:
        return f"title: {title or 'none'} | text: {text}"
    return f"task: {_QUERY_PREFIXES[task]} | query: {text}"


@dataclass(frozen=True)
class ModelInfo:
    """What gemini-vectors must know about one embedding model.

    Limits are per request (one item is one request). Durations are in seconds.
    """

    name: str
    task_mechanism: TaskMechanism
    max_input_tokens: int
    modalities: frozenset[Modality]
    default_dimensions: int = 3072
    min_dimensions: int = 128
    max_dimensions: int = 3072
    normalizes_truncated: bool = False
    max_images: int = 0
    max_audio: int = 0
    max_video: int = 0
    max_pdf: int = 0
    max_pdf_pages: int = 0
    max_audio_seconds: float = 0.0
    max_video_seconds: float = 0.0
    max_video_seconds_with_audio: float = 0.0
    mime_types: Mapping[Modality, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_mechanism(self.task_mechanism, f"model {self.name!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"a model's name is a non-empty str, got {self.name!r}")
        if not 1 <= self.min_dimensions <= self.default_dimensions <= self.max_dimensions:
            raise ConfigurationError(
                f"model {self.name!r}: dimensions must satisfy 1 <= min <= default <= max, got "
                f"{self.min_dimensions} <= {self.default_dimensions} <= {self.max_dimensions}"
            )
        if self.max_input_tokens < 1:
            raise ConfigurationError(f"model {self.name!r}: max_input_tokens must be at least 1")

    def accepts(self, modality: Modality) -> bool:
        """Whether the model embeds content of this modality."""
        return modality in self.modalities


_MULTIMODAL_MIME_TYPES: Mapping[Modality, frozenset[str]] = {
    "text": frozenset({"text/plain"}),
    "image": frozenset({"image/png", "image/jpeg"}),
    "audio": frozenset({"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav"}),
    "video": frozenset({"video/mp4", "video/quicktime"}),
    "pdf": frozenset({"application/pdf"}),
}


def _gemini_embedding_2(name: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        task_mechanism="prefix",
        max_input_tokens=8192,
        modalities=frozenset({"text", "image", "audio", "video", "pdf"}),
        normalizes_truncated=True,
        max_images=6,
        max_audio=1,
        max_video=1,
        max_pdf=1,
        max_pdf_pages=6,
        max_audio_seconds=80.0,
        max_video_seconds=128.0,
        max_video_seconds_with_audio=80.0,
        mime_types=_MULTIMODAL_MIME_TYPES,
    )


_MODELS: dict[str, ModelInfo] = {
    "gemini-embedding-2": _gemini_embedding_2("gemini-embedding-2"),
    "gemini-embedding-2-preview": _gemini_embedding_2("gemini-embedding-2-preview"),
    "gemini-embedding-001": ModelInfo(
        name="gemini-embedding-001",
        task_mechanism="task_type",
        max_input_tokens=2048,
        modalities=frozenset({"text"}),
        mime_types={"text": frozenset({"text/plain"})},
    ),
}


def register_model(info: ModelInfo, *, replace: bool = False) -> None:
    """Add a model to the table, e.g. a newer preview, so that specs and embedders accept it.

    Raises:
        ConfigurationError: the name is taken and ``replace`` is false.
    """
    if not isinstance(info, ModelInfo):
        raise ConfigurationError(f"register_model() takes a ModelInfo, got {type(info).__name__}")
    if info.name in _MODELS and not replace:
        raise ConfigurationError(f"model {info.name!r} is already known; pass replace=True to redefine it")
    _MODELS[info.name] = info


def known_models() -> tuple[str, ...]:
    """The names of every model in the table."""
    return tuple(_MODELS)


def get_model(name: str) -> ModelInfo:
    """Look a model up by name (``models/`` prefix allowed).

    Raises:
        UnknownModelError: the name is unknown; the message lists the known names and how to add one.
    """
    if not isinstance(name, str):
        raise UnknownModelError(f"a model name is a str, got {name!r}; known models: {', '.join(_MODELS)}")
    key = name.removeprefix("models/")
    try:
        return _MODELS[key]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(_MODELS)}. "
            "To use another model, describe it with gemini_vectors.ModelInfo and pass it to "
            "gemini_vectors.register_model()."
        ) from None


@dataclass(frozen=True)
class EmbeddingSpec:
    """Identifies one vector space; vectors of two different specs must never meet.

    Attributes:
        model: The embedding model's name, e.g. ``"gemini-embedding-2"``.
        dimensions: Vector length (Matryoshka truncation of the model's full output).
        task_mechanism: How task types were applied (``prefix`` or ``task_type``).
        normalized: Whether vectors are L2-normalized; gemini-vectors always normalizes.
        dtype: Element type of the vectors leaving the core.
    """

    model: str
    dimensions: int
    task_mechanism: TaskMechanism
    normalized: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigurationError(f"a spec's model is a non-empty str, got {self.model!r}")
        if isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int) or self.dimensions < 1:
            raise ConfigurationError(f"a spec's dimensions are a positive integer, got {self.dimensions!r}")
        _check_mechanism(self.task_mechanism, "a spec")

    @classmethod
    def for_model(cls, model: str, dimensions: int | None = None) -> EmbeddingSpec:
        """Build the spec for ``model`` at ``dimensions`` (the model's default when None), validated.

        Raises:
            UnknownModelError: the model is not in the table.
            ConfigurationError: dimensions are outside the model's range.
        """
        info = get_model(model)
        dims = info.default_dimensions if dimensions is None else dimensions
        if isinstance(dims, bool) or not isinstance(dims, int):
            raise ConfigurationError(f"dimensions must be an integer, not {dims!r}")
        if not info.min_dimensions <= dims <= info.max_dimensions:
            raise ConfigurationError(
                f"{info.name} supports {info.min_dimensions}..{info.max_dimensions} dimensions, "
                f"not {dims} (recommended: 768, 1536 or 3072)"
            )
        return cls(model=info.name, dimensions=dims, task_mechanism=info.task_mechanism)

    def describe(self) -> str:
        """A short human-readable form, e.g. ``gemini-embedding-2/768 (task prefix, float32)``."""
        mech = "task prefix" if self.task_mechanism == "prefix" else "taskType field"
        norm = ", normalized" if self.normalized else ""
        return f"{self.model}/{self.dimensions} ({mech}, {self.dtype}{norm})"

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able values, for storing beside the vectors."""
        return asdict(self)

    def to_json(self) -> str:
        """The spec as a compact JSON string with sorted keys (stable, comparable as text)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingSpec:
        """Rebuild a spec stored with :meth:`to_dict`; unknown keys are an error."""
        try:
            return cls(
                model=str(data["model"]),
                dimensions=int(data["dimensions"]),
                task_mechanism=data["task_mechanism"],
                normalized=bool(data.get("normalized", True)),
                dtype=str(data.get("dtype", "float32")),
            )
        except KeyError as exc:
            raise ConfigurationError(f"stored embedding spec lacks {exc.args[0]!r}: {dict(data)!r}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"stored embedding spec is malformed ({exc}): {dict(data)!r}") from None

    @classmethod
    def from_json(cls, text: str) -> EmbeddingSpec:
        """Rebuild a spec stored with :meth:`to_json`."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"stored embedding spec is not JSON ({exc}): {text[:200]!r}") from None
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"stored embedding spec is not a JSON object: {text[:200]!r}")
        return cls.from_dict(data)
