"""Multimodal content: the parts of an input item, and the model's limits checked before anything is sent.

An *item* is what becomes ONE vector. It holds one or more *parts*: :class:`Text`, :class:`Image`,
:class:`Audio`, :class:`Video` and :class:`PDF`. A plain ``str`` is a :class:`Text`, and
``Item(["a caption", Image("cat.png")])`` interleaves parts into one aggregated vector.

Design choices:

- **Bytes are read lazily for paths.** ``Image("cat.png")`` records the path and sniffs only the first
  8 KiB (so a missing file or an unknown type fails at once); the whole file is read when it is measured,
  hashed (streamed in 1 MiB blocks) or turned into a request. A collection of 100 two-minute videos
  thus costs 100 paths in memory, not gigabytes; the Embedder holds the bytes of one call at a time. The
  price is that a file changed on disk between hashing and sending is sent as it is then. ``data=`` parts
  hold their bytes, as given.
- **MIME types are sniffed from magic numbers with the standard library** (:func:`sniff_mime_type`). The
  model accepts seven formats (PNG, JPEG, WAV, MP3, MP4, MOV, PDF) whose signatures are fixed and short,
  and the useful rejections (GIF, WebP, BMP, TIFF, HEIC, FLAC, Ogg, WebM, AVI, .docx/.xlsx/.pptx, zip)
  are a dozen more; a table of signatures is shorter than the glue for a dependency and behaves the same
  everywhere (libmagic needs a system library; ``filetype`` is not a declared dependency and cannot tell
  a .docx from a zip). ``mime_type=`` overrides the sniffed type.
- **Measurements use well-kept parsers:** pypdf for page counts (pure Python, already a dependency, reads
  encrypted and damaged files); the stdlib :mod:`wave` for WAV durations (with mutagen's WAVE reader as
  the fallback for float and extensible WAVs that :mod:`wave` rejects on Python 3.11); mutagen for MP3
  (it handles ID3 tags and VBR headers). For MP4/MOV we read the ``moov/mvhd`` duration and the track
  handler types with a 60-line ISO-BMFF box reader here, because mutagen's public API reports the length of
  the *audio* track (not the movie) and cannot say whether a track is video or audio (its box walker is
  marked internal), and PyAV is only an optional extra that decodes far more than a header read needs.
  Image headers (PNG chunk CRCs, JPEG markers) are checked with the stdlib, so a corrupt image is caught
  here rather than by a 400 from the API.
- **Text tokens are over-estimated** (:func:`estimate_tokens`) as the larger of ``ceil(utf-8 bytes / 3)``
  and the count of words and punctuation marks: English runs about 4 bytes per token and CJK about 3, and
  most punctuation marks take a token each, so the estimate errs on the side of rejecting before the API
  would.
  Pass ``count_tokens=`` to :func:`check_item` for an exact count. Only text tokens are checked against
  ``max_input_tokens``: Google publishes no token accounting for media in the embedding models, and the
  generative models' rates (258 tokens per video frame) would reject legal 120-second videos. Media
  token figures in :class:`ItemStats` use the generative API's published rates and serve cost estimates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import re
import struct
import wave
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeAlias, TypeVar

from gemini_vectors.errors import ContentError, UnsupportedMediaError
from gemini_vectors.spec import Modality, ModelInfo

if TYPE_CHECKING:
    from typing import Self

    from google.genai import types

__all__ = [
    "LIMITS",
    "PDF",
    "Audio",
    "Image",
    "Item",
    "ItemStats",
    "MediaPart",
    "Part",
    "Text",
    "Video",
    "as_item",
    "check_item",
    "check_items",
    "estimate_tokens",
    "part_from_path",
    "sniff_mime_type",
    "to_genai_content",
]

# The names carried in ContentError.limit, so callers can branch on them.
LIMIT_NON_EMPTY = "non_empty"
LIMIT_READABLE = "readable"
LIMIT_MODALITY = "modality"
LIMIT_MIME_TYPE = "mime_type"
LIMIT_IMAGES = "images_per_request"
LIMIT_AUDIO = "audio_per_request"
LIMIT_VIDEO = "video_per_request"
LIMIT_PDF = "pdf_per_request"
LIMIT_PDF_PAGES = "pdf_pages"
LIMIT_AUDIO_SECONDS = "audio_seconds"
LIMIT_VIDEO_SECONDS = "video_seconds"
LIMIT_VIDEO_SECONDS_WITH_AUDIO = "video_seconds_with_audio"
LIMIT_INPUT_TOKENS = "input_tokens"
LIMITS: tuple[str, ...] = (
    LIMIT_NON_EMPTY,
    LIMIT_READABLE,
    LIMIT_MODALITY,
    LIMIT_MIME_TYPE,
    LIMIT_IMAGES,
    LIMIT_AUDIO,
    LIMIT_VIDEO,
    LIMIT_PDF,
    LIMIT_PDF_PAGES,
    LIMIT_AUDIO_SECONDS,
    LIMIT_VIDEO_SECONDS,
    LIMIT_VIDEO_SECONDS_WITH_AUDIO,
    LIMIT_INPUT_TOKENS,
)
"""Every value :attr:`ContentError.limit` takes when raised by this module."""

SNIFF_BYTES = 8192
"""How many leading bytes :func:`sniff_mime_type` looks at."""

_HASH_VERSION = b"gemini-vectors/content/1"
_BLOCK = 1 << 20

PathLike: TypeAlias = "str | os.PathLike[str]"
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------- sniffing

_OOXML = {
    b"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    b"xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    b"ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def sniff_mime_type(head: bytes) -> str:
    """Return the MIME type that the leading bytes of a file announce.

    Recognizes the formats the model accepts (PNG, JPEG, WAV, MP3, MP4, MOV, PDF) and the common ones it
    rejects, so an error can name them. Text that decodes as UTF-8 is ``text/plain``; anything else is
    ``application/octet-stream``.

    Args:
        head: The first bytes of the file; :data:`SNIFF_BYTES` are enough.
    """
    h = head[:SNIFF_BYTES]
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if h.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if h.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if h[:4] == b"RIFF" and len(h) >= 12:
        return {b"WAVE": "audio/wav", b"WEBP": "image/webp", b"AVI ": "video/x-msvideo"}.get(
            h[8:12], "application/octet-stream"
        )
    if h.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if h.startswith(b"%PDF-") or (b"%PDF-" in h[:1024] and not _is_text(h)):
        return "application/pdf"
    if h.startswith(b"PK\x03\x04"):
        for marker, mime in _OOXML.items():
            if marker in h:
                return mime
        return "application/zip"
    if h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"  # legacy .doc/.xls/.ppt
    if h.startswith(b"ID3") or _is_mpeg_audio_frame(h):
        return "audio/mpeg"
    if h.startswith(b"fLaC"):
        return "audio/flac"
    if h.startswith(b"OggS"):
        return "audio/ogg"
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in h[:64] else "video/x-matroska"
    if len(h) >= 12 and h[4:8] == b"ftyp":
        return _ftyp_mime(h)
    if len(h) >= 8 and h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video/quicktime"  # QuickTime files written before the ftyp box existed
    if h.startswith(b"BM") and len(h) >= 14:
        return "image/bmp"
    if _is_text(h):
        return "text/plain"
    return "application/octet-stream"


def _is_mpeg_audio_frame(h: bytes) -> bool:
    # 11 sync bits, then version != reserved and layer == III (the MP3 layer).
    return len(h) >= 4 and h[0] == 0xFF and (h[1] & 0xE0) == 0xE0 and (h[1] >> 1) & 0x3 == 0x1


def _ftyp_mime(h: bytes) -> str:
    size = struct.unpack(">I", h[:4])[0]
    brands = [h[8:12]] + [h[i : i + 4] for i in range(16, min(size, len(h)) - 3, 4)]
    if brands[0] == b"qt  ":
        return "video/quicktime"
    if brands[0] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "image/heic"
    if brands[0] in (b"avif", b"avis"):
        return "image/avif"
    if brands[0] in (b"M4A ", b"M4B ", b"M4P "):
        return "audio/mp4"
    if brands[0] in (b"3gp4", b"3gp5", b"3gp6", b"3g2a"):
        return "video/3gpp"
    return "video/mp4"


def _is_text(h: bytes) -> bool:
    if not h or b"\x00" in h:
        return False
    try:
        h.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a multi-byte character; only an error before the last 3 bytes counts.
        return exc.start >= len(h) - 3 and exc.reason == "unexpected end of data"
    return True


# --------------------------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Text:
    """A text part; a plain ``str`` anywhere an item is expected becomes one.

    Attributes:
        text: The text, sent as is (the Embedder may add a task prefix).
    """

    text: str
    modality: ClassVar[Modality] = "text"
    mime_type: ClassVar[str] = "text/plain"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Text needs a str, not {type(self.text).__name__}")

    @classmethod
    def from_path(cls, path: PathLike, *, encoding: str = "utf-8") -> Text:
        """Read a text file (eagerly: text is small next to media).

        Raises:
            ContentError: the file cannot be read or decoded (``limit="readable"``).
        """
        try:
            return cls(Path(path).read_text(encoding=encoding))
        except (OSError, UnicodeDecodeError) as exc:
            raise ContentError(
                f"cannot read text file {str(path)!r}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
            ) from exc

    def content_hash(self) -> str:
        """Hex sha256 of the modality, MIME type and UTF-8 text; equal texts hash equal."""
        h = hashlib.sha256(_HASH_VERSION)
        h.update(b"\0text\0text/plain\0")
        h.update(self.text.encode("utf-8"))
        return h.hexdigest()

    def describe(self) -> str:
        """A short form for messages: the first 40 characters."""
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"Text({shown!r})"

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"Text({shown!r})"


@dataclass(frozen=True, init=False, repr=False)
class MediaPart:
    """Base of the binary parts; build :class:`Image`, :class:`Audio`, :class:`Video` or :class:`PDF`.

    A part has local bytes (``path`` or ``data``), an uploaded File API ``uri``, or both: with both, the
    ``uri`` is sent and the local bytes are used for measuring limits and the content hash (see
    :meth:`with_uri`).

    Attributes:
        path: The file the bytes are read from, lazily; None for in-memory or uri-only parts.
        data: The bytes, for parts built from bytes; None otherwise.
        uri: A File API uri (``client.files.upload(...).uri``) to send instead of inline bytes.
        mime_type: Sniffed from the bytes unless given.
    """

    modality: ClassVar[Modality]
    path: Path | None
    data: bytes | None
    uri: str | None
    mime_type: str

    def __init__(
        self,
        source: PathLike | bytes | None = None,
        *,
        data: bytes | None = None,
        path: PathLike | None = None,
        uri: str | None = None,
        mime_type: str | None = None,
    ) -> None:
        """Build the part from a path or bytes (positional ``source``), ``data=``, ``path=`` or ``uri=``.

        Raises:
            TypeError: not exactly one local source, or a source of the wrong type.
            ContentError: the file cannot be opened, or a uri-only part lacks ``mime_type``.
        """
        kind = type(self).__name__
        if isinstance(source, bytes | bytearray | memoryview):
            data, source = _one(kind, "data", data, bytes(source)), None
        elif source is not None:
            if not isinstance(source, str | os.PathLike):
                raise TypeError(f"{kind} takes a path or bytes, not {type(source).__name__}")
            path, source = _one(kind, "path", path, source), None
        if data is not None and path is not None:
            raise TypeError(f"{kind} takes a path or bytes, not both")
        if data is not None and not isinstance(data, bytes):
            if not isinstance(data, bytearray | memoryview):
                raise TypeError(f"{kind}(data=) takes bytes, not {type(data).__name__}")
            data = bytes(data)
        if path is not None and not isinstance(path, str | os.PathLike):
            raise TypeError(f"{kind}(path=) takes a str or a path, not {type(path).__name__}")
        for name, value in (("uri", uri), ("mime_type", mime_type)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{kind}({name}=) takes a str, not {type(value).__name__}")
        resolved_path = Path(path) if path is not None else None
        if data is None and resolved_path is None and uri is None:
            raise TypeError(f"{kind} needs a path, bytes (data=) or an uploaded file uri (uri=)")
        if mime_type is not None:
            mime = mime_type.split(";", 1)[0].strip().lower()
        elif data is not None:
            mime = sniff_mime_type(data[:SNIFF_BYTES])
        elif resolved_path is not None:
            mime = sniff_mime_type(_read_head(resolved_path))
        else:
            raise ContentError(
                f"{kind}(uri={uri!r}) needs mime_type=: a File API uri does not say its type",
                limit=LIMIT_MIME_TYPE,
            )
        object.__setattr__(self, "path", resolved_path)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "mime_type", mime)

    @classmethod
    def from_path(cls, path: PathLike, *, mime_type: str | None = None) -> Self:
        """The part for a file, read lazily; the type is sniffed from its first bytes unless given."""
        return cls(path=path, mime_type=mime_type)

    @classmethod
    def from_bytes(cls, data: bytes, *, mime_type: str | None = None) -> Self:
        """The part for in-memory bytes; the type is sniffed unless given."""
        return cls(data=data, mime_type=mime_type)

    @classmethod
    def from_uri(cls, uri: str, *, mime_type: str) -> Self:
        """A part for a file already uploaded with the File API; limits cannot be measured for it."""
        return cls(uri=uri, mime_type=mime_type)

    def with_uri(self, uri: str) -> Self:
        """A copy sent as the uploaded ``uri`` that keeps its local bytes for limits and the hash."""
        return dataclasses.replace(self, uri=uri)

    @property
    def has_local_bytes(self) -> bool:
        """Whether the bytes are at hand (a path or data), so they can be measured and hashed."""
        return self.data is not None or self.path is not None

    @property
    def size(self) -> int | None:
        """Number of bytes (``os.stat`` for a path); None for a uri-only part."""
        if self.data is not None:
            return len(self.data)
        if self.path is not None:
            try:
                return self.path.stat().st_size
            except OSError as exc:
                raise ContentError(
                    f"cannot read {self.describe()}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
                ) from exc
        return None

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """Open the local bytes as a seekable binary stream.

        Raises:
            ContentError: a uri-only part, or the file cannot be opened.
        """
        if self.data is not None:
            yield io.BytesIO(self.data)
            return
        if self.path is None:
            raise ContentError(f"{self.describe()} has no local bytes, only an uploaded file uri")
        try:
            f = self.path.open("rb")
        except OSError as exc:
            raise ContentError(
                f"cannot read {self.describe()}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
            ) from exc
        with f:
            yield f

    def read_bytes(self) -> bytes:
        """All the local bytes (reads the file now, for a path)."""
        if self.data is not None:
            return self.data
        with self.open() as f:
            return f.read()

    def content_hash(self) -> str:
        """Hex sha256 of modality, MIME type and bytes (streamed for paths).

        Stable across runs and machines, and independent of the path and of an uploaded uri, so that
        unchanged content is not embedded again. A uri-only part hashes its uri instead.
        """
        h = hashlib.sha256(_HASH_VERSION)
        h.update(b"\0" + self.modality.encode() + b"\0" + self.mime_type.encode() + b"\0")
        if not self.has_local_bytes:
            h.update(b"uri:" + (self.uri or "").encode())
        elif self.data is not None:
            h.update(self.data)
        else:
            with self.open() as f:
                while block := f.read(_BLOCK):
                    h.update(block)
        return h.hexdigest()

    def describe(self) -> str:
        """A short form for messages, e.g. ``Image('cat.png')`` (never the bytes)."""
        kind = type(self).__name__
        if self.path is not None:
            return f"{kind}({str(self.path)!r})"
        if self.data is not None:
            return f"{kind}(<{len(self.data)} bytes>)"
        return f"{kind}(uri={self.uri!r})"

    def __repr__(self) -> str:
        kind = type(self).__name__
        if self.path is not None:
            src = f"path={str(self.path)!r}"
        elif self.data is not None:
            src = f"data=<{len(self.data)} bytes>"
        else:
            src = ""
        fields = [s for s in (src, f"uri={self.uri!r}" if self.uri else "") if s]
        return f"{kind}({', '.join(fields)}, mime_type={self.mime_type!r})"


def _one(kind: str, name: str, given: object, source: _T) -> _T:
    if given is not None:
        raise TypeError(f"{kind} got a positional source and {name}=; pass one")
    return source


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(SNIFF_BYTES)
    except OSError as exc:
        raise ContentError(
            f"cannot read {str(path)!r}: {exc} (limit {LIMIT_READABLE})", limit=LIMIT_READABLE
        ) from exc


@dataclass(frozen=True, init=False, repr=False)
class Image(MediaPart):
    """An image part (the model takes PNG and JPEG, up to 6 per item)."""

    modality: ClassVar[Modality] = "image"


@dataclass(frozen=True, init=False, repr=False)
class Audio(MediaPart):
    """An audio part (gemini-embedding-2 takes MP3 and WAV, one per item, up to 180 s)."""

    modality: ClassVar[Modality] = "audio"


@dataclass(frozen=True, init=False, repr=False)
class Video(MediaPart):
    """A video part (gemini-embedding-2 takes MP4 and MOV, one per item, up to 120 s; on Vertex AI 80 s
    with an audio track, which the Gemini API does not process)."""

    modality: ClassVar[Modality] = "video"


@dataclass(frozen=True, init=False, repr=False)
class PDF(MediaPart):
    """A PDF part (one per item, up to 6 pages; the model reads the text in it)."""

    modality: ClassVar[Modality] = "pdf"


Part: TypeAlias = Text | Image | Audio | Video | PDF
"""One part of an item."""

_PART_TYPES = (Text, Image, Audio, Video, PDF)
_CLASS_FOR_MAJOR: Mapping[str, type[Image] | type[Audio] | type[Video]] = {
    "image": Image,
    "audio": Audio,
    "video": Video,
}


def part_from_path(path: PathLike) -> Part:
    """The part for a file, its class chosen by the sniffed type (text files become :class:`Text`).

    Raises:
        UnsupportedMediaError: the type is none of text, image, audio, video or PDF.
        ContentError: the file cannot be read.
    """
    p = Path(path)
    mime = sniff_mime_type(_read_head(p))
    if mime == "text/plain":
        return Text.from_path(p)
    if mime == "application/pdf":
        return PDF(path=p, mime_type=mime)
    cls = _CLASS_FOR_MAJOR.get(mime.split("/", 1)[0])
    if cls is None:
        kind = "an empty file" if mime == "application/octet-stream" and p.stat().st_size == 0 else mime
        raise UnsupportedMediaError(
            f"{str(p)!r} is {kind}; supported are text, images, audio, video and PDF",
            limit=LIMIT_NON_EMPTY if kind == "an empty file" else LIMIT_MIME_TYPE,
        )
    return cls(path=p, mime_type=mime)


def part_from_bytes(data: bytes, *, where: str = "value") -> Part:
    """The part for bytes of unknown type (a database column, an upload), chosen by the sniffed type.

    UTF-8 text becomes :class:`Text`; images, audio, video and PDFs become those parts.

    Raises:
        UnsupportedMediaError: the bytes are empty, or of a type none of the models take; names ``where``.
    """
    if not data:
        raise UnsupportedMediaError(f"{where} is empty", limit=LIMIT_NON_EMPTY)
    mime = sniff_mime_type(data[:SNIFF_BYTES])
    if mime == "text/plain":
        try:
            return Text(data.decode("utf-8"))
        except UnicodeDecodeError:  # the sniffer reads the head only
            mime = "application/octet-stream"
    elif mime == "application/pdf":
        return PDF(data=data, mime_type=mime)
    else:
        cls = _CLASS_FOR_MAJOR.get(mime.split("/", 1)[0])
        if cls is not None:
            return cls(data=data, mime_type=mime)
    raise UnsupportedMediaError(
        f"{where} holds {mime} ({len(data)} bytes); supported are text, images, audio, video and PDF",
        limit=LIMIT_MIME_TYPE,
    )


# --------------------------------------------------------------------------------------------- items


@dataclass(frozen=True, init=False)
class Item:
    """One input that becomes ONE vector: a part, or several interleaved parts aggregated by the model.

    ``Item(["a caption", Image("cat.png")])`` embeds the caption and the image together. Strings become
    :class:`Text` parts.

    Attributes:
        parts: The parts, in order.
    """

    parts: tuple[Part, ...]

    def __init__(self, parts: Part | str | Iterable[Part | str]) -> None:
        """Build an item from one part or string, or an iterable of them.

        Raises:
            TypeError: an element is neither a part nor a str.
        """
        if isinstance(parts, str | Text | MediaPart):
            items: Iterable[object] = (parts,)
        else:
            items = parts
        normalized: list[Part] = []
        for i, p in enumerate(items):
            if isinstance(p, str):
                normalized.append(Text(p))
            elif isinstance(p, _PART_TYPES):
                normalized.append(p)
            else:
                hint = (
                    " (wrap bytes or a path in Image/Audio/Video/PDF)"
                    if isinstance(p, bytes | os.PathLike)
                    else ""
                )
                raise TypeError(f"Item part {i} is a {type(p).__name__}, not a str or a content part{hint}")
        object.__setattr__(self, "parts", tuple(normalized))

    def __iter__(self) -> Iterator[Part]:
        return iter(self.parts)

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def text_parts(self) -> tuple[Text, ...]:
        """The text parts, in order (where the Embedder applies task prefixes)."""
        return tuple(p for p in self.parts if isinstance(p, Text))

    @property
    def media_parts(self) -> tuple[MediaPart, ...]:
        """The non-text parts, in order."""
        return tuple(p for p in self.parts if isinstance(p, MediaPart))

    @property
    def modalities(self) -> frozenset[Modality]:
        """The modalities present in the item."""
        return frozenset(p.modality for p in self.parts)

    def content_hash(self) -> str:
        """Hex sha256 identifying the content; a one-part item hashes as its part does."""
        if len(self.parts) == 1:
            return self.parts[0].content_hash()
        h = hashlib.sha256(_HASH_VERSION + b"\0item")
        for p in self.parts:
            h.update(b"\0" + p.content_hash().encode())
        return h.hexdigest()


def as_item(x: Item | Part | str) -> Item:
    """Normalize a string, a part or an item into an :class:`Item`.

    Raises:
        TypeError: ``x`` is none of those (a list must be wrapped in ``Item([...])`` explicitly, so that
            a list of N inputs is never mistaken for one interleaved item).
    """
    if isinstance(x, Item):
        return x
    if isinstance(x, str | Text | MediaPart):
        return Item(x)
    raise TypeError(
        f"expected a str, a content part or an Item, not {type(x).__name__}; "
        "wrap interleaved parts in gemini_vectors.Item([...])"
    )


# --------------------------------------------------------------------------------------------- requests


def to_genai_content(
    item: Item | Part | str, *, task_text_transform: Callable[[str], str] | None = None
) -> types.Content:
    """Build exactly one ``google.genai.types.Content`` for one item.

    Text parts become ``Part.from_text``; parts with local bytes ``Part.from_bytes`` (the file is read
    now); parts with an uploaded ``uri`` ``Part.from_uri``.

    Args:
        item: The item (a str or a part is wrapped).
        task_text_transform: Applied to the item's FIRST text part only (e.g. a task prefix such as
            ``task: search result | query: {text}``): the prefix is an instruction for the whole item,
            and repeating it before every text part of an interleaved item would change what is embedded.
            An item without text is sent unchanged; a caller who wants a prefix there can prepend a
            ``Text`` part before calling.
    """
    from google.genai import types

    parts: list[types.Part] = []
    transformed = task_text_transform is None
    for p in as_item(item).parts:
        if isinstance(p, Text):
            text = p.text
            if not transformed and task_text_transform is not None:
                text = task_text_transform(text)
                transformed = True
            parts.append(types.Part.from_text(text=text))
        elif p.uri is not None:
            parts.append(types.Part.from_uri(file_uri=p.uri, mime_type=p.mime_type))
        else:
            parts.append(types.Part.from_bytes(data=p.read_bytes(), mime_type=p.mime_type))
    return types.Content(parts=parts)


# --------------------------------------------------------------------------------------------- limits


_TOKEN_PIECES = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """A conservative (over-)estimate of the tokens in ``text``.

    The larger of ``ceil(utf-8 bytes / 3)`` and the number of words and punctuation marks. Gemini's
    tokenizer averages about 4 bytes per token in English and about 3 per character in CJK scripts, so
    the byte count errs high for prose; but it gives most punctuation marks a token each, so text dense
    with them (minified code, ASCII art, tables) needs the second count to stay an upper bound.
    """
    return max(math.ceil(len(text.encode("utf-8")) / 3), token_pieces(text))


def token_pieces(text: str) -> int:
    """How many words and punctuation marks ``text`` has (one bound :func:`estimate_tokens` takes)."""
    return len(_TOKEN_PIECES.findall(text))


# Token rates the Gemini API publishes for its generative models; used for cost estimates only.
_TOKENS_PER_IMAGE_TILE = 258
_TOKENS_PER_AUDIO_SECOND = 32
_TOKENS_PER_VIDEO_SECOND = 258
_TOKENS_PER_PDF_PAGE = 258
# Rough JSON overhead per part and per request, for payload bounds.
_PART_OVERHEAD = 64
_REQUEST_OVERHEAD = 96


@dataclass(frozen=True)
class ItemStats:
    """What :func:`check_item` measured for one item; the Embedder bounds payloads and costs with it.

    Attributes:
        index: The item's position in its input sequence, or None.
        parts: Number of parts.
        text_tokens: Estimated text tokens (checked against the model's ``max_input_tokens``).
        tokens_by_modality: Estimated tokens per modality present; text as :attr:`text_tokens`, media at
            the generative API's published rates (258 per image tile, video second and PDF page, 32 per
            audio second). For cost estimates, not limits.
        bytes_by_modality: Content bytes per modality (text as UTF-8; media as stored; 0 for uri-only).
        inline_bytes: Raw bytes that travel inside the request (text and inline media, not uris).
        request_bytes: Approximate size of this item in a JSON request (base64 grows media by 4/3).
        images: Number of image parts; likewise ``audio``, ``videos``, ``pdfs``.
        pdf_pages: Pages of the PDF part (0 when none or not measured).
        audio_seconds: Duration of the audio part.
        video_seconds: Duration of the video part.
        video_has_audio: Whether the video has an audio track.
        unmeasured_parts: Uri-only parts, whose limits could not be checked here.
    """

    index: int | None
    parts: int
    text_tokens: int
    tokens_by_modality: Mapping[Modality, int]
    bytes_by_modality: Mapping[Modality, int]
    inline_bytes: int
    request_bytes: int
    images: int = 0
    audio: int = 0
    videos: int = 0
    pdfs: int = 0
    pdf_pages: int = 0
    audio_seconds: float = 0.0
    video_seconds: float = 0.0
    video_has_audio: bool = False
    unmeasured_parts: int = 0

    @property
    def estimated_tokens(self) -> int:
        """All estimated tokens of the item, text and media."""
        return sum(self.tokens_by_modality.values())


@dataclass
class _Acc:
    tokens: dict[Modality, int] = field(default_factory=dict)
    nbytes: dict[Modality, int] = field(default_factory=dict)
    inline: int = 0
    request: int = _REQUEST_OVERHEAD
    pdf_pages: int = 0
    audio_seconds: float = 0.0
    video_seconds: float = 0.0
    video_has_audio: bool = False
    unmeasured: int = 0

    def add(self, modality: Modality, tokens: int, nbytes: int) -> None:
        self.tokens[modality] = self.tokens.get(modality, 0) + tokens
        self.nbytes[modality] = self.nbytes.get(modality, 0) + nbytes


class _Unreadable(Exception):
    """A file's structure is broken; the message says how."""


