"""The emulator's media handling and per-request limits, through the unmodified SDK.

Every medium is generated here (PNG and WAV with the stdlib, PDF by hand, MP3/MP4/MOV with PyAV),
nothing is downloaded.
"""

from __future__ import annotations

import io
import struct
import sys
import wave
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from google import genai
from google.genai import errors, types

from gemini_vectors.testing import GeminiEmulator

G2 = "gemini-embedding-2"


# --- media factories ----------------------------------------------------------------------------------


def png(seed: int = 0, size: int = 4) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(
        b"\0" + bytes((seed * 31 + x * 7 + y) % 256 for x in range(size * 3)) for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float, rate: int = 1000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(128 + (i % 50) for i in range(int(seconds * rate))))
    return out.getvalue()


def pdf(pages: int, text: str = "") -> bytes:
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [{}] /Count {} >>".format(
            " ".join(f"{4 + 2 * i} 0 R" for i in range(pages)), pages
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text} {i + 1}) Tj ET"
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def mp3(seconds: float) -> bytes:
    av = pytest.importorskip("av")
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=8000, layout="mono")
        _write_audio(av, container, stream, seconds, 8000)
    return out.getvalue()


def video(seconds: int, *, audio: bool, fmt: str = "mp4") -> bytes:
    av = pytest.importorskip("av")
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        vstream = container.add_stream("mpeg4", rate=1)
        vstream.width = vstream.height = 16
        vstream.pix_fmt = "yuv420p"
        astream = container.add_stream("aac", rate=8000, layout="mono") if audio else None
        for i in range(seconds):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i % 256, dtype=np.uint8), format="rgb24")
            frame.pts = i
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            _write_audio(av, container, astream, seconds, 8000)
    return out.getvalue()


def _write_audio(av: Any, container: Any, stream: Any, seconds: float, rate: int) -> None:
    samples = int(seconds * rate)
    step = 1152
    for start in range(0, samples, step):
        n = min(step, samples - start)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, n), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


# --- helpers ----------------------------------------------------------------------------------------------


def part(data: bytes, mime: str) -> types.Part:
    return types.Part.from_bytes(data=data, mime_type=mime)


def embed_parts(client: genai.Client, *items: list[types.Part]) -> npt.NDArray[np.float64]:
    response = client.models.embed_content(
        model=G2,
        contents=[types.Content(parts=parts) for parts in items],
        config=types.EmbedContentConfig(output_dimensionality=256),
    )
    assert response.embeddings is not None
    return np.array([e.values for e in response.embeddings])


def rejected(client: genai.Client, *items: list[types.Part]) -> str:
    with pytest.raises(errors.ClientError) as exc:
        embed_parts(client, *items)
    assert exc.value.code == 400 and exc.value.status == "INVALID_ARGUMENT"
    return exc.value.message or ""


def cos(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- images -----------------------------------------------------------------------------------------------


def test_six_images_make_one_vector_seven_are_rejected(gemini_client: genai.Client) -> None:
    six = [part(png(i), "image/png") for i in range(6)]
    assert embed_parts(gemini_client, six).shape == (1, 256)
    message = rejected(gemini_client, [types.Part(text="ok")], [*six, part(png(6), "image/png")])
    assert "requests[1]" in message and "At most 6 image" in message


def test_image_vectors_follow_the_bytes(gemini_client: genai.Client) -> None:
    a1, a2, b = embed_parts(
        gemini_client, [part(png(1), "image/png")], [part(png(1), "image/png")], [part(png(2), "image/png")]
    )
    np.testing.assert_array_equal(a1, a2)
    assert abs(cos(a1, b)) < 0.3


def test_text_and_image_in_one_content_give_one_vector_near_both(gemini_client: genai.Client) -> None:
    both, text, image = embed_parts(
        gemini_client,
        [types.Part(text="a red bicycle"), part(png(3), "image/png")],
        [types.Part(text="a red bicycle")],
        [part(png(3), "image/png")],
    )
    assert cos(both, text) > 0.5 and cos(both, image) > 0.5


def test_jpeg_is_accepted(gemini_client: genai.Client) -> None:
    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="JPEG")
    assert embed_parts(gemini_client, [part(out.getvalue(), "image/jpeg")]).shape == (1, 256)


def test_corrupt_image_is_rejected(gemini_client: genai.Client) -> None:
    assert "not a PNG" in rejected(gemini_client, [part(b"this is not a png at all", "image/png")])


def test_empty_bytes_are_rejected(gemini_client: genai.Client) -> None:
    assert "empty" in rejected(gemini_client, [part(b"", "image/png")])


def test_inline_text_plain_reads_as_text(gemini_client: genai.Client) -> None:
    inline, plain = embed_parts(
        gemini_client, [part(b"plain words here", "text/plain")], [types.Part(text="plain words here")]
    )
    np.testing.assert_allclose(inline, plain)


# --- audio ------------------------------------------------------------------------------------------------


