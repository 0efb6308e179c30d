"""Chunkers: every chunk fits the model's limits, positions are right, and nothing is dropped."""

from __future__ import annotations

import io
import itertools
import wave
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from gemini_vectors.chunking import (
    Chunk,
    Position,
    UnsupportedFileError,
    chunk_audio,
    chunk_file,
    chunk_pdf,
    chunk_text,
    chunk_video,
    classify,
    convert_image,
    html_to_text,
    page_ranges,
    segment_plan,
    split_text,
    text_budget,
)
from gemini_vectors.content import Audio, Image, Text, Video, check_item, estimate_tokens
from gemini_vectors.errors import ConfigurationError, ContentError, UnsupportedMediaError
from gemini_vectors.spec import get_model
from tests import media

G2 = get_model("gemini-embedding-2")
G2_VERTEX = get_model("gemini-embedding-2", "vertex-ai")


def _bytes(chunk: Chunk) -> bytes:
    part = chunk.part
    assert not isinstance(part, Text)
    return part.read_bytes()


def _av_info(data: bytes) -> tuple[float, list[str]]:
    with av.open(io.BytesIO(data)) as c:
        return c.duration / 1_000_000, [s.type for s in c.streams]


# --------------------------------------------------------------------------------------------- text


def test_short_text_is_one_chunk() -> None:
    [span] = split_text("  Hello there.\n\nSecond paragraph.  ", 100)
    assert (span.start, span.end, span.text) == (2, 33, "Hello there.\n\nSecond paragraph.")


def test_long_text_breaks_on_paragraphs_with_overlap() -> None:
    text = media.prose(40, seed=1)
    spans = split_text(text, 400, 60)
    assert len(spans) >= estimate_tokens(text) // 400
    for s in spans:
        assert s.tokens <= 400 and text[s.start : s.end] == s.text
    assert spans[0].start == 0 and spans[-1].end == len(text)
    for a, b in itertools.pairwise(spans):
        assert b.start <= a.end  # contiguous or overlapping: nothing is skipped
        assert b.start > a.start
        assert text[a.end - 1] == "."  # every chunk ends on a sentence
    ends_on_paragraph = sum(1 for s in spans[:-1] if text[s.end : s.end + 2] == "\n\n")
    assert ends_on_paragraph >= len(spans) // 2
    assert any(b.start < a.end for a, b in itertools.pairwise(spans))  # some overlap


def test_one_huge_paragraph_breaks_on_sentences() -> None:
    text = media.prose(1, sentences=200, seed=2)
    spans = split_text(text, 300, 0)
    assert len(spans) > 1
    for a, b in itertools.pairwise(spans):
        assert text[a.end - 1] == "."
        assert text[a.end : b.start].strip() == ""  # no overlap asked: chunks meet


def test_text_without_spaces_is_cut_by_characters() -> None:
    text = "é" * 5000  # 2 bytes each: 10,000 bytes
    spans = split_text(text, 100, 10)
    assert all(s.tokens <= 100 for s in spans)
    assert "".join(s.text for s in split_text(text, 100, 0)) == text


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab .!?\n\u3002x\u00e9")), max_size=600),
    budget=st.integers(2, 60),
    data=st.data(),
)
def test_split_text_property(text: str, budget: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, budget - 1))
    spans = split_text(text, budget, overlap)
    covered = [False] * len(text)
    for s in spans:
        assert s.text and s.tokens <= budget
        assert text[s.start : s.end] == s.text
        for i in range(s.start, s.end):
            covered[i] = True
    assert all(covered[i] for i, c in enumerate(text) if not c.isspace())
    assert [s.start for s in spans] == sorted({s.start for s in spans})


def test_budget_leaves_room_for_the_document_prefix() -> None:
    plain = text_budget(G2)
    titled = text_budget(G2, "A rather long title for this document")
    assert plain < G2.max_input_tokens and titled < plain
    text = media.prose(300, seed=3)
    chunks = chunk_text(text, titled, title="A rather long title for this document")
    assert len(chunks) > 2 and chunks[0].count == len(chunks)
    for c in chunks:
        # exactly what the Embedder checks before sending
        from gemini_vectors.spec import TaskType, apply_task_prefix

        reserved = estimate_tokens(apply_task_prefix(TaskType.RETRIEVAL_DOCUMENT, "", c.title))
        check_item(c.part, G2, reserved_tokens=reserved)
    assert text_budget(G2, max_tokens=500) == 500


def test_html_to_text() -> None:
    page = media.html_page("My  Title", ["First &amp; foremost.", "Second<br>line."]).decode()
    extracted = html_to_text(page)
    assert extracted.title == "My Title"
    assert "SCRIPT TEXT" not in extracted.text and "color" not in extracted.text
    assert extracted.text == "First & foremost.\n\nSecond\nline."


