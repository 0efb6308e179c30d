"""The embedding spec that identifies a vector space, and the table of models we know.

Two vectors may be compared only when they were made under the same :class:`EmbeddingSpec`: the same
model, the same number of dimensions and the same way of applying task types. Every store records the
spec beside its vectors and checks it on open, write and query.

The model table holds each model's per-request limits on the Gemini API, and the limits that differ on
Vertex AI (:data:`Surface`); :func:`get_model` returns the entry for the surface asked for, so that the
Embedder and the chunkers check and cut to the limits of the API they talk to. A model that Google shut
down stays in the table, so that collections embedded with it can still be opened and re-embedded, but an
Embedder for it is refused (:meth:`ModelInfo.available`).

Sources of the figures, checked 2026-05-20 against the stored copies of Google's pages (the search
corpus of this project; no live page was fetched):

- Vertex AI model page, https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/embedding-2
  (Google): 8,192 input tokens; at most 6 images (PNG, JPEG); 1 PDF of at most 6 pages; 1 video of at
  most 80 s with audio and 120 s without. The audio figure (180 s) was cut off in the stored copy.
- Gemini API: GA on 2026-04-22 as ``gemini-embedding-2``; 8,192 tokens, 6 images (PNG, JPEG), video up
  to 120 s (MP4, MOV), PDFs up to 6 pages, as Google's embeddings page is quoted by third parties
  (vercel.com AI Gateway FAQ, thedailyscout.com, devengoratela.com). The Gemini API embeddings page
  itself (https://ai.google.dev/gemini-api/docs/embeddings) is not in the stored copies: audio up to
  180 s (MP3, WAV), at most 32 frames used per video and the video's audio track not processed, and the
  preview's shutdown on 2026-08-10, are second-hand (issue 13 and REFERENCE.md), not verified here.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from gemini_vectors.errors import ConfigurationError, UnknownModelError

# RetiredModelError lives in the one exception tree; re-exported here, where it is raised, for the
# callers that imported it from this module
from gemini_vectors.errors import RetiredModelError as RetiredModelError

Surface = Literal["gemini-api", "vertex-ai"]
"""The API an Embedder talks to: the Gemini API (``genai.Client()``) or Vertex AI (``vertexai=True``)."""

SURFACES: tuple[Surface, ...] = get_args(Surface)
_SURFACE_NAMES: Mapping[Surface, str] = {"gemini-api": "the Gemini API", "vertex-ai": "Vertex AI"}

# The limits a surface may override; the other fields describe the model itself.
_SURFACE_FIELDS = frozenset(
    {
        "max_input_tokens",
        "max_images",
        "max_audio",
        "max_video",
        "max_pdf",
        "max_pdf_pages",
        "max_audio_seconds",
        "max_video_seconds",
        "max_video_seconds_with_audio",
        "max_video_frames",
    }
)


def _check_surface(value: object) -> Surface:
    for surface in SURFACES:
        if value == surface:
            return surface
    raise ConfigurationError(f"an API surface is one of {SURFACES}, got {value!r}")


TaskMechanism = Literal["prefix", "task_type"]
"""How a model learns the task: ``prefix`` puts it into the text, ``task_type`` sends the API field."""

SpecMechanism = Literal["prefix", "task_type", "external"]
"""How the vectors of a spec learned their task: a model's :data:`TaskMechanism`, or ``external`` for a
foreign spec (vectors made outside gemini-vectors, which applied tasks its own way; see
:meth:`EmbeddingSpec.foreign`)."""

#: The longest model name of a foreign spec, in printable ASCII: the tightest place a backend records a
#: spec (a Pinecone index tag holds 120 printable ASCII characters).
MAX_FOREIGN_IDENTITY = 120


def _check_mechanism(value: object, where: str, known: tuple[str, ...] = get_args(TaskMechanism)) -> None:
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
    """What gemini-vectors must know about one embedding model, on one API surface.

    Limits are per request (one item is one request). Durations are in seconds; a limit of 0 means the
    table gives none. The fields hold the limits on :attr:`surface`; ``surface_limits`` holds, for each
    other surface, the limits that differ there (``{"vertex-ai": {"max_video_seconds_with_audio": 80}}``),
    and :meth:`on` applies them.

    Attributes:
        max_video_seconds_with_audio: The limit for a video with an audio track; 0 when the track does not
            change the limit (on the Gemini API the track of a video is not processed).
        max_video_frames: How many frames of a video the model uses at most (0: not documented); a
            segment of L seconds is seen at about one frame every L / max_video_frames seconds.
        surface: The API these limits apply to.
        surface_limits: Limits that differ on the other surfaces.
        shut_down: The date (ISO 8601) Google shut the model down; None while it is served.
        successor: The model to use instead of a shut-down one.
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
    max_video_frames: int = 0
    mime_types: Mapping[Modality, frozenset[str]] = field(default_factory=dict)
    surface: Surface = "gemini-api"
    surface_limits: Mapping[Surface, Mapping[str, float]] = field(default_factory=dict)
    shut_down: str | None = None
    successor: str | None = None

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
        _check_surface(self.surface)
        for surface, limits in self.surface_limits.items():
            _check_surface(surface)
            unknown = sorted(set(limits) - _SURFACE_FIELDS)
            if unknown:
                raise ConfigurationError(
                    f"model {self.name!r}: surface_limits[{surface!r}] names {unknown}, which are not "
                    f"per-surface limits; those are {sorted(_SURFACE_FIELDS)}"
                )

    def accepts(self, modality: Modality) -> bool:
        """Whether the model embeds content of this modality."""
        return modality in self.modalities

    @property
    def label(self) -> str:
        """The model and the surface, for messages: ``gemini-embedding-2 on Vertex AI``."""
        return f"{self.name} on {_SURFACE_NAMES[self.surface]}"

    def on(self, surface: Surface) -> ModelInfo:
        """This model's entry with the limits of ``surface`` (``"gemini-api"`` or ``"vertex-ai"``).

        Raises:
            ConfigurationError: ``surface`` is not one of :data:`SURFACES`.
        """
        surface = _check_surface(surface)
        if surface == self.surface:
            return self
        # surface_limits are relative to this entry; the new entry's must be relative to it, so that
        # on() can go back and forth: every surface keeps the values of every key any surface changes.
        keys = {k for limits in self.surface_limits.values() for k in limits}
        values: dict[str, Any] = {k: getattr(self, k) for k in keys}
        values.update(self.surface_limits.get(surface, {}))
        others: dict[Surface, Mapping[str, float]] = {}
        for other in (self.surface, *self.surface_limits):
            if other == surface:
                continue
            own = self.surface_limits.get(other, {})
            differ = {k: own.get(k, getattr(self, k)) for k in keys}
            differ = {k: v for k, v in differ.items() if v != values[k]}
            if differ:
                others[other] = differ
        return dataclasses.replace(self, surface=surface, surface_limits=others, **values)

    def available(self) -> ModelInfo:
        """This entry, when the model can still be called.

        Raises:
            RetiredModelError: Google shut the model down; the message names its successor.
        """
        if self.shut_down is not None:
            raise RetiredModelError(self.name, self.successor, self.shut_down)
        return self