def check_item(
    item: Item | Part | str,
    model: ModelInfo,
    index: int | None = None,
    *,
    count_tokens: Callable[[str], int] | None = None,
    reserved_tokens: int = 0,
) -> ItemStats:
    """Check one item against ``model``'s per-request limits before anything is sent.

    Cheap checks run first (emptiness, modality, MIME type, part counts), then each part with local bytes
    is measured (image headers, PDF pages, audio and video durations, the video's audio track), then the
    text tokens are counted. Uri-only parts are counted but not measured.

    A limit of 0 on a modality the model accepts means the model table gives no limit.

    Args:
        item: The item (a str or a part is wrapped).
        model: The model's entry in the table for the API surface the item goes to
            (``get_model(name, "vertex-ai")``, or an Embedder's ``model_info``): a video with an audio
            track has a shorter limit on Vertex AI than on the Gemini API.
        index: The item's position in the caller's input, named in every error.
        count_tokens: Exact token counter for a text part; default :func:`estimate_tokens`.
        reserved_tokens: Tokens the caller will add (e.g. a task prefix), counted against the limit.

    Raises:
        UnsupportedMediaError: a modality or MIME type the model does not accept
            (``limit`` is ``"modality"`` or ``"mime_type"``).
        ContentError: any other broken limit; ``limit`` is one of :data:`LIMITS` and the message names the
            item's index, the part, the limit and the measured value.
    """
    try:
        return _check_item(as_item(item), model, index, count_tokens, reserved_tokens)
    except ContentError as exc:
        if exc.index is not None or index is None:
            raise
        # Raised by part I/O (a file deleted since the part was built) without knowing the index.
        raise type(exc)(str(exc), index=index, limit=exc.limit) from exc


