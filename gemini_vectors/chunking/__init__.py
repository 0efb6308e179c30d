"""Chunkers: cut a file into pieces that each fit the model's per-request limits, so nothing is truncated.

:func:`chunk_file` picks the chunker by the file's kind (:func:`classify`) and returns a list of
:class:`Chunk`, each one content part with its :class:`Position` in the file:

============  =====================================================================  ===================
kind          how it is cut                                                          position
============  =====================================================================  ===================
text, html    over the token budget: on paragraph, then sentence boundaries, with    ``chars`` offsets
              overlap (:mod:`.text`); HTML is first reduced to its readable text
pdf           over the page limit (6): consecutive page ranges with pypdf (:mod:`.pdf`)  ``pages`` range
audio         over the limit (180 s on gemini-embedding-2) or ``segment_seconds``:     ``seconds`` span
              overlapping segments; WAV exactly with :mod:`wave`, MP3 by stream
              copy (:mod:`.media`)
video         over the limit (120 s on gemini-embedding-2; on Vertex AI 80 s with an    ``seconds`` span
              audio track) or ``segment_seconds``: overlapping stream-copied segments
              cut on keyframes (:mod:`.media`)
image         never cut; GIF, WebP, BMP, TIFF converted to PNG with Pillow              ``whole``
============  =====================================================================  ===================

The limits are those of the model on the API surface in use (:class:`~gemini_vectors.spec.ModelInfo`,
``embedder.model_info``), not fixed here. The model samples at most 32 frames of each video segment, so
``segment_seconds`` (e.g. 30) buys finer time resolution at the cost of more requests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from gemini_vectors.chunking.chunk import Chunk, Position, Unit, numbered
from gemini_vectors.chunking.media import (
    DEFAULT_MARGIN_SECONDS,
    DEFAULT_OVERLAP_SECONDS,
    MediaInfo,
    chunk_audio,
    chunk_video,
    convert_image,
    probe_media,
    segment_plan,
)
from gemini_vectors.chunking.pdf import chunk_pdf, page_ranges
from gemini_vectors.chunking.text import HtmlText, TextSpan, html_to_text, split_text
from gemini_vectors.content import (
    LIMIT_MIME_TYPE,
    LIMIT_NON_EMPTY,
    LIMIT_READABLE,
    SNIFF_BYTES,
    Part,
    Text,
    estimate_tokens,
    sniff_mime_type,
)
from gemini_vectors.errors import ContentError, UnsupportedMediaError
from gemini_vectors.spec import ModelInfo, TaskType, apply_task_prefix

__all__ = [
    "CHUNKER_VERSION",
    "DEFAULT_MARGIN_SECONDS",
    "DEFAULT_OVERLAP_SECONDS",
    "SUFFIXES",
    "Chunk",
    "FileKind",
    "HtmlText",
    "MediaInfo",
    "Position",
    "TextSpan",
    "Unit",
    "UnsupportedFileError",
    "chunk_audio",
    "chunk_file",
    "chunk_pdf",
    "chunk_text",
    "chunk_video",
    "classify",
    "convert_image",
    "html_to_text",
    "page_ranges",
    "probe_media",
    "segment_plan",
    "split_text",
    "text_budget",
]

CHUNKER_VERSION = "1"
"""The chunkers' code version; bump it when the code cuts the same file with the same options
differently. It begins the ``chunker`` value stored with every chunk, which also names the options and
model limits that shaped the file's chunks (:func:`gemini_vectors.ingest.chunker_version`), so a changed
option or limit re-cuts the files it affects as surely as a bump re-cuts them all."""

FileKind = Literal["text", "html", "pdf", "image", "audio", "video"]

#: File name suffixes indexed, by kind. The content decides the media type; the suffix selects files
#: and tells HTML from plain text.
SUFFIXES: dict[FileKind, frozenset[str]] = {
    "text": frozenset({".txt", ".text", ".md", ".markdown", ".rst"}),
    "html": frozenset({".html", ".htm", ".xhtml"}),
    "pdf": frozenset({".pdf"}),
    "image": frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}),
    "audio": frozenset({".mp3", ".wav"}),
    "video": frozenset({".mp4", ".mov", ".m4v"}),
}


class UnsupportedFileError(UnsupportedMediaError):
    """A file whose type is not indexed at all (its suffix is none of :data:`SUFFIXES`)."""


_KIND_OF_SUFFIX = {suffix: kind for kind, suffixes in SUFFIXES.items() for suffix in suffixes}

#: Room left under the token limit beside the task prefix, for the difference between our estimate and
#: the real tokenizer on odd text.
SAFETY_TOKENS = 8


def classify(path: str | os.PathLike[str]) -> tuple[FileKind, str]:
    """The kind of a file and its MIME type, from its suffix and its first bytes.

    Raises:
        UnsupportedFileError: the suffix is not one of :data:`SUFFIXES` (``limit="mime_type"``).
        UnsupportedMediaError: the content is not what the suffix says (``limit="mime_type"``).
        ContentError: the file is empty (``limit="non_empty"``) or cannot be read.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise ContentError(
            f"cannot read {str(path)!r}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
        ) from exc
    if not head:
        raise ContentError(
            f"{str(path)!r} is empty (0 bytes) (limit {LIMIT_NON_EMPTY})", limit=LIMIT_NON_EMPTY
        )
    sniffed = sniff_mime_type(head)
    kind = _KIND_OF_SUFFIX.get(path.suffix.lower())
    if kind is None:
        suffix = path.suffix or "no suffix"
        raise UnsupportedFileError(
            f"{str(path)!r} has a file type that is not indexed ({suffix}, {sniffed})", limit=LIMIT_MIME_TYPE
        )
    if kind in ("text", "html"):
        if sniffed != "text/plain":
            what = "not UTF-8 text" if sniffed == "application/octet-stream" else sniffed
            raise UnsupportedMediaError(
                f"{str(path)!r} is named like {kind} but is {what} (limit {LIMIT_MIME_TYPE})",
                limit=LIMIT_MIME_TYPE,
            )
        return kind, "text/html" if kind == "html" else "text/plain"
    actual: FileKind | None = "pdf" if sniffed == "application/pdf" else None
    major = sniffed.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        actual = major  # type: ignore[assignment]
    if actual is None:
        what = "an unrecognized format" if sniffed == "application/octet-stream" else sniffed
        raise UnsupportedMediaError(
            f"{str(path)!r} is named like {kind} but is {what} (limit {LIMIT_MIME_TYPE})",
            limit=LIMIT_MIME_TYPE,
        )
    return actual, sniffed


