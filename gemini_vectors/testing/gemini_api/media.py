"""Reading the media parts of a request: base64, mime types, durations, page counts.

Durations and page counts come from the libraries a user of gemini-vectors already has:

* WAV through the stdlib ``wave`` module (exact: frames / rate);
* MP3 through mutagen (pure Python, reads the Xing/VBRI header or estimates from the bitrate);
* MP4/MOV through PyAV when importable, because it demuxes every container ffmpeg knows and lists all
  streams, which is what "does this video have an audio track" needs; without PyAV the emulator falls
  back to mutagen's MP4 atom parser (movie header duration, a ``soun`` handler means an audio track);
* PDF through pypdf (page count, and the text the real model reads).
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import wave
from dataclasses import dataclass
from typing import Any, Literal, cast

Kind = Literal["text", "image", "audio", "video", "pdf"]

MIME_KINDS: dict[str, Kind] = {
    "text/plain": "text",
    "image/png": "image",
    "image/jpeg": "image",
    "audio/mpeg": "audio",
    "audio/mp3": "audio",
    "audio/wav": "audio",
    "audio/x-wav": "audio",
    "video/mp4": "video",
    "video/quicktime": "video",
    "application/pdf": "pdf",
}


class MediaError(ValueError):
    """The bytes cannot be read as what their mime type says."""


@dataclass(frozen=True)
class Probe:
    """What the emulator learned from one media part."""

    kind: Kind
    mime_type: str
    seconds: float = 0.0
    has_audio: bool = False
    pages: int = 0
    text: str = ""


def normalize_mime(mime_type: str) -> str:
    """Lower-case the mime type and drop parameters such as ``; charset=utf-8``."""
    return mime_type.split(";", 1)[0].strip().lower()


def decode_base64(data: str) -> bytes:
    """Decode standard or url-safe base64, with or without padding (the SDK sends url-safe)."""
    cleaned = "".join(data.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError("Base64 decoding failed") from exc


def probe(kind: Kind, mime_type: str, data: bytes, *, read_pdf_text: bool = True) -> Probe:
    """Inspect media bytes of a known kind; raise MediaError when they cannot be processed."""
    if kind == "image":
        _check_image(mime_type, data)
        return Probe(kind, mime_type)
    if kind == "audio":
        return Probe(kind, mime_type, seconds=_audio_seconds(mime_type, data))
    if kind == "video":
        seconds, has_audio = _video_info(data)
        return Probe(kind, mime_type, seconds=seconds, has_audio=has_audio)
    if kind == "pdf":
        pages, text = _pdf_info(data, read_text=read_pdf_text)
        return Probe(kind, mime_type, pages=pages, text=text)
    try:
        return Probe(kind, mime_type, text=data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MediaError("text/plain data is not valid UTF-8") from exc


def _check_image(mime_type: str, data: bytes) -> None:
    if mime_type == "image/png" and not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise MediaError("Provided image is not valid: the data is not a PNG image")
    if mime_type == "image/jpeg" and not data.startswith(b"\xff\xd8\xff"):
        raise MediaError("Provided image is not valid: the data is not a JPEG image")


def _audio_seconds(mime_type: str, data: bytes) -> float:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as wav:
                rate = wav.getframerate()
                return wav.getnframes() / rate if rate else 0.0
        except (wave.Error, EOFError) as exc:
            raise MediaError(f"Unable to process input audio: {exc}") from exc
    if mime_type in ("audio/wav", "audio/x-wav"):
        raise MediaError("Unable to process input audio: the data is not a WAV file")
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        audio: Any = cast(Any, MP3)(io.BytesIO(data))
        return float(audio.info.length)
    except (MutagenError, OSError, struct.error) as exc:
        raise MediaError(f"Unable to process input audio: {exc}") from exc


def _video_info(data: bytes) -> tuple[float, bool]:
    try:
        import av
    except ImportError:
        return _video_info_mutagen(data)
    try:
        opened: Any = av.open(io.BytesIO(data))
        with opened as container:
            has_audio = any(stream.type == "audio" for stream in container.streams)
            if container.duration is not None:
                return container.duration / 1_000_000, has_audio
            seconds = 0.0
            for stream in container.streams:
                if stream.duration is not None and stream.time_base is not None:
                    seconds = max(seconds, float(stream.duration * stream.time_base))
            return seconds, has_audio
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"Unable to process input video: {exc}") from exc


def _video_info_mutagen(data: bytes) -> tuple[float, bool]:
    from mutagen import MutagenError
    from mutagen.mp4._atom import Atoms

    fileobj = io.BytesIO(data)
    try:
        atoms: Any = Atoms(fileobj)
        moov = atoms[b"moov"]
        ok, mvhd = moov[(b"mvhd",)].read(fileobj)
        if not ok:
            raise MediaError("Unable to process input video: truncated movie header")
        if mvhd[0] == 1:
            timescale, duration = struct.unpack(">IQ", mvhd[20:32])
        else:
            timescale, duration = struct.unpack(">II", mvhd[12:20])
        has_audio = False
        for trak in moov.findall(b"trak"):
            ok, hdlr = trak[b"mdia", b"hdlr"].read(fileobj)
            has_audio = has_audio or (ok and hdlr[8:12] == b"soun")
        return (duration / timescale if timescale else 0.0), has_audio
    except (MutagenError, KeyError, struct.error, IndexError) as exc:
        raise MediaError(f"Unable to process input video: {exc}") from exc


def _pdf_info(data: bytes, *, read_text: bool) -> tuple[int, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
        text = "\n".join(page.extract_text() or "" for page in reader.pages) if read_text else ""
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise MediaError(f"Unable to process input document: {exc}") from exc
    if pages == 0:
        raise MediaError("Unable to process input document: the document has no pages")
    return pages, text
