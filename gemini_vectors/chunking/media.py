"""Audio and video chunking (overlapping segments under the model's duration limits) and image conversion.

**Why PyAV, not an ffmpeg binary.** Cutting without re-encoding needs packet-level control: the list of
video keyframes (a stream copy can only start a segment on one), each packet's timestamps, and
rebasing them into a new container. PyAV gives exactly that in-process from the ffmpeg libraries
bundled in its wheel (already the ``media`` extra, and what the test media are made with), and fails
with Python exceptions. An ffmpeg binary from a PyPI wheel would mean a subprocess per segment, an
``ffprobe`` round trip to find keyframes and parsing text output, and ``-ss``/``-t`` with ``-c copy``
snaps cuts to keyframes silently, so the segment lengths we promise could not be checked before
sending.

How each kind is cut:

* **WAV** with the standard library's :mod:`wave`: PCM frames are independent, so cuts are exact to the
  sample. WAVs that :mod:`wave` cannot read (IEEE float, extensible) are remuxed with PyAV instead.
* **MP3** (and those WAVs) by stream copy with PyAV: a segment holds the packets whose timestamps fall
  in it, so cuts land on a frame boundary (26 ms for MP3).
* **Video** by stream copy: segments start and end on video keyframes, with the audio packets of the
  same span. When keyframes are too far apart for any segment to fit under the limit (long GOPs), the
  video track of each segment is re-encoded with libx264 and the audio packets are still copied.

The limits are those of the model on the API surface in use (``embedder.model_info``): for
gemini-embedding-2, audio up to 180 s; video up to 120 s, and on Vertex AI up to 80 s when the file has an
audio track (the Gemini API does not process a video's audio track, so it does not shorten the limit).

Segments are at most ``limit - margin`` seconds long (the margin, 4 s by default, covers AAC priming
and padding, which make a copied clip's container duration slightly longer than its span), overlap by
``overlap`` seconds so that nothing said across a cut is lost, and are spread evenly over the file
instead of leaving a short tail. A file within the limit is one chunk: the file itself, unchanged.

``segment_seconds`` asks for shorter segments than the limit allows. The model uses at most 32 frames of
a video (``ModelInfo.max_video_frames``), so a 120 s video is seen at about one frame every 3.75 s; cut
into 30 s segments, each segment gets its own 32 frames, about one a second, and search can say *where*
in the file a match is to within 30 s. Shorter segments cost more requests (and the overlap is embedded
twice).
"""

from __future__ import annotations

import io
import math
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemini_vectors.chunking.chunk import Chunk, Position, numbered, part_from_sink, sink
from gemini_vectors.content import LIMIT_READABLE, Audio, Image, Part, Video
from gemini_vectors.errors import ConfigurationError, ContentError
from gemini_vectors.spec import ModelInfo

if TYPE_CHECKING:
    import av.container

__all__ = [
    "DEFAULT_MARGIN_SECONDS",
    "DEFAULT_OVERLAP_SECONDS",
    "MediaInfo",
    "chunk_audio",
    "chunk_video",
    "convert_image",
    "probe_media",
    "segment_length",
    "segment_plan",
]

DEFAULT_OVERLAP_SECONDS = 5.0
DEFAULT_MARGIN_SECONDS = 4.0

_WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
_PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def _av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is installed with the media extra
        raise ConfigurationError(
            "cutting audio and video needs PyAV: pip install 'gemini-vectors[media]'"
        ) from exc
    return av


@dataclass(frozen=True)
class MediaInfo:
    """Duration and tracks of an audio or video file.

    Attributes:
        seconds: Duration of the file (the container's, as the API measures it).
        has_audio: Whether there is an audio track.
        has_video: Whether there is a video track.
    """

    seconds: float
    has_audio: bool
    has_video: bool


