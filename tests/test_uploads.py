"""Large media through the File API: uploaded, waited on, sent by uri and deleted, over the real SDK."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors.errors import EmbeddingError
from gemini_vectors.retry import RetryPolicy
from gemini_vectors.testing import GeminiEmulator
from gemini_vectors.uploads import FileUploads, UploadError, inline_media_bytes
from tests import media


def test_embedder_uploads_media_over_the_threshold_and_deletes_them(gemini_emulator: GeminiEmulator) -> None:
    client = gemini_emulator.client()
    big = gv.Audio(media.wav_signal(3, rate=4000))  # 24 kB
    small = gv.Image(media.png())
    inline = gv.Embedder(dimensions=128, client=client, upload_threshold_bytes=None).embed([big, small])
    assert gemini_emulator.stats.uploads == 0
    gemini_emulator.stats.reset()

    emb = gv.Embedder(dimensions=128, client=client, upload_threshold_bytes=10_000)
    vectors = emb.embed([big, small, "some text"])
    stats = gemini_emulator.stats
    assert stats.uploads == 1 and stats.file_deletes == 1 and stats.files_stored == 0
    assert stats.calls.get("files.upload") == 1
    # the uploaded bytes embed exactly as the inline ones did
    np.testing.assert_allclose(vectors[:2], inline, atol=1e-6)
    # the call itself carried a uri, not 24 kB of base64
    assert max(size for _, size in stats.call_sizes) < 10_000


def test_upload_waits_until_the_file_is_active(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.file_processing_seconds = 0.4
    emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(), upload_threshold_bytes=1_000)
    emb.embed([gv.Video(media.cached("video_gop", 4))])
    stats = gemini_emulator.stats
    assert stats.calls.get("files.get", 0) >= 1  # polled while PROCESSING
    assert stats.statuses.get(400, 0) == 0  # never used before ACTIVE
    assert stats.uploads == 1 and stats.files_stored == 0


def test_uploads_are_deleted_when_the_call_fails(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.rate_503 = 1.0
    gemini_emulator.faults.retry_after = 0.01
    emb = gv.Embedder(
        dimensions=128,
        client=gemini_emulator.client(),
        upload_threshold_bytes=1_000,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02),
    )
    with pytest.raises(EmbeddingError):
        emb.embed([gv.Audio(media.wav_signal(2, rate=4000)), gv.Audio(media.wav_signal(3, rate=4000))])
    stats = gemini_emulator.stats
    assert stats.uploads == 2 and stats.file_deletes == 2 and stats.files_stored == 0


def test_offload_uploads_the_largest_parts_first(gemini_emulator: GeminiEmulator) -> None:
    item = gv.Item(["a caption", gv.Image(media.png(64, 64)), gv.Audio(media.wav_signal(2, rate=4000))])
    with FileUploads(gemini_emulator.client()) as uploads:
        offloaded = uploads.offload(item, max_inline_bytes=1_000)
        assert [type(p).__name__ for p in offloaded.parts] == ["Text", "Image", "Audio"]
        audio = offloaded.parts[2]
        assert isinstance(audio, gv.Audio) and audio.uri is not None and audio.data is not None
        assert inline_media_bytes(offloaded) <= 1_000  # the image (small) stayed inline
        image = offloaded.parts[1]
        assert isinstance(image, gv.Image) and image.uri is None
        assert offloaded.content_hash() == item.content_hash()  # same content, whatever travels
        assert gemini_emulator.stats.files_stored == 1
    assert gemini_emulator.stats.files_stored == 0


def test_a_file_that_fails_processing_is_an_upload_error(gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.file_processing_seconds = 30
    uploads = FileUploads(gemini_emulator.client(), timeout=0.3, poll_interval=0.1)
    with uploads, pytest.raises(UploadError, match="still PROCESSING"):
        uploads.upload(gv.Image(media.png()))
    assert gemini_emulator.stats.files_stored == 0  # deleted even though it never became ACTIVE


async def test_aembed_uploads_off_the_event_loop_and_deletes(gemini_emulator: GeminiEmulator) -> None:
    import threading

    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = FileUploads.upload

    def spying_upload(self: FileUploads, part: gv.Audio) -> gv.Audio:  # type: ignore[override]
        seen.append(threading.get_ident())
        return original(self, part)  # type: ignore[return-value]

    FileUploads.upload = spying_upload  # type: ignore[method-assign,assignment]
    try:
        emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(), upload_threshold_bytes=10_000)
        vectors = await emb.aembed([gv.Audio(media.wav_signal(3, rate=4000)), "text"])
    finally:
        FileUploads.upload = original  # type: ignore[method-assign]
    assert vectors.shape == (2, 128)
    assert seen and all(ident != loop_thread for ident in seen)  # the upload ran in a worker thread
    assert gemini_emulator.stats.uploads == 1 and gemini_emulator.stats.files_stored == 0


# The SDK sends the base name of a path in the X-Goog-Upload-File-Name header, which takes ASCII only:
# a file named café.wav (or one whose name is not valid UTF-8) that is large enough for the File API
# used to crash the whole call with a UnicodeEncodeError. It is now uploaded from an open file.
NON_ASCII_NAMES = pytest.mark.parametrize(
    ("name", "display"),
    [("café.wav", "caf\\xe9.wav"), (os.fsdecode(b"take\xff.wav"), "take\\xff.wav")],
    ids=["accented", "not-utf8"],
)


@NON_ASCII_NAMES
def test_a_file_whose_name_is_not_ascii_is_uploaded(
    gemini_emulator: GeminiEmulator, tmp_path: Path, name: str, display: str
) -> None:
    path = tmp_path / name
    path.write_bytes(media.wav_signal(3, rate=4000))  # 24 kB, over the threshold below
    client = gemini_emulator.client()
    inline = gv.Embedder(dimensions=128, client=client, upload_threshold_bytes=None).embed([gv.Audio(path)])
    gemini_emulator.stats.reset()
    emb = gv.Embedder(dimensions=128, client=client, upload_threshold_bytes=1_000)
    uploaded = emb.embed([gv.Audio(path)])
    stats = gemini_emulator.stats
    assert stats.uploads == 1 and stats.file_deletes == 1 and stats.files_stored == 0
    np.testing.assert_allclose(uploaded, inline, atol=1e-6)  # the uploaded bytes are the file's


@NON_ASCII_NAMES
def test_the_display_name_of_a_non_ascii_file_is_escaped_ascii(
    gemini_emulator: GeminiEmulator, tmp_path: Path, name: str, display: str
) -> None:
    path = tmp_path / name
    path.write_bytes(media.wav_signal(1, rate=4000))
    client = gemini_emulator.client()
    with FileUploads(client) as uploads:
        part = uploads.upload(gv.Audio(path))
        assert part.uri is not None and part.mime_type == "audio/wav"
        stored = client.files.get(name=uploads.names[0])
        assert stored.display_name == display and stored.mime_type == "audio/wav"
        assert stored.size_bytes == path.stat().st_size
    assert gemini_emulator.stats.files_stored == 0