def _check_item(
    it: Item,
    model: ModelInfo,
    index: int | None,
    count_tokens: Callable[[str], int] | None,
    reserved_tokens: int,
) -> ItemStats:
    name = model.label  # the limits depend on the API surface
    if not it.parts:
        raise ContentError(
            f"the item has no parts; nothing to embed (limit {LIMIT_NON_EMPTY})",
            index=index,
            limit=LIMIT_NON_EMPTY,
        )

    counts: dict[Modality, int] = {}
    for j, p in enumerate(it.parts):
        _check_part_type(p, j, model, index)
        counts[p.modality] = counts.get(p.modality, 0) + 1

    caps: tuple[tuple[Modality, int, str], ...] = (
        ("image", model.max_images, LIMIT_IMAGES),
        ("audio", model.max_audio, LIMIT_AUDIO),
        ("video", model.max_video, LIMIT_VIDEO),
        ("pdf", model.max_pdf, LIMIT_PDF),
    )
    for modality, cap, limit in caps:
        n = counts.get(modality, 0)
        if cap and n > cap:
            raise ContentError(
                f"{n} {_plural(modality, n)} in one item, but {name} accepts at most {cap} per request "
                f"(limit {limit}); split the item or embed the parts separately",
                index=index,
                limit=limit,
            )

    acc = _Acc()
    counter = count_tokens or estimate_tokens
    text_tokens = reserved_tokens
    for j, p in enumerate(it.parts):
        if isinstance(p, Text):
            nbytes = len(p.text.encode("utf-8"))
            tokens = counter(p.text)
            text_tokens += tokens
            acc.add("text", tokens, nbytes)
            acc.inline += nbytes
            acc.request += nbytes + _PART_OVERHEAD
        else:
            _measure_part(p, j, model, index, acc)

    if text_tokens > model.max_input_tokens:
        how = "counted" if count_tokens else "estimated as the larger of utf-8 bytes / 3 and words + marks"
        prefix = f", {reserved_tokens} of them the task prefix and title" if reserved_tokens else ""
        raise ContentError(
            f"the text has about {text_tokens} tokens ({how}{prefix}), but {name} accepts at most "
            f"{model.max_input_tokens} input tokens (limit {LIMIT_INPUT_TOKENS}); split it into chunks",
            index=index,
            limit=LIMIT_INPUT_TOKENS,
        )
    return ItemStats(
        index=index,
        parts=len(it.parts),
        text_tokens=text_tokens,
        tokens_by_modality=dict(acc.tokens),
        bytes_by_modality=dict(acc.nbytes),
        inline_bytes=acc.inline,
        request_bytes=acc.request,
        images=counts.get("image", 0),
        audio=counts.get("audio", 0),
        videos=counts.get("video", 0),
        pdfs=counts.get("pdf", 0),
        pdf_pages=acc.pdf_pages,
        audio_seconds=acc.audio_seconds,
        video_seconds=acc.video_seconds,
        video_has_audio=acc.video_has_audio,
        unmeasured_parts=acc.unmeasured,
    )


