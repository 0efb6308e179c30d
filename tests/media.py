"""Generate small test media in memory, so no test downloads or ships binary fixtures.

PNG and WAV need only the standard library; JPEG, GIF and WebP use Pillow; PDF uses pypdf; MP3 and
MP4/MOV use PyAV (its bundled ffmpeg has the libmp3lame, libx264 and aac encoders). Every function
returns the file's bytes; ``write(tmp_path, name, data)`` puts them on disk when a test needs a path.
"""

from __future__ import annotations

import functools
import io
import struct
import wave
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image as PILImage
from pypdf import PdfWriter


def write(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``directory/name`` and return the path."""
    path = directory / name
    path.write_bytes(data)
    return path


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG built by hand with zlib (no Pillow), filled with one colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _pillow(fmt: str, width: int, height: int, **options: object) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), (20, 120, 220)).save(buf, format=fmt, **options)
    return buf.getvalue()


def jpeg(width: int = 8, height: int = 8) -> bytes:
    """A valid baseline JPEG made with Pillow."""
    return _pillow("JPEG", width, height, quality=80)


def gif(width: int = 8, height: int = 8) -> bytes:
    """A GIF made with Pillow (a format the model does not accept)."""
    return _pillow("GIF", width, height)


def webp(width: int = 8, height: int = 8) -> bytes:
    """A WebP made with Pillow (a format the model does not accept)."""
    return _pillow("WEBP", width, height)


def wav(seconds: float, rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV of silence lasting ``seconds``, written with the stdlib ``wave`` module."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * channels * round(seconds * rate))
    return buf.getvalue()


def _encode_audio(stream: Any, seconds: float, rate: int) -> list[Any]:
    packets: list[Any] = []
    frame_size = stream.codec_context.frame_size or 1024
    total = round(seconds * rate)
    pts = 0
    t = np.arange(total, dtype=np.float32) / rate
    # A quiet tone rather than silence, so encoders cannot collapse the stream.
    signal = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    while pts < total:
        n = min(frame_size, total - pts)
        chunk = np.zeros((1, frame_size), dtype=np.float32)
        chunk[0, :n] = signal[pts : pts + n]
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        packets.extend(stream.encode(frame))
        pts += frame_size
    packets.extend(stream.encode(None))
    return packets


def mp3(seconds: float, rate: int = 16000) -> bytes:
    """A mono MP3 of a quiet tone lasting ``seconds``, encoded with PyAV's libmp3lame."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = 32000
        for packet in _encode_audio(stream, seconds, rate):
            out.mux(packet)
    return buf.getvalue()


def _encode_video(
    seconds: float,
    *,
    audio: bool,
    container: str,
    fps: int,
    options: dict[str, str] | None,
    channel: int,
    step: int,
) -> bytes:
    """Encode 16x16 H.264 frames whose colour ``channel`` moves by ``step`` a frame, plus optional AAC."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        vstream = out.add_stream("libx264", rate=fps, options=options or {})
        vstream.width = 16
        vstream.height = 16
        vstream.pix_fmt = "yuv420p"
        astream = out.add_stream("aac", rate=8000, layout="mono") if audio else None
        pixels = np.zeros((16, 16, 3), dtype=np.uint8)
        for i in range(round(seconds * fps)):
            pixels[:, :, channel] = (i * step) % 256
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
        if astream is not None:
            for packet in _encode_audio(astream, seconds, 8000):
                out.mux(packet)
    return buf.getvalue()


def video(seconds: float, *, audio: bool = False, container: str = "mp4", fps: int = 2) -> bytes:
    """A tiny H.264 video (16x16, ``fps`` frames/s) of ``seconds``, optionally with an AAC audio track.

    Args:
        seconds: Duration of the video track.
        audio: Add a mono AAC track of the same duration.
        container: ``"mp4"`` or ``"mov"``.
        fps: Frame rate; low rates keep long clips cheap to encode.
    """
    return _encode_video(seconds, audio=audio, container=container, fps=fps, options=None, channel=0, step=7)


def pdf(pages: int) -> bytes:
    """A PDF of ``pages`` blank pages written with pypdf."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def docx() -> bytes:
    """A minimal .docx (a zip with the Office Open XML parts Word writes first)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return buf.getvalue()


def wav_float(seconds: float, rate: int = 8000) -> bytes:
    """A 32-bit IEEE-float WAV (format tag 3), which the stdlib ``wave`` module cannot read on 3.11."""
    n = round(seconds * rate)
    samples = b"\x00\x00\x00\x00" * n
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, n)
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def strip_id3(data: bytes) -> bytes:
    """The MP3 without its leading ID3v2 tag, so it starts with a bare MPEG frame header."""
    if not data.startswith(b"ID3"):
        return data
    size = 0
    for b in data[6:10]:  # a syncsafe integer: 7 bits per byte
        size = (size << 7) | b
    return data[10 + size :]


# ----------------------------------------------------------------------------- added for ingestion


def video_gop(
    seconds: float, *, audio: bool = False, container: str = "mp4", fps: int = 2, gop: int = 4
) -> bytes:
    """Like :func:`video`, but with a keyframe every ``gop`` frames, so it can be cut without re-encoding.

    libx264's default keyframe interval is 250 frames (125 s at 2 fps), too long to cut a segment on;
    cameras and phones write one every 1-2 s, as here.
    """
    options = {"g": str(gop), "keyint_min": str(gop)}
    return _encode_video(
        seconds, audio=audio, container=container, fps=fps, options=options, channel=1, step=11
    )


def wav_signal(seconds: float, rate: int = 2000) -> bytes:
    """A 16-bit mono WAV whose samples never repeat within 32 s, so equal-length cuts differ in bytes."""
    n = round(seconds * rate)
    samples = ((np.arange(n, dtype=np.int64) * 7) % 65536 - 32768).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def pdf_text(texts: list[str]) -> bytes:
    """A PDF with one page per string, each drawing its string in Helvetica (text pypdf can extract)."""
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in texts:
        page = writer.add_blank_page(width=300, height=200)
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 20 100 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def html_page(title: str, paragraphs: list[str]) -> bytes:
    """A small HTML document with a title, a script and a style (which must not be indexed)."""
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title><style>p {{ color: red }}</style></head>"
        f"<body><script>var hidden = 'SCRIPT TEXT';</script>\n{body}</body></html>"
    ).encode()


def prose(paragraphs: int, sentences: int = 6, words: int = 12, seed: int = 0) -> str:
    """Deterministic English-like text: ``paragraphs`` paragraphs of ``sentences`` sentences."""
    vocabulary = [
        "river",
        "stone",
        "market",
        "garden",
        "winter",
        "signal",
        "harbor",
        "lantern",
        "copper",
        "meadow",
        "engine",
        "canvas",
        "orbit",
        "violin",
        "desert",
        "pepper",
        "glacier",
        "thunder",
        "velvet",
        "compass",
    ]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(paragraphs):
        sents = []
        for _ in range(sentences):
            chosen = [vocabulary[int(i)] for i in rng.integers(0, len(vocabulary), words)]
            sents.append(" ".join(chosen).capitalize() + ".")
        out.append(" ".join(sents))
    return "\n\n".join(out)


@functools.cache
def cached(name: str, *args: Any, **kwargs: Any) -> bytes:
    """The bytes of generator ``name`` called with these arguments, made once per test session."""
    generator = globals()[name]
    data: bytes = generator(*args, **kwargs)
    return data