def probe_media(path: Path, mime_type: str = "") -> MediaInfo:
    """Read an audio or video file's duration and tracks (PCM WAV with :mod:`wave`, others with PyAV).

    Raises:
        ContentError: the file cannot be read as audio or video.
    """
    if mime_type in _WAV_TYPES:
        try:
            with wave.open(str(path), "rb") as w:
                return MediaInfo(w.getnframes() / w.getframerate(), True, False)
        except (wave.Error, EOFError, ZeroDivisionError):
            pass  # float or extensible WAV: PyAV reads it
    av = _av()
    try:
        with av.open(str(path)) as container:
            has_audio = bool(container.streams.audio)
            has_video = bool(container.streams.video)
            if container.duration is not None:
                seconds = container.duration / 1_000_000
            else:
                seconds = max(
                    (
                        float(s.duration * s.time_base)
                        for s in container.streams
                        if s.duration and s.time_base
                    ),
                    default=0.0,
                )
            return MediaInfo(seconds, has_audio, has_video)
    except av.FFmpegError as exc:
        raise _unreadable(path, mime_type, exc) from exc


def _unreadable(path: Path, mime_type: str, exc: BaseException) -> ContentError:
    what = mime_type or "media"
    return ContentError(
        f"{str(path)!r} is not a readable {what} file: {exc or type(exc).__name__} (limit {LIMIT_READABLE})",
        limit=LIMIT_READABLE,
    )


def segment_plan(seconds: float, max_seconds: float, overlap: float) -> list[tuple[float, float]]:
    """Evenly spread, overlapping ``(start, end)`` spans of at most ``max_seconds`` covering ``seconds``.

    The fewest segments that fit are used, all of the same length, each overlapping the next by
    ``overlap`` seconds.

    Raises:
        ValueError: ``max_seconds`` is not larger than ``overlap``.
    """
    if max_seconds <= overlap or max_seconds <= 0:
        raise ValueError(f"segments of {max_seconds} s cannot overlap by {overlap} s")
    if seconds <= max_seconds:
        return [(0.0, seconds)]
    count = math.ceil((seconds - overlap) / (max_seconds - overlap))
    length = (seconds + (count - 1) * overlap) / count
    step = length - overlap
    spans = [(i * step, i * step + length) for i in range(count)]
    spans[-1] = (spans[-1][0], seconds)
    return spans


def _video_limit(model: ModelInfo, has_audio_track: bool) -> float:
    if has_audio_track and model.max_video_seconds_with_audio:
        return min(model.max_video_seconds_with_audio, model.max_video_seconds or math.inf)
    return model.max_video_seconds


def segment_length(
    limit: float, overlap: float, margin: float, segment_seconds: float | None = None
) -> float | None:
    """The longest segment to cut: ``limit - margin``, or ``segment_seconds`` when that is shorter.

    ``limit`` 0 means the model gives none; the answer is then ``segment_seconds`` (None: never cut).

    Raises:
        ConfigurationError: ``segment_seconds`` is not a positive number larger than ``overlap``, or the
            margin leaves no room for the overlap.
    """
    if segment_seconds is not None and (
        isinstance(segment_seconds, bool)
        or not isinstance(segment_seconds, int | float)
        or not math.isfinite(segment_seconds)
        or segment_seconds <= max(overlap, 0.0)
    ):
        raise ConfigurationError(
            f"segment_seconds must be a number of seconds larger than the overlap of {overlap:g} s, "
            f"got {segment_seconds!r}"
        )
    if not limit:
        return None if segment_seconds is None else float(segment_seconds)
    longest = limit - margin
    if longest <= overlap:
        raise ConfigurationError(
            f"a limit of {limit:g} s minus a margin of {margin:g} s leaves no room "
            f"for {overlap:g} s of overlap"
        )
    # The model's limit always applies: a longer segment_seconds gets the longest segment that fits.
    return longest if segment_seconds is None else min(longest, float(segment_seconds))


def _fits_whole(seconds: float, limit: float, segment_seconds: float | None) -> bool:
    within_limit = not limit or seconds <= limit
    return within_limit and (segment_seconds is None or seconds <= segment_seconds)


# --------------------------------------------------------------------------------------------- audio