def test_wav_up_to_180_seconds(gemini_client: genai.Client) -> None:
    assert embed_parts(gemini_client, [part(wav(180), "audio/wav")]).shape == (1, 256)
    message = rejected(gemini_client, [part(wav(180.5), "audio/x-wav")])
    assert "180.5 s" in message and "at most 180 s" in message


def test_one_audio_per_request(gemini_client: genai.Client) -> None:
    assert "At most 1 audio" in rejected(
        gemini_client, [part(wav(1), "audio/wav"), part(wav(2), "audio/wav")]
    )


def test_mp3_duration_is_checked(gemini_client: genai.Client) -> None:
    assert embed_parts(gemini_client, [part(mp3(10), "audio/mpeg")]).shape == (1, 256)
    assert "at most 180 s" in rejected(gemini_client, [part(mp3(190), "audio/mp3")])


def test_bytes_that_are_not_audio_are_rejected(gemini_client: genai.Client) -> None:
    assert "Unable to process input audio" in rejected(
        gemini_client, [part(b"RIFF....nonsense", "audio/wav")]
    )


# --- video ------------------------------------------------------------------------------------------------


def test_video_without_audio_up_to_120_seconds(gemini_client: genai.Client) -> None:
    assert embed_parts(gemini_client, [part(video(120, audio=False), "video/mp4")]).shape == (1, 256)
    message = rejected(gemini_client, [part(video(125, audio=False), "video/mp4")])
    assert "at most 120 s" in message


def test_video_with_audio_up_to_120_seconds_on_the_gemini_api_80_on_vertex(
    gemini_client: genai.Client, gemini_emulator: GeminiEmulator
) -> None:
    # The Gemini API does not process a video's audio track; Vertex AI takes 80 s with one.
    assert embed_parts(gemini_client, [part(video(90, audio=True), "video/mp4")]).shape == (1, 256)
    vertex = gemini_emulator.client(vertexai=True)
    assert embed_parts(vertex, [part(video(70, audio=True), "video/mp4")]).shape == (1, 256)
    message = rejected(vertex, [part(video(90, audio=True), "video/quicktime")])
    assert "with an audio track" in message and "at most 80 s" in message


def test_mov_container(gemini_client: genai.Client) -> None:
    assert embed_parts(gemini_client, [part(video(5, audio=True, fmt="mov"), "video/quicktime")]).shape == (
        1,
        256,
    )


def test_one_video_per_request(gemini_client: genai.Client) -> None:
    clip = video(2, audio=False)
    assert "At most 1 video" in rejected(gemini_client, [part(clip, "video/mp4"), part(clip, "video/mp4")])


def test_video_limits_without_pyav(gemini_client: genai.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    short_loud, long_silent = video(70, audio=True), video(125, audio=False)
    long_loud = video(125, audio=True)
    monkeypatch.setitem(sys.modules, "av", None)  # the emulator falls back to mutagen's MP4 parser
    assert embed_parts(gemini_client, [part(short_loud, "video/mp4")]).shape == (1, 256)
    assert "at most 120 s" in rejected(gemini_client, [part(long_silent, "video/mp4")])
    assert "at most 120 s" in rejected(gemini_client, [part(long_loud, "video/mp4")])


# --- PDF --------------------------------------------------------------------------------------------------


def test_pdf_up_to_6_pages(gemini_client: genai.Client) -> None:
    assert embed_parts(gemini_client, [part(pdf(6, "hello"), "application/pdf")]).shape == (1, 256)
    message = rejected(gemini_client, [part(pdf(7, "hello"), "application/pdf")])
    assert "7 pages" in message and "at most 6 pages" in message


def test_one_pdf_per_request(gemini_client: genai.Client) -> None:
    doc = part(pdf(1, "x"), "application/pdf")
    assert "At most 1 PDF" in rejected(gemini_client, [doc, doc])


def test_pdf_text_is_read(gemini_client: genai.Client) -> None:
    cats, bonds, query = embed_parts(
        gemini_client,
        [part(pdf(2, "cats sleeping in the warm sun"), "application/pdf")],
        [part(pdf(2, "bond yields and interest rates"), "application/pdf")],
        [types.Part(text="task: search result | query: sleeping cats")],
    )
    assert cos(query, cats) > cos(query, bonds) + 0.2


def test_corrupt_pdf_is_rejected(gemini_client: genai.Client) -> None:
    assert "Unable to process input document" in rejected(
        gemini_client, [part(b"%PDF-1.4 garbage", "application/pdf")]
    )


# --- unsupported ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mime",
    ["image/gif", "image/webp", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
)
def test_unsupported_mime_types(gemini_client: genai.Client, mime: str) -> None:
    assert f"Unsupported MIME type: {mime}" in rejected(gemini_client, [part(b"some bytes", mime)])


def test_limits_count_per_request_not_per_call(gemini_emulator: GeminiEmulator) -> None:
    items = [[part(png(i * 10 + j), "image/png") for j in range(6)] for i in range(3)]
    assert embed_parts(gemini_emulator.client(), *items).shape == (3, 256)