def text_budget(model: ModelInfo, title: str | None = None, max_tokens: int | None = None) -> int:
    """Tokens a text chunk may have: the model's limit (or ``max_tokens``, if smaller) minus the room the
    document task prefix (``title: ... | text: ``) takes."""
    room = 0
    if model.task_mechanism == "prefix":
        room = estimate_tokens(apply_task_prefix(TaskType.RETRIEVAL_DOCUMENT, "", title))
    budget = model.max_input_tokens - room - SAFETY_TOKENS
    if max_tokens is not None:
        budget = min(budget, max_tokens)
    if budget < 1:
        raise ValueError(f"no room for text under {model.name}'s limit of {model.max_input_tokens} tokens")
    return budget


def chunk_text(
    text: str, max_tokens: int, overlap_tokens: int | None = None, title: str | None = None
) -> list[Chunk]:
    """Chunks of ``text`` of at most ``max_tokens`` estimated tokens (see :func:`.text.split_text`).

    Args:
        text: The text.
        max_tokens: Budget per chunk.
        overlap_tokens: Tokens repeated between chunks; default a tenth of the budget, at most 200.
        title: Title given to every chunk.
    """
    overlap = min(200, max_tokens // 10) if overlap_tokens is None else overlap_tokens
    spans = split_text(text, max_tokens, overlap)
    parts: list[tuple[Part, Position]] = [(Text(s.text), Position("chars", s.start, s.end)) for s in spans]
    return numbered(parts, title)


def chunk_file(
    path: str | os.PathLike[str],
    model: ModelInfo,
    *,
    kind: FileKind | None = None,
    mime_type: str | None = None,
    max_text_tokens: int | None = None,
    text_overlap_tokens: int | None = None,
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
    segment_seconds: float | None = None,
    scratch: Path | None = None,
) -> list[Chunk]:
    """Cut one file into chunks that each fit ``model``'s per-request limits.

    Args:
        path: The file.
        model: The model the chunks are for (``embedder.model_info``).
        kind: The file's kind and ``mime_type`` as :func:`classify` returns them (found when None).
        mime_type: See ``kind``.
        max_text_tokens: A smaller token budget for text chunks than the model's limit.
        text_overlap_tokens: Tokens shared by consecutive text chunks (default: see :func:`chunk_text`).
        overlap_seconds: Seconds shared by consecutive audio and video segments.
        margin_seconds: Seconds kept under the audio and video limits.
        segment_seconds: Cut audio and video into segments of at most this many seconds even when the
            file is within the model's limit (None: segments as long as the limit allows). A video
            segment is sampled to at most 32 frames, so shorter segments see it more finely.
        scratch: Directory for the pieces cut from media and PDFs (held in memory when None); it must
            outlive the chunks.

    Raises:
        UnsupportedMediaError: the file's type is not indexed.
        ContentError: the file is empty or cannot be read.
    """
    path = Path(path)
    if kind is None or mime_type is None:
        kind, mime_type = classify(path)
    if kind in ("text", "html"):
        try:
            raw = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContentError(
                f"cannot read text file {str(path)!r}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
            ) from exc
        title = None
        if kind == "html":
            extracted = html_to_text(raw)
            raw, title = extracted.text, extracted.title
        chunks = chunk_text(raw, text_budget(model, title, max_text_tokens), text_overlap_tokens, title)
        if not chunks:
            raise ContentError(
                f"{str(path)!r} holds no text (limit {LIMIT_NON_EMPTY})", limit=LIMIT_NON_EMPTY
            )
        return chunks
    if kind == "pdf":
        return chunk_pdf(path, model.max_pdf_pages, scratch=scratch)
    if kind == "image":
        return numbered([(convert_image(path, mime_type, scratch=scratch), Position.whole())])
    if kind == "audio":
        return chunk_audio(
            path,
            mime_type,
            model,
            overlap=overlap_seconds,
            margin=margin_seconds,
            scratch=scratch,
            segment_seconds=segment_seconds,
        )
    return chunk_video(
        path,
        mime_type,
        model,
        overlap=overlap_seconds,
        margin=margin_seconds,
        scratch=scratch,
        segment_seconds=segment_seconds,
    )
