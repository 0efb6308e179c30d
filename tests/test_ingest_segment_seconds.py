"""``segment_seconds`` reaches ``index`` (issue 13, item 2) and is part of the recorded chunker version.

The model samples at most 32 frames of a video segment, so a user who wants finer time resolution asks
for shorter segments (``gemini-vectors index --segment-seconds 30``). ``chunk_video``/``chunk_audio``
took the option but ``chunk_file``, the Indexer and the CLI did not; and since the ``chunker`` value
stored with each file names the options that shaped its chunks, a changed value must re-chunk exactly
the media it affects (and leave the files it does not affect unchanged), so the stored vectors are those
of the chunks the current options cut (guarantee 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors.chunking import chunk_file
from gemini_vectors.cli import main
from gemini_vectors.ingest import Indexer, chunk_id, chunker_version
from gemini_vectors.testing import GeminiEmulator
from tests import media


def stored_are_the_chunks(coll: gv.Collection, path: Path, **options: object) -> list[tuple[float, float]]:
    """The file's records are exactly the chunks ``options`` cut, each with that chunk's vector; returns
    their spans in seconds."""
    assert coll.embedder is not None
    chunks = chunk_file(path, coll.embedder.model_info, **options)  # type: ignore[arg-type]
    source = str(path.resolve())
    mine = {
        r.id: r for r in coll.get(list(coll.ids()), include_vectors=True) if r.metadata["source"] == source
    }
    assert sorted(mine) == sorted(chunk_id(source, c.index) for c in chunks)
    expected = coll.embedder.embed_documents([c.part for c in chunks], titles=[c.title for c in chunks])
    for chunk, vector in zip(chunks, expected, strict=True):
        assert np.allclose(mine[chunk_id(source, chunk.index)].vector, vector, atol=1e-6)
    return [(c.position.start, c.position.end) for c in chunks]


def test_chunk_file_passes_segment_seconds_to_the_media_chunkers(
    gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    model = gv.Embedder(dimensions=128, client=gemini_emulator.client()).model_info
    wav = media.write(tmp_path, "talk.wav", media.cached("wav_signal", 100))
    clip = media.write(tmp_path, "clip.mp4", media.cached("video_gop", 100))
    assert len(chunk_file(wav, model)) == 1 and len(chunk_file(clip, model)) == 1  # within the GA limits
    for path in (wav, clip):
        chunks = chunk_file(path, model, segment_seconds=30)
        assert len(chunks) >= 4
        assert all(c.position.end - c.position.start <= 30 + 1e-6 for c in chunks)


def test_segment_seconds_is_in_the_chunker_version(gemini_emulator: GeminiEmulator) -> None:
    model = gv.Embedder(dimensions=128, client=gemini_emulator.client()).model_info
    default = chunker_version("video", model)
    assert chunker_version("video", model, segment_seconds=30) != default
    assert chunker_version("video", model, segment_seconds=30) != chunker_version(
        "video", model, segment_seconds=45
    )
    assert chunker_version("audio", model, segment_seconds=30) != chunker_version("audio", model)
    # files it does not shape keep their version, and so are not re-chunked
    for kind in ("text", "pdf", "image"):
        assert chunker_version(kind, model, segment_seconds=30) == chunker_version(kind, model)


def test_cli_a_changed_segment_length_rechunks_only_the_media(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    wav = media.write(folder, "talk.wav", media.cached("wav_signal", 100))
    media.write(folder, "notes.md", media.prose(3, seed=4).encode())
    store = f"memory://segments-{tmp_path.name}"
    args = ["index", str(folder), "--collection", "files", "--store", store, "--dimensions", "128"]
    coll = gv.connect(store).collection(
        "files", embedder=gv.Embedder(dimensions=128, client=gemini_env.client(), progress=False)
    )

    assert main(args) == 0
    assert len(stored_are_the_chunks(coll, wav)) == 1  # 100 s is within the 180 s limit

    capsys.readouterr()
    assert main([*args, "--segment-seconds", "30"]) == 0
    assert "1 files indexed" in capsys.readouterr().out  # the WAV; the text file is unchanged
    spans = stored_are_the_chunks(coll, wav, segment_seconds=30)
    assert len(spans) >= 4 and all(end - start <= 30 + 1e-6 for start, end in spans)

    assert main([*args, "--segment-seconds", "50"]) == 0  # fewer, longer segments: stale ones removed
    longer = stored_are_the_chunks(coll, wav, segment_seconds=50)
    assert len(longer) < len(spans)

    gemini_env.stats.reset()
    capsys.readouterr()
    assert main([*args, "--segment-seconds", "50"]) == 0
    assert "0 files indexed (0 chunks stored), 2 unchanged" in capsys.readouterr().out
    assert gemini_env.stats.total_calls == 0


def test_a_bad_segment_length_is_refused_before_anything_is_sent(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    media.write(tmp_path, "talk.wav", media.cached("wav_signal", 10))
    store = f"memory://bad-segments-{tmp_path.name}"
    args = ["index", str(tmp_path), "--collection", "files", "--store", store, "--dimensions", "128"]
    assert main([*args, "--segment-seconds", "0"]) == 2
    assert "segment_seconds must be" in capsys.readouterr().err
    assert gemini_env.stats.total_calls == 0
    coll = gv.connect(store).collection("x", embedder=gv.Embedder(dimensions=128, client=gemini_env.client()))
    with pytest.raises(gv.ConfigurationError, match="segment_seconds"):
        Indexer(coll, segment_seconds=float("nan"))