# --------------------------------------------------------------------------------------------- pdf


def test_pdf_of_14_pages_becomes_1_6_7_12_13_14(tmp_path: Path) -> None:
    path = media.write(
        tmp_path, "paper.pdf", media.pdf_text([f"page {i} talks about topic{i}" for i in range(1, 15)])
    )
    chunks = chunk_pdf(path, 6, scratch=tmp_path)
    assert [(c.position.start, c.position.end) for c in chunks] == [(1, 6), (7, 12), (13, 14)]
    assert [(c.index, c.count) for c in chunks] == [(0, 3), (1, 3), (2, 3)]
    for c in chunks:
        reader = PdfReader(io.BytesIO(_bytes(c)))
        first, last = int(c.position.start), int(c.position.end)
        assert len(reader.pages) == last - first + 1
        assert [p.extract_text() for p in reader.pages] == [
            f"page {i} talks about topic{i}" for i in range(first, last + 1)
        ]
        check_item(c.part, G2)
    assert page_ranges(12, 6) == [(1, 6), (7, 12)]


def test_short_pdf_is_the_file_itself(tmp_path: Path) -> None:
    path = media.write(tmp_path, "short.pdf", media.pdf(6))
    [chunk] = chunk_pdf(path, 6)
    assert chunk.part.path == path and chunk.position == Position("pages", 1, 6)