_MULTIMODAL_MIME_TYPES: Mapping[Modality, frozenset[str]] = {
    "text": frozenset({"text/plain"}),
    "image": frozenset({"image/png", "image/jpeg"}),
    "audio": frozenset({"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav"}),
    "video": frozenset({"video/mp4", "video/quicktime"}),
    "pdf": frozenset({"application/pdf"}),
}


# gemini-embedding-2 (GA since 2026-04-22). Sources and the date they were checked: the module docstring.
# | limit per request     | Gemini API                       | Vertex AI                  |
# |-----------------------|----------------------------------|----------------------------|
# | text tokens           | 8,192                            | 8,192                      |
# | images (PNG, JPEG)    | 6                                | 6                          |
# | audio (MP3, WAV)      | 1 of <= 180 s                    | 1 of <= 180 s              |
# | video (MP4, MOV)      | 1 of <= 120 s, at most 32 frames | 1 of <= 120 s,             |
# |                       | used; the audio track is ignored | <= 80 s with an audio track|
# | PDF                   | 1 of <= 6 pages                  | 1 of <= 6 pages            |
_GEMINI_EMBEDDING_2 = ModelInfo(
    name="gemini-embedding-2",
    task_mechanism="prefix",
    max_input_tokens=8192,
    modalities=frozenset({"text", "image", "audio", "video", "pdf"}),
    normalizes_truncated=True,
    max_images=6,
    max_audio=1,
    max_video=1,
    max_pdf=1,
    max_pdf_pages=6,
    max_audio_seconds=180.0,
    max_video_seconds=120.0,
    max_video_seconds_with_audio=0.0,  # the Gemini API does not process a video's audio track
    max_video_frames=32,
    mime_types=_MULTIMODAL_MIME_TYPES,
    surface_limits={"vertex-ai": {"max_video_seconds_with_audio": 80.0}},
)

