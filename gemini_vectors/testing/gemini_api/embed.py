"""The embedding endpoints' semantics: the model table, request validation and the vectors.

The emulator keeps its own table of Google's published limits instead of importing
``gemini_vectors.spec``: it stands in for Google, so a wrong number in the library's table must make
a test fail rather than be agreed with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gemini_vectors.testing.gemini_api import vectors
from gemini_vectors.testing.gemini_api.media import (
    MIME_KINDS,
    MediaError,
    decode_base64,
    normalize_mime,
    probe,
)
from gemini_vectors.testing.gemini_api.protocol import ApiError, Violation, get_key


@dataclass(frozen=True)
class ModelRules:
    """Google's published behaviour and per-request limits of one embedding model."""

    name: str
    multimodal: bool
    max_tokens: int
    normalizes_truncated: bool
    prompt_formats: bool
    uses_task_type: bool
    max_images: int = 6
    max_audio: int = 1
    max_video: int = 1
    max_pdf: int = 1
    max_pdf_pages: int = 6
    # gemini-embedding-2 GA: on the Gemini API a video's audio track is not processed, so it does not
    # shorten the limit; Vertex AI takes 80 s of video with an audio track.
    max_audio_seconds: float = 180.0
    max_video_seconds: float = 120.0
    max_video_seconds_with_audio: float = 120.0
    vertex_video_seconds_with_audio: float = 80.0

    @property
    def space(self) -> str:
        """The vector space this model's embeddings live in."""
        return vectors.model_space(self.name)


def _gemini_2(name: str) -> ModelRules:
    return ModelRules(
        name=name,
        multimodal=True,
        max_tokens=8192,
        normalizes_truncated=True,
        prompt_formats=True,
        uses_task_type=False,
    )


MODELS: dict[str, ModelRules] = {
    "gemini-embedding-2": _gemini_2("gemini-embedding-2"),
    # the preview's limits (it was shut down on 2026-08-10; kept for tests of the older space)
    "gemini-embedding-2-preview": replace(
        _gemini_2("gemini-embedding-2-preview"),
        max_audio_seconds=80.0,
        max_video_seconds=128.0,
        max_video_seconds_with_audio=80.0,
        vertex_video_seconds_with_audio=80.0,
    ),
    "gemini-embedding-001": ModelRules(
        name="gemini-embedding-001",
        multimodal=False,
        max_tokens=2048,
        normalizes_truncated=False,
        prompt_formats=False,
        uses_task_type=True,
    ),
}

