"""Chunking options are part of the recorded chunker version (issue 12, N11).

A changed ``--max-tokens`` was silently ignored for unchanged files: the ``chunker`` value stored with
each file's records did not include the options, so the file looked unchanged and kept the chunks (and
vectors) of the old options. Now the value names the options and model limits that shape the chunks
(:func:`gemini_vectors.ingest.chunker_version`); a changed option re-chunks exactly the files it affects
and removes their stale chunks, so the stored vectors are those of the chunks the current options
produce (guarantee 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors.chunking import chunk_file
from gemini_vectors.cli import main
from gemini_vectors.ingest import Indexer, chunk_id
from gemini_vectors.store import Record
from gemini_vectors.testing import GeminiEmulator
from tests import media

TEXT = media.prose(40, seed=11)


@pytest.fixture
def emb(gemini_emulator: GeminiEmulator) -> gv.Embedder:
    return gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)


def assert_stored_are_the_current_chunks(coll: gv.Collection, path: Path, **options: object) -> int:
    """The file's records are exactly the chunks ``options`` cut, each with that chunk's vector."""
    assert coll.embedder is not None
    chunks = chunk_file(path, coll.embedder.model_info, **options)  # type: ignore[arg-type]
    source = str(path.resolve())
    mine = [r for r in coll.get(list(coll.ids()), include_vectors=True) if r.metadata["source"] == source]
    assert sorted(r.id for r in mine) == sorted(chunk_id(source, c.index) for c in chunks)
    expected = coll.embedder.embed_documents([c.part for c in chunks], titles=[c.title for c in chunks])
    by_id = {r.id: r for r in mine}
    for chunk, vector in zip(chunks, expected, strict=True):
        record = by_id[chunk_id(source, chunk.index)]
        assert record.metadata["chunk_count"] == len(chunks)
        assert np.allclose(record.vector, vector, atol=1e-6)
    return len(chunks)


def test_cli_a_changed_max_tokens_rechunks(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    notes = folder / "notes.md"
    notes.write_text(TEXT)
    store = f"memory://options-{tmp_path.name}"
    args = ["index", str(folder), "--collection", "docs", "--store", store, "--dimensions", "128"]
    coll = gv.connect(store).collection(
        "docs", embedder=gv.Embedder(dimensions=128, client=gemini_env.client(), progress=False)
    )

    assert main([*args, "--max-tokens", "300"]) == 0
    medium = assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=300)

    assert main([*args, "--max-tokens", "100"]) == 0
    assert "1 files indexed" in capsys.readouterr().out  # not "1 unchanged"
    small = assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=100)
    assert small > medium

    assert main([*args, "--max-tokens", "1000"]) == 0  # fewer chunks: the stale ones are removed
    large = assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=1000)
    assert large < medium and coll.count() == large

    gemini_env.stats.reset()
    capsys.readouterr()
    assert main([*args, "--max-tokens", "1000"]) == 0
    assert "0 files indexed (0 chunks stored), 1 unchanged" in capsys.readouterr().out
    assert gemini_env.stats.total_calls == 0


def test_an_option_rechunks_only_the_files_it_affects(
    emb: gv.Embedder, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    coll = gv.connect("memory://").collection("files", embedder=emb)
    notes = tmp_path / "notes.md"
    notes.write_text(TEXT)
    wav = media.write(tmp_path, "long.wav", media.cached("wav_signal", 200))
    media.write(tmp_path, "photo.png", media.png(8, 8))

    def run(**options: object) -> dict[str, str]:
        report = Indexer(coll, **options).index([tmp_path])  # type: ignore[arg-type]
        assert report.failed == []
        return {r.path.name: r.status for r in report.files}

    assert set(run(max_text_tokens=200).values()) == {"indexed"}
    assert run(max_text_tokens=150) == {
        "long.wav": "unchanged",
        "notes.md": "indexed",
        "photo.png": "unchanged",
    }
    assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=150)
    overlap = run(max_text_tokens=150, text_overlap_tokens=0)
    assert overlap["notes.md"] == "indexed" and overlap["long.wav"] == "unchanged"
    assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=150, text_overlap_tokens=0)

    media_options = {"max_text_tokens": 150, "text_overlap_tokens": 0, "overlap_seconds": 10.0}
    assert run(**media_options) == {"long.wav": "indexed", "notes.md": "unchanged", "photo.png": "unchanged"}
    assert_stored_are_the_current_chunks(coll, wav, **media_options)  # segments cut in memory
    margin = run(**media_options, margin_seconds=8.0)
    assert margin["long.wav"] == "indexed" and margin["notes.md"] == "unchanged"


def test_records_of_the_old_version_are_rechunked_once(
    emb: gv.Embedder, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    coll = gv.connect("memory://").collection("files", embedder=emb)
    notes = tmp_path / "notes.md"
    notes.write_text(TEXT)
    Indexer(coll, max_text_tokens=300).index([tmp_path])
    # what the previous release stored: the same records, with the chunker version "1" alone
    old = coll.get(list(coll.ids()), include_vectors=True)
    coll.upsert_vectors([Record(r.id, r.vector, {**r.metadata, "chunker": "1"}, r.content_hash) for r in old])

    gemini_emulator.stats.reset()
    report = Indexer(coll, max_text_tokens=300).index([tmp_path], prune=True)
    assert [r.status for r in report.files] == ["indexed"] and report.pruned == []
    assert gemini_emulator.stats.embed_calls == 0  # same chunks: nothing is embedded again
    assert {r.metadata["chunker"] for r in coll.get(list(coll.ids()), include_vectors=False)} != {"1"}
    assert_stored_are_the_current_chunks(coll, notes, max_text_tokens=300)
    # and from then on it is unchanged
    assert [r.status for r in Indexer(coll, max_text_tokens=300).index([tmp_path]).files] == ["unchanged"]
    # a record of the old version is still recognised as the indexer's: prune removes it once deleted
    notes.unlink()
    assert Indexer(coll).prune([tmp_path]) == [str(notes.resolve())] and coll.count() == 0