# Shut down on 2026-08-10 (second-hand: issue 13, REFERENCE.md). Kept with the preview's limits (audio
# 80 s, video 128 s or 80 s with an audio track) so that its collections can be opened and described.
# Whether its vectors share gemini-embedding-2's space is not documented: a different spec.
_GEMINI_EMBEDDING_2_PREVIEW = dataclasses.replace(
    _GEMINI_EMBEDDING_2,
    name="gemini-embedding-2-preview",
    max_audio_seconds=80.0,
    max_video_seconds=128.0,
    max_video_seconds_with_audio=80.0,
    max_video_frames=0,
    surface_limits={},
    shut_down="2026-08-10",
    successor="gemini-embedding-2",
)

_MODELS: dict[str, ModelInfo] = {
    "gemini-embedding-2": _GEMINI_EMBEDDING_2,
    "gemini-embedding-2-preview": _GEMINI_EMBEDDING_2_PREVIEW,
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


def get_model(name: str, surface: Surface = "gemini-api") -> ModelInfo:
    """Look a model up by name (``models/`` prefix allowed), with the limits of ``surface``.

    A shut-down model is returned too (its collections can still be opened); an Embedder checks
    :meth:`ModelInfo.available`.

    Raises:
        UnknownModelError: the name is unknown; the message lists the known names and how to add one.
        ConfigurationError: ``surface`` is not one of :data:`SURFACES`.
    """
    if not isinstance(name, str):
        raise UnknownModelError(f"a model name is a str, got {name!r}; known models: {', '.join(_MODELS)}")
    key = name.removeprefix("models/")
    try:
        info = _MODELS[key]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(_MODELS)}. "
            "To use another model, describe it with gemini_vectors.ModelInfo and pass it to "
            "gemini_vectors.register_model()."
        ) from None
    return info.on(surface)


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
    task_mechanism: SpecMechanism
    normalized: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigurationError(f"a spec's model is a non-empty str, got {self.model!r}")
        if isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int) or self.dimensions < 1:
            raise ConfigurationError(f"a spec's dimensions are a positive integer, got {self.dimensions!r}")
        _check_mechanism(self.task_mechanism, "a spec", get_args(SpecMechanism))
        if self.task_mechanism == "external" and self.model.removeprefix("models/") in _MODELS:
            # a foreign spec named like a Gemini model would read as Gemini vectors in every listing
            raise ConfigurationError(
                f"a foreign (external) spec cannot take the name of the Gemini model {self.model!r}; "
                "name the embedding that made the vectors, e.g. 'langchain:module.Class:model'"
            )

    @classmethod
    def foreign(cls, identity: str, dimensions: int) -> EmbeddingSpec:
        """The spec of vectors made by an embedding outside gemini-vectors (another framework's model).

        ``identity`` names that embedding (``langchain:package.module.Class:model-name``); the spec's
        mechanism is ``external``, so it never equals the spec of a Gemini model, and two embeddings of
        different identities or dimensions never share a collection. An identity that every backend
        cannot record as it is (longer than :data:`MAX_FOREIGN_IDENTITY`, or not printable ASCII) is
        shortened to a printable head and a SHA-256 digest of the whole: the same identity always gives
        the same spec.

        Raises:
            ConfigurationError: ``identity`` is empty or ``dimensions`` is not a positive integer.
        """
        if not isinstance(identity, str) or not identity.strip():
            raise ConfigurationError(f"a foreign embedding's identity is a non-empty str, got {identity!r}")
        if len(identity) > MAX_FOREIGN_IDENTITY or not (identity.isascii() and identity.isprintable()):
            digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            head = "".join(c if c.isascii() and c.isprintable() else "_" for c in identity)
            identity = f"{head[: MAX_FOREIGN_IDENTITY - len(digest) - 1]}#{digest}"
        return cls(model=identity, dimensions=dimensions, task_mechanism="external")

    @property
    def is_foreign(self) -> bool:
        """Whether the vectors were made outside gemini-vectors (see :meth:`foreign`)."""
        return self.task_mechanism == "external"

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
        mech = {"prefix": "task prefix", "task_type": "taskType field"}.get(
            self.task_mechanism, "external embedding"
        )
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