def check_items(
    items: Sequence[Item | Part | str],
    model: ModelInfo,
    *,
    count_tokens: Callable[[str], int] | None = None,
    reserved_tokens: int = 0,
) -> list[ItemStats]:
    """Run :func:`check_item` on each item with its index; the first broken limit raises."""
    return [
        check_item(x, model, i, count_tokens=count_tokens, reserved_tokens=reserved_tokens)
        for i, x in enumerate(items)
    ]


def _plural(modality: str, n: int) -> str:
    word = {"image": "image", "audio": "audio file", "video": "video", "pdf": "PDF"}[modality]
    return word if n == 1 else word + "s"


def _check_part_type(p: Part, j: int, model: ModelInfo, index: int | None) -> None:
    where = f"part {j} ({p.describe()})"
    if not model.accepts(p.modality):
        accepted = ", ".join(sorted(model.modalities))
        raise UnsupportedMediaError(
            f"{where} is {p.modality}, but {model.name} accepts only {accepted} (limit {LIMIT_MODALITY})",
            index=index,
            limit=LIMIT_MODALITY,
        )
    if isinstance(p, Text):
        if not p.text.strip():
            raise ContentError(
                f"{where} is empty or whitespace (limit {LIMIT_NON_EMPTY})",
                index=index,
                limit=LIMIT_NON_EMPTY,
            )
        return
    if p.has_local_bytes and p.size == 0:
        raise ContentError(
            f"{where} has 0 bytes (limit {LIMIT_NON_EMPTY})", index=index, limit=LIMIT_NON_EMPTY
        )
    accepted_mimes = model.mime_types.get(p.modality, frozenset())
    if p.mime_type not in accepted_mimes:
        what = "an unrecognized format" if p.mime_type == "application/octet-stream" else p.mime_type
        raise UnsupportedMediaError(
            f"{where} is {what}, but {model.name} accepts {p.modality} only as "
            f"{', '.join(sorted(accepted_mimes)) or 'nothing'} (limit {LIMIT_MIME_TYPE})",
            index=index,
            limit=LIMIT_MIME_TYPE,
        )