def chunk_audio(
    path: str | os.PathLike[str],
    mime_type: str,
    model: ModelInfo,
    *,
    overlap: float = DEFAULT_OVERLAP_SECONDS,
    margin: float = DEFAULT_MARGIN_SECONDS,
    scratch: Path | None = None,
    segment_seconds: float | None = None,
) -> list[Chunk]:
    """The audio file as one chunk, or as overlapping segments when it is longer than the model's limit.

    Args:
        path: The MP3 or WAV file.
        mime_type: Its type (``audio/wav`` or ``audio/mpeg``).
        model: The model (on the API surface in use) whose ``max_audio_seconds`` applies.
        overlap: Seconds shared by consecutive segments.
        margin: Seconds kept under the limit.
        scratch: Directory for the segments; they are held in memory when None.
        segment_seconds: Cut into segments of at most this many seconds even when the file is within
            the limit (None: as long as the limit allows).

    Raises:
        ContentError: the file cannot be read or cut.
        ConfigurationError: ``segment_seconds`` is not larger than ``overlap``.
    """
    path = Path(path)
    limit = model.max_audio_seconds
    longest = segment_length(limit, overlap, margin, segment_seconds)
    info = probe_media(path, mime_type)
    if longest is None or _fits_whole(info.seconds, limit, segment_seconds):
        return numbered([(Audio(path=path, mime_type=mime_type), Position("seconds", 0.0, info.seconds))])
    spans = segment_plan(info.seconds, longest, overlap)
    if mime_type in _WAV_TYPES:
        try:
            return numbered(_cut_wav(path, spans, scratch))
        except wave.Error:
            pass  # not PCM: cut by packets below
    fmt = "wav" if mime_type in _WAV_TYPES else "mp3"
    parts: list[tuple[Part, Position]] = []
    for i, (start, end) in enumerate(spans):
        target = sink(scratch, f"{path.stem}.{i:03d}.{fmt}")
        _copy_span(path, start, end, target, fmt, video=False)
        parts.append((part_from_sink(Audio, target, mime_type), Position("seconds", start, end)))
    return numbered(parts)


def _cut_wav(
    path: Path, spans: list[tuple[float, float]], scratch: Path | None
) -> list[tuple[Part, Position]]:
    parts: list[tuple[Part, Position]] = []
    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        rate = reader.getframerate()
        for i, (start, end) in enumerate(spans):
            first, last = round(start * rate), min(round(end * rate), params.nframes)
            reader.setpos(first)
            frames = reader.readframes(last - first)
            target = sink(scratch, f"{path.stem}.{i:03d}.wav")
            with wave.open(str(target) if isinstance(target, Path) else target, "wb") as out:
                out.setparams(params)
                out.writeframes(frames)
            parts.append(
                (part_from_sink(Audio, target, "audio/wav"), Position("seconds", first / rate, last / rate))
            )
    return parts


# --------------------------------------------------------------------------------------------- video