def test_damaged_pdf_is_a_content_error(tmp_path: Path) -> None:
    path = media.write(tmp_path, "bad.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50)
    with pytest.raises(ContentError, match="not a readable PDF"):
        chunk_pdf(path, 6)


# --------------------------------------------------------------------------------------------- audio


def test_segment_plan_is_even_and_overlapping() -> None:
    assert segment_plan(60, 76, 5) == [(0.0, 60)]
    spans = segment_plan(200, 76, 5)
    assert spans == [(0.0, 70.0), (65.0, 135.0), (130.0, 200)]
    long = segment_plan(3600, 76, 5)
    assert all(e - s <= 76 for s, e in long) and long[-1][1] == 3600
    assert all(b[0] == pytest.approx(a[1] - 5) for a, b in itertools.pairwise(long))


def test_200_s_wav_is_cut_exactly(tmp_path: Path) -> None:
    path = media.write(tmp_path, "long.wav", media.cached("wav_signal", 200))
    chunks = chunk_audio(path, "audio/wav", G2, scratch=tmp_path)
    # 180 s is the limit: two even segments of (200 + 5) / 2 s, overlapping by 5 s
    assert [(c.position.start, c.position.end) for c in chunks] == [(0, 102.5), (97.5, 200)]
    with wave.open(str(path)) as w:
        source = w.readframes(w.getnframes())
    for c in chunks:
        assert isinstance(c.part, Audio) and c.part.path is not None and c.part.path.parent == tmp_path
        stats = check_item(c.part, G2)
        assert stats.audio_seconds == 102.5
        with wave.open(io.BytesIO(_bytes(c))) as w:
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
        first = int(c.position.start * rate) * 2
        assert frames == source[first : first + len(frames)]  # the same samples, not re-encoded


def test_float_wav_and_mp3_are_cut_by_packets(tmp_path: Path) -> None:
    for name, data, mime in (
        ("float.wav", media.wav_float(100, rate=4000), "audio/wav"),
        ("long.mp3", media.cached("mp3", 100, rate=8000), "audio/mpeg"),
    ):
        path = media.write(tmp_path, name, data)
        chunks = chunk_audio(path, mime, G2, segment_seconds=60)  # within the limit, cut on request
        bounds = [x for c in chunks for x in (c.position.start, c.position.end)]
        assert bounds == pytest.approx([0, 52.5, 47.5, 100], abs=0.1)  # MP3 frames pad the end a little
        for c in chunks:
            stats = check_item(c.part, G2)
            assert stats.audio_seconds == pytest.approx(52.5, abs=0.2)
            assert c.part.mime_type == mime


def test_short_audio_is_the_file_itself(tmp_path: Path) -> None:
    path = media.write(tmp_path, "short.wav", media.wav(80))
    [chunk] = chunk_audio(path, "audio/wav", G2)
    assert chunk.part.path == path and chunk.position == Position("seconds", 0, 80)


@pytest.mark.parametrize("model", [G2, G2_VERTEX], ids=["gemini-api", "vertex-ai"])
def test_170_s_wav_is_one_chunk(tmp_path: Path, model: object) -> None:
    # The preview's limit was 80 s, which cut this file in three; GA takes 180 s on both surfaces.
    path = media.write(tmp_path, "talk.wav", media.cached("wav", 170))
    [chunk] = chunk_audio(path, "audio/wav", model)  # type: ignore[arg-type]
    assert chunk.part.path == path and chunk.position == Position("seconds", 0, 170)
    assert check_item(chunk.part, model).audio_seconds == 170  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- video


@pytest.mark.parametrize(
    ("model", "count", "limit"), [(G2, 2, 120), (G2_VERTEX, 3, 80)], ids=["gemini-api", "vertex-ai"]
)
def test_150_s_mp4_with_audio_is_stream_copied_on_keyframes(
    tmp_path: Path, model: object, count: int, limit: float
) -> None:
    data = media.cached("video_gop", 150, audio=True)
    path = media.write(tmp_path, "clip.mp4", data)
    chunks = chunk_video(path, "video/mp4", model)  # type: ignore[arg-type]
    assert len(chunks) == count
    with av.open(str(path)) as source:
        packets = [p for p in source.demux(source.streams.video[0]) if p.pts is not None]
        keyframes = {float(p.pts * p.time_base) for p in packets if p.is_keyframe}
        source_packets = {float(p.pts * p.time_base): bytes(p) for p in packets}
    assert chunks[0].position.start == 0 and chunks[-1].position.end == pytest.approx(150, abs=0.1)
    for a, b in itertools.pairwise(chunks):
        assert b.position.start < a.position.end  # overlapping
    for c in chunks:
        assert c.position.start in keyframes
        seconds, streams = _av_info(_bytes(c))
        assert streams == ["video", "audio"]
        assert seconds <= limit - 3  # under the surface's limit for video with audio, with the margin
        stats = check_item(c.part, model)  # type: ignore[arg-type]
        assert stats.video_has_audio and stats.video_seconds <= limit
        with av.open(io.BytesIO(_bytes(c)), "r") as cut:
            first = next(p for p in cut.demux(cut.streams.video[0]) if p.pts is not None)
            # stream copy: the segment's first packet is the source's keyframe packet, byte for byte
            assert bytes(first) == source_packets[c.position.start]


def test_long_gop_video_is_reencoded_within_the_limit(tmp_path: Path) -> None:
    # libx264's default GOP (250 frames = 125 s at 2 fps) leaves no keyframe to cut on. On Vertex AI a
    # video with an audio track takes 80 s, so these 100 s are cut.
    path = media.write(tmp_path, "talk.mov", media.cached("video", 100, audio=True, container="mov"))
    chunks = chunk_video(path, "video/quicktime", G2_VERTEX, scratch=tmp_path)
    bounds = [x for c in chunks for x in (c.position.start, c.position.end)]
    assert bounds == pytest.approx([0, 52.5, 47.5, 100], abs=0.1)  # AAC pads the end a little
    for c in chunks:
        assert c.part.mime_type == "video/quicktime"
        seconds, streams = _av_info(_bytes(c))
        assert streams == ["video", "audio"] and seconds == pytest.approx(52.5, abs=0.6)
        with av.open(io.BytesIO(_bytes(c)), "r") as cut:
            frames = len(list(cut.decode(video=0)))
        assert frames == pytest.approx(105, abs=2)  # 52.5 s at 2 fps, all decodable
        check_item(c.part, G2_VERTEX)


@pytest.mark.parametrize("model", [G2, G2_VERTEX], ids=["gemini-api", "vertex-ai"])
def test_video_without_audio_gets_the_120_s_limit(tmp_path: Path, model: object) -> None:
    path = media.write(tmp_path, "silent.mp4", media.cached("video_gop", 200))
    chunks = chunk_video(path, "video/mp4", model)  # type: ignore[arg-type]
    assert len(chunks) == 2
    for c in chunks:
        seconds, streams = _av_info(_bytes(c))
        assert streams == ["video"] and 80 < seconds <= 116
    short = media.write(tmp_path, "short.mp4", media.cached("video_gop", 100))
    [whole] = chunk_video(short, "video/mp4", model)  # type: ignore[arg-type]
    assert isinstance(whole.part, Video) and whole.part.path == short


def test_110_s_video_with_audio_is_one_chunk_on_the_gemini_api_and_two_on_vertex(tmp_path: Path) -> None:
    path = media.write(tmp_path, "clip.mp4", media.cached("video_gop", 110, audio=True))
    # The Gemini API ignores the audio track: 110 s is within its 120 s, and the file is sent as it is.
    [whole] = chunk_video(path, "video/mp4", G2)
    assert isinstance(whole.part, Video) and whole.part.path == path
    assert whole.position.start == 0 and whole.position.end == pytest.approx(110, abs=0.1)
    # Vertex AI takes 80 s of video with audio: two overlapping segments of about (110 + 5) / 2 s.
    first, second = chunk_video(path, "video/mp4", G2_VERTEX)
    assert first.position.start == 0 and second.position.end == pytest.approx(110, abs=0.1)
    assert first.position.end == pytest.approx(57.5, abs=2)  # the nearest keyframe (every 2 s)
    assert second.position.start < first.position.end  # overlapping
    for c in (first, second):
        stats = check_item(c.part, G2_VERTEX)
        assert stats.video_has_audio and stats.video_seconds <= 80 - 3


def test_segment_seconds_gives_finer_video_segments(tmp_path: Path) -> None:
    # 32 frames of a 110 s video are one every ~3.4 s; 30 s segments get their own 32 frames each.
    path = media.write(tmp_path, "clip.mp4", media.cached("video_gop", 110, audio=True))
    chunks = chunk_video(path, "video/mp4", G2, segment_seconds=30)
    # ceil((110 - 5) / (30 - 5)) = 5 with exact cuts; cuts on keyframes (every 2 s) may need one more
    assert 5 <= len(chunks) <= 6
    assert chunks[0].position.start == 0 and chunks[-1].position.end == pytest.approx(110, abs=0.1)
    for a, b in itertools.pairwise(chunks):
        assert b.position.start < a.position.end  # overlapping, nothing dropped
    for c in chunks:
        assert c.position.end - c.position.start <= 30
        seconds, streams = _av_info(_bytes(c))
        assert streams == ["video", "audio"] and seconds <= 30 + 1
    # A segment length over the limit gets the longest segments the limit allows.
    assert len(chunk_video(path, "video/mp4", G2_VERTEX, segment_seconds=500)) == 2


@pytest.mark.parametrize("bad", [5, 3.0, 0, -1, float("nan"), float("inf"), True])
def test_segment_seconds_must_exceed_the_overlap(tmp_path: Path, bad: float) -> None:
    path = media.write(tmp_path, "clip.mp4", media.cached("video_gop", 10))
    with pytest.raises(ConfigurationError, match="segment_seconds"):
        chunk_video(path, "video/mp4", G2, segment_seconds=bad)
    wav = media.write(tmp_path, "a.wav", media.wav(3))
    with pytest.raises(ConfigurationError, match="segment_seconds"):
        chunk_audio(wav, "audio/wav", G2, segment_seconds=bad)


# ---------------------------------------------------------------------------------------- images and kinds


@pytest.mark.parametrize(("make", "mime"), [(media.gif, "image/gif"), (media.webp, "image/webp")])
def test_unaccepted_images_become_png(tmp_path: Path, make: object, mime: str) -> None:
    path = media.write(tmp_path, "pic", make())  # type: ignore[operator]
    image = convert_image(path, mime)
    assert image.mime_type == "image/png" and image.read_bytes().startswith(b"\x89PNG")
    check_item(image, G2)


def test_accepted_images_are_not_converted(tmp_path: Path) -> None:
    path = media.write(tmp_path, "pic.jpg", media.jpeg())
    image = convert_image(path, "image/jpeg")
    assert isinstance(image, Image) and image.path == path and image.data is None


def test_classify(tmp_path: Path) -> None:
    assert classify(media.write(tmp_path, "a.md", b"# Title\n")) == ("text", "text/plain")
    assert classify(media.write(tmp_path, "a.html", b"<p>x</p>")) == ("html", "text/html")
    assert classify(media.write(tmp_path, "photo.png", media.jpeg())) == (
        "image",
        "image/jpeg",
    )  # content wins
    with pytest.raises(UnsupportedFileError, match=r"\.docx"):
        classify(media.write(tmp_path, "a.docx", media.docx()))
    with pytest.raises(ContentError, match="empty"):
        classify(media.write(tmp_path, "empty.txt", b""))
    with pytest.raises(UnsupportedMediaError, match="named like text but is not UTF-8"):
        classify(media.write(tmp_path, "latin.txt", "caf\xe9 au lait".encode("latin-1")))
    with pytest.raises(UnsupportedMediaError, match="named like image but is text/plain"):
        classify(media.write(tmp_path, "fake.png", b"just text"))


def test_chunk_file_html_keeps_title_and_drops_script(tmp_path: Path) -> None:
    path = media.write(tmp_path, "page.html", media.html_page("Guide", ["Alpha beta.", "Gamma delta."]))
    [chunk] = chunk_file(path, G2)
    assert chunk.title == "Guide" and isinstance(chunk.part, Text)
    assert chunk.part.text == "Alpha beta.\n\nGamma delta."
    assert chunk.position == Position("chars", 0, len(chunk.part.text))