TASK_TYPES = frozenset(
    {
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)


def model_not_found(model: str, api_version: str, method: str) -> ApiError:
    """Google's 404 NOT_FOUND for a model that does not exist (or no longer does)."""
    return ApiError(
        404,
        f"models/{model} is not found for API version {api_version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported methods.",
    )


def find_model(model: str, api_version: str, method: str, *, vertex: bool = False) -> ModelRules:
    """Look a model up by the id in the URL, with Vertex AI's limits for ``vertex``; unknown: a 404."""
    rules = MODELS.get(model)
    if rules is None:
        raise model_not_found(model, api_version, method)
    if vertex:
        return replace(rules, max_video_seconds_with_audio=rules.vertex_video_seconds_with_audio)
    return rules


@dataclass
class EmbedRequest:
    """One request (one content) in a normalized form, whatever the endpoint's body shape."""

    content: Any
    field: str
    task_type: Any = None
    title: Any = None
    dimensions: Any = None
    auto_truncate: bool = False
    model: Any = None


def request_from_body(body: Mapping[str, Any], field_name: str) -> EmbedRequest:
    """Read one request; options may be top-level (Gemini API) or in ``embedContentConfig`` (Vertex)."""
    config = get_key(body, "embed_content_config", "embedContentConfig")
    source: Mapping[str, Any] = config if isinstance(config, Mapping) else body
    return EmbedRequest(
        content=body.get("content"),
        field=field_name,
        task_type=get_key(source, "task_type", "taskType"),
        title=source.get("title"),
        dimensions=get_key(source, "output_dimensionality", "outputDimensionality"),
        auto_truncate=bool(get_key(source, "auto_truncate", "autoTruncate")),
        model=body.get("model"),
    )


FileLookup = Callable[[str], "tuple[str, bytes] | None"]
"""Maps a ``file_uri`` to ``(mime_type, bytes)`` of an uploaded, active file, or None."""


@dataclass
class EmbedResult:
    """Vectors of one call plus what the reply reports about it."""

    values: list[vectors.Vector]
    tokens: int
    truncated: list[bool] = field(default_factory=list)


@dataclass
class _Checked:
    pieces: vectors.ContentPieces
    tokens: int
    truncated: bool
    dimensions: int
    task_type: str | None


def embed_requests(
    rules: ModelRules,
    requests: Sequence[EmbedRequest],
    *,
    url_model: str,
    lookup_file: FileLookup,
    reject_marker: str | None,
) -> tuple[list[_Checked], list[Violation]]:
    """Validate every request; return the checked requests and all violations found."""
    checked: list[_Checked] = []
    violations: list[Violation] = []
    for request in requests:
        result = _check_request(rules, request, url_model, lookup_file, reject_marker, violations)
        if result is not None:
            checked.append(result)
    return checked, violations


def vectors_for(rules: ModelRules, checked: Sequence[_Checked]) -> EmbedResult:
    """Compute the output vector of every checked request."""
    out: list[vectors.Vector] = []
    for item in checked:
        extra = f"taskType:{item.task_type}" if rules.uses_task_type and item.task_type else None
        full = vectors.content_vector(rules.space, item.pieces, extra_task=extra)
        out.append(vectors.truncate(full, item.dimensions, normalize=rules.normalizes_truncated))
    return EmbedResult(out, sum(c.tokens for c in checked), [c.truncated for c in checked])


def _check_request(
    rules: ModelRules,
    request: EmbedRequest,
    url_model: str,
    lookup_file: FileLookup,
    reject_marker: str | None,
    violations: list[Violation],
) -> _Checked | None:
    where = request.field
    before = len(violations)

    def bad(sub: str, description: str) -> None:
        violations.append(Violation(f"{where}{sub}".lstrip("."), description))

    if request.model is not None and str(request.model).removeprefix("models/") != url_model:
        bad(".model", f"Model {request.model!r} does not match the model of the call (models/{url_model}).")

    dimensions = vectors.FULL_DIMENSIONS
    if request.dimensions is not None:
        if isinstance(request.dimensions, bool) or not isinstance(request.dimensions, int):
            bad(".output_dimensionality", f"Invalid value {request.dimensions!r}; expected an integer.")
        elif not 1 <= request.dimensions <= vectors.FULL_DIMENSIONS:
            bad(
                ".output_dimensionality",
                f"Output dimensionality must be between 1 and {vectors.FULL_DIMENSIONS}, "
                f"got {request.dimensions}.",
            )
        else:
            dimensions = request.dimensions

    task_type = request.task_type
    if task_type is not None and task_type not in TASK_TYPES:
        bad(".task_type", f"Invalid value (TaskType), {task_type!r}")
        task_type = None

    content = request.content
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list) or not parts:
        bad(".content.parts", "contents.parts must not be empty.")
        return None

    pieces = vectors.ContentPieces(words=[], media=[], raw_texts=[])
    assert pieces.raw_texts is not None
    tokens = 0
    counts = {"image": 0, "audio": 0, "video": 0, "pdf": 0}
    text_seen = False
    truncated = False
    for j, part in enumerate(parts):
        pwhere = f".content.parts[{j}]"
        if not isinstance(part, Mapping):
            bad(pwhere, "A part must be an object.")
            continue
        if "text" in part:
            text = part["text"]
            if not isinstance(text, str):
                bad(f"{pwhere}.text", "Text must be a string.")
                continue
            if reject_marker and reject_marker in text:
                bad(f"{pwhere}.text", "The content was rejected (it contains the emulator's reject marker).")
            if not text.strip():
                continue
            text_seen = True
            n = vectors.count_tokens(text)
            meaning = vectors.parse_prompt(text, prompt_formats=rules.prompt_formats)
            if tokens + n > rules.max_tokens and request.auto_truncate:
                # Vertex AI's autoTruncate keeps the first max_tokens tokens instead of failing.
                keep = rules.max_tokens - tokens
                meaning.words = meaning.words[: max(0, keep)]
                n = max(0, keep)
                truncated = True
            tokens += n
            pieces.words.extend(meaning.words)
            pieces.raw_texts.append(text)
            pieces.task = pieces.task or meaning.task
            continue
        inline = get_key(part, "inline_data", "inlineData")
        file_data = get_key(part, "file_data", "fileData")
        if isinstance(inline, Mapping):
            mime = normalize_mime(str(get_key(inline, "mime_type", "mimeType") or ""))
            sub = f"{pwhere}.inline_data"
            raw = inline.get("data")
            if not isinstance(raw, str):
                bad(f"{sub}.data", "inline_data.data is required.")
                continue
            try:
                data = decode_base64(raw)
            except MediaError as exc:
                bad(f"{sub}.data", f"Invalid value (TYPE_BYTES), {exc}")
                continue
        elif isinstance(file_data, Mapping):
            sub = f"{pwhere}.file_data"
            uri = str(get_key(file_data, "file_uri", "fileUri") or "")
            found = lookup_file(uri)
            if found is None:
                name = uri.rsplit("/", 2)[-1] if uri else "(no file_uri)"
                raise ApiError(
                    403, f"You do not have permission to access the File {name} or it may not exist."
                )
            stored_mime, data = found
            mime = normalize_mime(str(get_key(file_data, "mime_type", "mimeType") or stored_mime))
        else:
            bad(pwhere, "Only text, inline_data and file_data parts can be embedded.")
            continue
        if not mime:
            bad(f"{sub}.mime_type", "mime_type is required.")
            continue
        kind = MIME_KINDS.get(mime)
        if kind is None:
            bad(f"{sub}.mime_type", f"Unsupported MIME type: {mime}")
            continue
        if not rules.multimodal and kind != "text":
            bad(sub, f"Only text is supported by models/{rules.name}; got {mime}.")
            continue
        if not data:
            bad(sub, "The data is empty.")
            continue
        try:
            info = probe(kind, mime, data)
        except MediaError as exc:
            bad(sub, str(exc))
            continue
        if kind == "text":
            if reject_marker and reject_marker in info.text:
                bad(sub, "The content was rejected (it contains the emulator's reject marker).")
            text_seen = True
            tokens += vectors.count_tokens(info.text)
            pieces.words.extend(vectors.parse_prompt(info.text, prompt_formats=rules.prompt_formats).words)
            pieces.raw_texts.append(info.text)
            continue
        counts[kind] += 1
        if kind == "audio" and info.seconds > rules.max_audio_seconds:
            bad(sub, f"Audio is {info.seconds:.1f} s long; at most {rules.max_audio_seconds:g} s is allowed.")
        if kind == "video":
            limit = rules.max_video_seconds_with_audio if info.has_audio else rules.max_video_seconds
            if info.seconds > limit:
                track = "with an audio track " if info.has_audio else ""
                bad(sub, f"Video {track}is {info.seconds:.1f} s long; at most {limit:g} s is allowed.")
        if kind == "pdf":
            if info.pages > rules.max_pdf_pages:
                bad(sub, f"The PDF has {info.pages} pages; at most {rules.max_pdf_pages} pages are allowed.")
            pieces.media.append(vectors.pdf_vector(rules.space, data, info.text))
        else:
            pieces.media.append(vectors.bytes_vector(rules.space, data))

    for noun, limit in (
        ("image", rules.max_images),
        ("audio", rules.max_audio),
        ("video", rules.max_video),
        ("pdf", rules.max_pdf),
    ):
        if counts[noun] > limit:
            shown = "PDF" if noun == "pdf" else noun
            bad(".content", f"At most {limit} {shown} part(s) are allowed per request; got {counts[noun]}.")
    if tokens > rules.max_tokens:
        bad(
            ".content",
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({rules.max_tokens}).",
        )
    if not text_seen and not pieces.media and len(violations) == before:
        bad(".content", "The content is empty.")
    if len(violations) > before:
        return None
    if rules.uses_task_type and isinstance(request.title, str):
        # gemini-embedding-001 reads a document's title as part of its text.
        pieces.words[:0] = vectors.parse_prompt(request.title, prompt_formats=False).words
    return _Checked(pieces, tokens, truncated, dimensions, task_type)