def chunk_video(
    path: str | os.PathLike[str],
    mime_type: str,
    model: ModelInfo,
    *,
    overlap: float = DEFAULT_OVERLAP_SECONDS,
    margin: float = DEFAULT_MARGIN_SECONDS,
    scratch: Path | None = None,
    segment_seconds: float | None = None,
) -> list[Chunk]:
    """The video as one chunk, or as overlapping segments when it is longer than the model's limit.

    The limit is ``max_video_seconds_with_audio`` when the file has an audio track and the surface sets
    one (Vertex AI: 80 s for gemini-embedding-2), else ``max_video_seconds`` (120 s). Segments are stream
    copies cut on keyframes; see the module docstring.

    Args:
        path: The MP4 or MOV file.
        mime_type: Its type (``video/mp4`` or ``video/quicktime``).
        model: The model on the API surface in use (``embedder.model_info``).
        overlap: Seconds shared by consecutive segments.
        margin: Seconds kept under the limit.
        scratch: Directory for the segments; they are held in memory when None.
        segment_seconds: Cut into segments of at most this many seconds even when the file is within
            the limit, for finer time resolution: the model uses at most 32 frames of each segment
            (None: as long as the limit allows, up to 120 s).

    Raises:
        ContentError: the file cannot be read or cut.
        ConfigurationError: ``segment_seconds`` is not larger than ``overlap``.
    """
    path = Path(path)
    segment_length(model.max_video_seconds, overlap, margin, segment_seconds)  # bad options fail first
    info = probe_media(path, mime_type)
    limit = _video_limit(model, info.has_audio)
    longest = segment_length(limit, overlap, margin, segment_seconds)
    if longest is None or _fits_whole(info.seconds, limit, segment_seconds):
        return numbered([(Video(path=path, mime_type=mime_type), Position("seconds", 0.0, info.seconds))])
    fmt = "mov" if mime_type == "video/quicktime" else "mp4"
    av = _av()
    try:
        keyframes, start_time = _keyframes(path)
        spans = _keyframe_plan(keyframes, info.seconds, longest, overlap)
        reencode = spans is None
        if spans is None:
            spans = segment_plan(info.seconds, longest, overlap)
        parts: list[tuple[Part, Position]] = []
        for i, (start, end) in enumerate(spans):
            target = sink(scratch, f"{path.stem}.{i:03d}.{fmt}")
            if reencode:
                _reencode_span(path, start, end, target, fmt, start_time)
            else:
                _copy_span(path, start, end, target, fmt, video=True, start_time=start_time)
            parts.append((part_from_sink(Video, target, mime_type), Position("seconds", start, end)))
        return numbered(parts)
    except av.FFmpegError as exc:
        raise _unreadable(path, mime_type, exc) from exc


def _keyframes(path: Path) -> tuple[list[float], float]:
    """Times of the video keyframes (from the container's start) and that start, in seconds."""
    av = _av()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = (container.start_time or 0) / 1_000_000
        times = [
            float(packet.pts * packet.time_base) - start
            for packet in container.demux(stream)
            if packet.pts is not None and packet.is_keyframe
        ]
    return sorted(set(times)), start


def _keyframe_plan(
    keyframes: list[float], seconds: float, longest: float, overlap: float
) -> list[tuple[float, float]] | None:
    """Spans that start and end on keyframes, near the even plan; None when a GOP is too long to fit."""
    if not keyframes or keyframes[0] > 1e-3:
        return None
    target = segment_plan(seconds, longest, overlap)[0][1]
    spans: list[tuple[float, float]] = []
    start = keyframes[0]
    while seconds - start > longest:
        ends = [k for k in keyframes if start < k <= start + longest]
        if not ends:
            return None
        end = min(ends, key=lambda k: abs(k - (start + target)))
        spans.append((start, end))
        backs = [k for k in keyframes if start < k <= end - overlap]
        start = backs[-1] if backs else end
    spans.append((start, seconds))
    return spans


def _demux_span(
    container: av.container.InputContainer, streams: list[Any], start: float, end: float, start_time: float
) -> Iterator[tuple[Any, float]]:
    """Packets of ``streams`` from the keyframe at or before ``start`` until ``end``, with their times.

    Packets before ``start`` are yielded too (a decoder needs them); callers that copy skip them.
    """
    anchor = streams[0]
    container.seek(
        max(0, int((start + start_time) / anchor.time_base)), stream=anchor, backward=True, any_frame=False
    )
    finished: set[int] = set()
    for packet in container.demux(streams):
        if packet.pts is None or packet.time_base is None:
            continue
        t = float(packet.pts * packet.time_base) - start_time
        if t >= end - 1e-6:
            finished.add(packet.stream.index)
            if len(finished) == len(streams):
                break
            continue
        yield packet, t


def _rebase(packet: Any, start: float, start_time: float) -> None:
    offset = round((start + start_time) / packet.time_base)
    packet.pts -= offset
    if packet.dts is not None:
        packet.dts -= offset