def _measure_part(p: MediaPart, j: int, model: ModelInfo, index: int | None, acc: _Acc) -> None:
    where = f"part {j} ({p.describe()})"
    if not p.has_local_bytes:
        acc.unmeasured += 1
        acc.add(p.modality, 0, 0)
        acc.request += len(p.uri or "") + _PART_OVERHEAD
        return
    size = p.size or 0
    if p.uri is not None:
        acc.request += len(p.uri) + _PART_OVERHEAD
    else:
        acc.inline += size
        acc.request += 4 * math.ceil(size / 3) + _PART_OVERHEAD
    pages, has_audio = 0, False
    try:
        with p.open() as f:
            if isinstance(p, Image):
                width, height = _image_size(f, p.mime_type)
                tiles = (
                    1 if width <= 384 and height <= 384 else math.ceil(width / 768) * math.ceil(height / 768)
                )
                acc.add("image", tiles * _TOKENS_PER_IMAGE_TILE, size)
                return
            if isinstance(p, PDF):
                pages = _pdf_pages(f)
                measured: float = pages
            elif isinstance(p, Audio):
                measured = _audio_seconds(f, p.mime_type)
            else:
                measured, has_audio = _video_info(f)
    except ContentError:
        raise
    except Exception as exc:
        # Parsers of untrusted bytes fail in many ways; all mean "this file cannot be read".
        reason = str(exc) or type(exc).__name__
        raise ContentError(
            f"{where} is not a readable {p.mime_type} file: {reason} (limit {LIMIT_READABLE})",
            index=index,
            limit=LIMIT_READABLE,
        ) from exc

    if measured <= 0:
        what = "has no pages" if isinstance(p, PDF) else "has a duration of 0 s"
        raise ContentError(f"{where} {what} (limit {LIMIT_NON_EMPTY})", index=index, limit=LIMIT_NON_EMPTY)
    name = model.label
    if isinstance(p, PDF):
        acc.pdf_pages = pages
        acc.add("pdf", pages * _TOKENS_PER_PDF_PAGE, size)
        if model.max_pdf_pages and pages > model.max_pdf_pages:
            raise ContentError(
                f"{where} has {pages} pages, but {name} accepts at most {model.max_pdf_pages} per request "
                f"(limit {LIMIT_PDF_PAGES}); split it into chunks of {model.max_pdf_pages} pages",
                index=index,
                limit=LIMIT_PDF_PAGES,
            )
    elif isinstance(p, Audio):
        acc.audio_seconds = measured
        acc.add("audio", math.ceil(measured * _TOKENS_PER_AUDIO_SECOND), size)
        if model.max_audio_seconds and measured > model.max_audio_seconds:
            raise ContentError(
                f"{where} lasts {measured:.1f} s, but {name} accepts audio of at most "
                f"{model.max_audio_seconds:g} s (limit {LIMIT_AUDIO_SECONDS}); split it into segments",
                index=index,
                limit=LIMIT_AUDIO_SECONDS,
            )
    else:
        acc.video_seconds = measured
        acc.video_has_audio = has_audio
        per_second = _TOKENS_PER_VIDEO_SECOND + (_TOKENS_PER_AUDIO_SECOND if has_audio else 0)
        acc.add("video", math.ceil(measured * per_second), size)
        if has_audio and model.max_video_seconds_with_audio and measured > model.max_video_seconds_with_audio:
            raise ContentError(
                f"{where} lasts {measured:.1f} s and has an audio track, but {name} accepts video with "
                f"audio of at most {model.max_video_seconds_with_audio:g} s "
                f"(limit {LIMIT_VIDEO_SECONDS_WITH_AUDIO}); split it or drop the audio track",
                index=index,
                limit=LIMIT_VIDEO_SECONDS_WITH_AUDIO,
            )
        if model.max_video_seconds and measured > model.max_video_seconds:
            raise ContentError(
                f"{where} lasts {measured:.1f} s, but {name} accepts video of at most "
                f"{model.max_video_seconds:g} s (limit {LIMIT_VIDEO_SECONDS}); split it into segments",
                index=index,
                limit=LIMIT_VIDEO_SECONDS,
            )


# --------------------------------------------------------------------------------------------- measuring


def _image_size(f: BinaryIO, mime: str) -> tuple[int, int]:
    data = f.read()
    if mime == "image/png":
        return _png_size(data)
    if mime == "image/jpeg":
        return _jpeg_size(data)
    raise _Unreadable(f"no reader for {mime}")


def _png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise _Unreadable("no PNG signature")
    pos, first, size = 8, True, (0, 0)
    while True:
        if pos + 12 > len(data):
            raise _Unreadable("truncated before the IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise _Unreadable(f"chunk {kind!r} is truncated")
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(data[pos + 4 : end]) != crc:
            raise _Unreadable(f"chunk {kind!r} fails its CRC check")
        if first:
            if kind != b"IHDR" or length < 8:
                raise _Unreadable("the first chunk is not IHDR")
            size = struct.unpack(">II", data[pos + 8 : pos + 16])
            first = False
        if kind == b"IEND":
            break
        pos = end + 4
    if size[0] == 0 or size[1] == 0:
        raise _Unreadable(f"zero-sized image {size[0]}x{size[1]}")
    return size


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(b"\xff\xd8"):
        raise _Unreadable("no JPEG start-of-image marker")
    pos, size = 2, None
    while True:
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise _Unreadable("truncated or malformed marker segment")
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise _Unreadable(f"segment 0xFF{marker:02X} is truncated")
        if marker in _SOF_MARKERS:
            if length < 7:
                raise _Unreadable("short frame header")
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    if size is None:
        raise _Unreadable("no frame header before the scan")
    # FF D9 cannot occur inside entropy-coded data (FF is stuffed), so its absence means truncation.
    if b"\xff\xd9" not in data[max(pos, len(data) - 4096) :]:
        raise _Unreadable("truncated: no end-of-image marker")
    if size[0] == 0 or size[1] == 0:
        raise _Unreadable(f"zero-sized image {size[0]}x{size[1]}")
    return size


def _pdf_pages(f: BinaryIO) -> int:
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(f)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise _Unreadable("encrypted with a password")
    return len(reader.pages)


def _audio_seconds(f: BinaryIO, mime: str) -> float:
    if mime in ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"):
        try:
            with wave.open(f, "rb") as w:
                rate = w.getframerate()
                if rate <= 0:
                    raise _Unreadable("sample rate 0")
                return w.getnframes() / rate
        except wave.Error:
            # Float and WAVE_FORMAT_EXTENSIBLE files, which wave rejects on Python 3.11.
            from mutagen.wave import WAVE

            f.seek(0)
            return _mutagen_length(WAVE, f)
    if mime in ("audio/mpeg", "audio/mp3"):
        from mutagen.mp3 import MP3

        return _mutagen_length(MP3, f)
    raise _Unreadable(f"no reader for {mime}")


def _mutagen_length(file_type: Any, f: BinaryIO) -> float:
    # mutagen's annotations are partial (FileType.info is Optional); a parsed file always has info.
    return float(file_type(f).info.length)


def _video_info(f: BinaryIO) -> tuple[float, bool]:
    """Movie duration in seconds and whether an audio track exists, from an MP4/MOV's moov box."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    moov = None
    for kind, start, stop in _boxes(f, 0, end):
        if kind == b"moov":
            if stop - start > 256 << 20:
                raise _Unreadable("moov box larger than 256 MiB")
            f.seek(start)
            moov = f.read(stop - start)
            break
    if moov is None:
        raise _Unreadable("no moov box (truncated, or not an MP4/MOV file)")
    mf = io.BytesIO(moov)
    timescale, duration = 0, 0
    fragment_duration = 0
    track_seconds = 0.0
    handlers: set[bytes] = set()
    for kind, start, stop in _boxes(mf, 0, len(moov)):
        body = moov[start:stop]
        if kind == b"mvhd":
            timescale, duration = _header_time(body)
        elif kind == b"mvex":
            for k2, s2, _e2 in _boxes(mf, start, stop):
                if k2 == b"mehd":
                    version = moov[s2]
                    fmt = ">Q" if version == 1 else ">I"
                    (fragment_duration,) = struct.unpack_from(fmt, moov, s2 + 4)
        elif kind == b"trak":
            handler, seconds = _track_info(mf, moov, start, stop)
            handlers.add(handler)
            track_seconds = max(track_seconds, seconds)
    if timescale <= 0:
        raise _Unreadable("no movie header (mvhd) with a time scale")
    if duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        duration = fragment_duration
    # The movie header's duration is the presentation length (after edit lists trim encoder priming);
    # track durations are only the fallback for files that leave it unset.
    seconds = duration / timescale if duration else track_seconds
    return seconds, b"soun" in handlers


def _track_info(mf: BinaryIO, moov: bytes, start: int, stop: int) -> tuple[bytes, float]:
    handler, seconds = b"", 0.0
    for kind, s, e in _boxes(mf, start, stop):
        if kind != b"mdia":
            continue
        for k2, s2, e2 in _boxes(mf, s, e):
            if k2 == b"hdlr" and e2 - s2 >= 12:
                handler = moov[s2 + 8 : s2 + 12]
            elif k2 == b"mdhd":
                scale, dur = _header_time(moov[s2:e2])
                if scale > 0 and dur not in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                    seconds = dur / scale
    return handler, seconds


def _header_time(body: bytes) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd full box."""
    version = body[0] if body else 0
    if version == 1:
        if len(body) < 32:
            raise _Unreadable("short movie header")
        scale, duration = struct.unpack_from(">IQ", body, 20)
        return int(scale), int(duration)
    if len(body) < 20:
        raise _Unreadable("short movie header")
    scale, duration = struct.unpack_from(">II", body, 12)
    return int(scale), int(duration)


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload start, payload end) for the ISO-BMFF boxes between two offsets."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            raise _Unreadable("truncated box header")
        size, kind = struct.unpack(">I4s", header)
        payload = pos + 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                raise _Unreadable("truncated box header")
            (size,) = struct.unpack(">Q", large)
            payload += 8
        elif size == 0:
            size = end - pos
        if size < payload - pos or pos + size > end:
            raise _Unreadable(f"box {kind!r} at offset {pos} is truncated or has a bad size")
        yield kind, payload, pos + size
        pos += size