def _copy_span(
    path: Path,
    start: float,
    end: float,
    target: Path | io.BytesIO,
    fmt: str,
    *,
    video: bool,
    start_time: float = 0.0,
) -> None:
    """Stream-copy the packets of ``[start, end)`` into a new container (no re-encoding)."""
    av = _av()
    with av.open(str(path)) as inp:
        streams = [s for s in inp.streams if s.type in (("video", "audio") if video else ("audio",))]
        if video:
            streams.sort(key=lambda s: s.type != "video")  # seek on the video stream's keyframes
        with av.open(str(target) if isinstance(target, Path) else target, "w", format=fmt) as out:
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for packet, t in _demux_span(inp, streams, start, end, start_time):
                if t < start - 1e-6:
                    continue
                _rebase(packet, start, start_time)
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)


def _reencode_span(
    path: Path, start: float, end: float, target: Path | io.BytesIO, fmt: str, start_time: float
) -> None:
    """Cut ``[start, end)`` re-encoding the video track with libx264 (for long GOPs); audio is copied."""
    av = _av()
    with av.open(str(path)) as inp:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        streams: list[Any] = [vin] + ([ain] if ain is not None else [])
        with av.open(str(target) if isinstance(target, Path) else target, "w", format=fmt) as out:
            rate = vin.average_rate or Fraction(25)
            vout = out.add_stream(
                "libx264", rate=rate, options={"preset": "veryfast", "g": str(max(1, round(rate)))}
            )
            vout.width = vin.codec_context.width
            vout.height = vin.codec_context.height
            vout.pix_fmt = "yuv420p"
            aout = out.add_stream_from_template(ain) if ain is not None else None
            tb = Fraction(1, 1000)
            for packet, t in _demux_span(inp, streams, start, end, start_time):
                if packet.stream.type == "audio":
                    if t < start - 1e-6:
                        continue
                    _rebase(packet, start, start_time)
                    packet.stream = aout
                    out.mux(packet)
                    continue
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * vin.time_base) - start_time
                    if not start - 1e-6 <= t < end - 1e-6:
                        continue
                    new = frame.reformat(format="yuv420p")
                    new.pts = round((t - start) / tb)
                    new.time_base = tb
                    out.mux(vout.encode(new))
            # Frames decoded after the last packet of the span (decoder delay).
            for frame in vin.codec_context.decode(None):
                if frame.pts is None:
                    continue
                t = float(frame.pts * vin.time_base) - start_time
                if start - 1e-6 <= t < end - 1e-6:
                    new = frame.reformat(format="yuv420p")
                    new.pts = round((t - start) / tb)
                    new.time_base = tb
                    out.mux(vout.encode(new))
            out.mux(vout.encode(None))


# --------------------------------------------------------------------------------------------- images


def convert_image(path: str | os.PathLike[str], mime_type: str, *, scratch: Path | None = None) -> Image:
    """An image the model accepts: PNG and JPEG as they are; other formats (GIF, WebP, BMP, TIFF...)
    converted to PNG with Pillow (the first frame of an animation).

    Raises:
        ContentError: Pillow cannot read the image.
    """
    path = Path(path)
    if mime_type in _PILLOW_FORMATS:
        return Image(path=path, mime_type=mime_type)
    try:
        from PIL import Image as PILImage
    except ImportError as exc:  # pragma: no cover - pillow is installed with the media extra
        raise ConfigurationError(
            f"converting {mime_type} images to PNG needs Pillow: pip install 'gemini-vectors[media]'"
        ) from exc
    try:
        with PILImage.open(path) as im:
            im.seek(0)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            converted = im.convert("RGBA" if has_alpha else "RGB")
            target = sink(scratch, f"{path.stem}.png")
            converted.save(target, format="PNG")
    except Exception as exc:  # Pillow raises many kinds for undecodable files
        raise ContentError(
            f"{str(path)!r} is {mime_type}, which the model does not accept, and Pillow cannot convert "
            f"it to PNG: {exc or type(exc).__name__} (limit {LIMIT_READABLE})",
            limit=LIMIT_READABLE,
        ) from exc
    return part_from_sink(Image, target, "image/png")
