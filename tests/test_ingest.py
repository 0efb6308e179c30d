"""Indexing folders of every modality, over the real SDK against the emulator (which enforces the limits).

The emulator answers 400 for any request over a per-request limit (tokens, 6 PDF pages, 180 s of audio,
120 s of video, on Vertex AI 80 s with an audio track); every test asserts it never had to.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import gemini_vectors as gv
from gemini_vectors.chunking import chunk_text, text_budget
from gemini_vectors.cli import main
from gemini_vectors.ingest import Indexer, chunk_id, index_paths
from gemini_vectors.spec import get_model
from gemini_vectors.testing import GeminiEmulator
from tests import media

G2 = get_model("gemini-embedding-2")
NOTES = media.prose(150, seed=7)
PAGES = [f"page {i} is about topic{i}" for i in range(1, 15)]
NOTES_CHUNKS = len(chunk_text(NOTES, text_budget(G2)))
TOTAL_CHUNKS = NOTES_CHUNKS + 14  # see the counts in test_a_folder_of_every_type


def make_folder(root: Path) -> Path:
    """One file of each type, including a 14-page PDF, a 200 s WAV and a 150 s MP4 with audio."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text(NOTES)
    (root / "readme.md").write_text("# Readme\n\nA short markdown file about compasses.\n")
    media.write(
        root, "page.html", media.html_page("Harbor guide", ["Lanterns in the harbor.", "Copper boats."])
    )
    media.write(root, "paper.pdf", media.pdf_text(PAGES))
    media.write(root, "photo.png", media.png(16, 16, (10, 200, 30)))
    media.write(root, "photo.jpg", media.jpeg(16, 16))
    media.write(root, "anim.gif", media.gif())
    media.write(root, "song.mp3", media.cached("mp3", 10, rate=8000))
    media.write(root, "long.wav", media.cached("wav_signal", 200))
    sub = root / "videos"
    sub.mkdir(exist_ok=True)
    media.write(sub, "clip.mp4", media.cached("video_gop", 150, audio=True))
    media.write(sub, "short.mov", media.cached("video_gop", 20, container="mov"))
    return root


@pytest.fixture
def emb(gemini_emulator: GeminiEmulator) -> gv.Embedder:
    return gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)


@pytest.fixture
def coll(emb: gv.Embedder) -> gv.Collection:
    return gv.connect("memory://").collection("files", embedder=emb)


def by_name(coll: gv.Collection) -> dict[str, list[dict[str, Any]]]:
    """Every stored record's metadata, grouped by file name and sorted by chunk index."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in coll.get(list(coll.ids()), include_vectors=False):
        groups[str(record.metadata["name"])].append(dict(record.metadata))
    return {k: sorted(v, key=lambda m: m["chunk_index"]) for k, v in groups.items()}


def spans(metas: list[dict[str, Any]], a: str, b: str) -> list[tuple[Any, Any]]:
    return [(m[a], m[b]) for m in metas]


def assert_no_request_was_refused(emu: GeminiEmulator) -> None:
    stats = emu.stats
    assert set(stats.statuses) <= {200}, stats.statuses
    assert all(requests <= 100 for requests, _ in stats.call_sizes)
    assert all(size <= emu.limits.max_request_bytes for _, size in stats.call_sizes)


def test_a_folder_of_every_type(coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    report = index_paths(coll, [folder])

    assert report.failed == [] and report.skipped == []
    assert len(report.indexed) == 11
    stored = by_name(coll)
    assert NOTES_CHUNKS >= 3
    counts = {name: len(metas) for name, metas in stored.items()}
    assert counts == {
        "notes.txt": NOTES_CHUNKS,
        "readme.md": 1,
        "page.html": 1,
        "paper.pdf": 3,
        "photo.png": 1,
        "photo.jpg": 1,
        "anim.gif": 1,
        "song.mp3": 1,
        "long.wav": 2,
        "clip.mp4": 2,
        "short.mov": 1,
    }
    total = sum(counts.values())
    assert coll.count() == total == report.chunks_stored == TOTAL_CHUNKS

    # positions
    assert spans(stored["paper.pdf"], "page_start", "page_end") == [(1, 6), (7, 12), (13, 14)]
    assert spans(stored["long.wav"], "start_seconds", "end_seconds") == [(0, 102.5), (97.5, 200)]
    clip = spans(stored["clip.mp4"], "start_seconds", "end_seconds")
    assert clip[0][0] == 0 and clip[-1][1] == pytest.approx(150, abs=0.1)
    for (s1, e1), (s2, _) in itertools.pairwise(clip):
        assert s2 < e1 and s1 < s2  # overlapping, in order
    assert all(e - s <= 116 for s, e in clip)  # 120 s on the Gemini API, minus the margin
    assert spans(stored["song.mp3"], "start_seconds", "end_seconds")[0][1] == pytest.approx(10, abs=0.2)
    notes = spans(stored["notes.txt"], "char_start", "char_end")
    assert notes[0][0] == 0 and notes[-1][1] == len(NOTES)
    assert all(s2 <= e1 for (_, e1), (s2, _) in itertools.pairwise(notes))  # nothing skipped
    assert "char_start" in stored["page.html"][0] and "page_start" not in stored["photo.png"][0]

    # metadata
    wav = stored["long.wav"][1]
    assert wav["source"] == str((folder / "long.wav").resolve())
    assert (wav["modality"], wav["mime_type"], wav["chunk_index"], wav["chunk_count"]) == (
        "audio",
        "audio/wav",
        1,
        2,
    )
    assert stored["anim.gif"][0]["mime_type"] == "image/gif"  # the file's type; the PNG made of it was sent
    assert stored["page.html"][0]["modality"] == "text"
    assert {m["modality"] for m in stored["clip.mp4"]} == {"video"}

    # requests: one per chunk, none refused, batched
    assert gemini_emulator.stats.embed_requests == total
    assert gemini_emulator.stats.embed_calls <= 2
    assert_no_request_was_refused(gemini_emulator)

    # the second run reads nothing and sends nothing
    gemini_emulator.stats.reset()
    again = index_paths(coll, [folder])
    assert len(again.unchanged) == 11 and again.indexed == [] and again.chunks_stored == 0
    assert gemini_emulator.stats.total_calls == 0

    # search returns chunks with their positions, for text and media queries
    [hit] = coll.search("topic9", k=1, filter={"modality": "pdf"})
    assert (hit.metadata["page_start"], hit.metadata["page_end"]) == (7, 12)
    [image] = coll.search(gv.Image(folder / "photo.png"), k=1)
    assert image.metadata["name"] == "photo.png" and image.score > 0.99
    [song] = coll.search(gv.Audio(folder / "song.mp3"), k=1)
    assert song.metadata["name"] == "song.mp3"


def test_bad_files_are_reported_and_the_rest_indexed(coll: gv.Collection, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("A good text file about lanterns.")
    png = bytearray(media.png(8, 8))
    png[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    media.write(folder, "corrupt.png", bytes(png))
    media.write(folder, "empty.txt", b"")
    media.write(folder, "letter.docx", media.docx())
    media.write(folder, ".hidden.txt", b"not indexed: hidden")

    report = index_paths(coll, [folder, tmp_path / "missing.txt"])
    assert [r.path.name for r in report.indexed] == ["good.txt"]
    reasons = {r.path.name: (r.status, r.reason or "") for r in report.failed + report.skipped}
    assert set(reasons) == {"corrupt.png", "empty.txt", "letter.docx", "missing.txt"}
    assert reasons["missing.txt"] == ("failed", "cannot read: No such file or directory")
    assert reasons["corrupt.png"][0] == "failed" and "CRC" in reasons["corrupt.png"][1]
    assert reasons["empty.txt"][0] == "failed" and "empty" in reasons["empty.txt"][1]
    assert reasons["letter.docx"][0] == "skipped" and ".docx" in reasons["letter.docx"][1]
    assert coll.count() == 1
    assert report.summary() == "1 files indexed (1 chunks stored), 0 unchanged, 1 skipped, 3 failed"


def test_a_changed_file_replaces_its_chunks(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "story.md"
    path.write_text(media.prose(12, seed=1))
    indexer = Indexer(coll, max_text_tokens=300)
    first = indexer.index([path])
    n = first.indexed[0].chunks
    assert n >= 4

    # appended text: the unchanged first chunks are not embedded again
    path.write_text(media.prose(12, seed=1) + "\n\n" + media.prose(1, seed=2))
    gemini_emulator.stats.reset()
    grown = indexer.index([path])
    m = grown.indexed[0].chunks
    assert m >= n and 1 <= gemini_emulator.stats.embed_requests <= m - n + 1

    # shrunk to one chunk: the other records of the file are deleted
    path.write_text("Now it is short.")
    gemini_emulator.stats.reset()
    shrunk = indexer.index([path])
    assert shrunk.indexed[0].chunks == 1 and gemini_emulator.stats.embed_requests == 1
    [record] = coll.get(list(coll.ids()), include_vectors=False)
    assert record.id == chunk_id(str(path.resolve()), 0)
    assert (record.metadata["chunk_count"], record.metadata["char_end"]) == (1, len("Now it is short."))


def test_a_touched_file_is_hashed_once_and_not_embedded(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_vectors import ingest

    path = media.write(tmp_path, "tone.wav", media.cached("wav_signal", 200))
    index_paths(coll, [path])
    hashed: list[Path] = []
    real = ingest.file_sha256
    monkeypatch.setattr(ingest, "file_sha256", lambda p: hashed.append(p) or real(p))

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    gemini_emulator.stats.reset()
    report = index_paths(coll, [path])
    assert len(report.unchanged) == 1 and hashed == [path]
    assert gemini_emulator.stats.embed_calls == 0
    # the new time was stored: the next run does not even hash
    assert len(index_paths(coll, [path]).unchanged) == 1 and hashed == [path]


def test_a_file_the_api_rejects_fails_alone_and_is_retried_next_run(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("An ordinary text about gardens.")
    (tmp_path / "b.txt").write_text("This one contains POISON for the API.")
    (tmp_path / "c.txt").write_text("Another ordinary text about orbits.")
    gemini_emulator.faults.reject_texts_containing = "POISON"
    report = index_paths(coll, [tmp_path])
    assert [r.path.name for r in report.indexed] == ["a.txt", "c.txt"]
    [failed] = report.failed
    assert failed.path.name == "b.txt" and "rejected" in (failed.reason or "")

    gemini_emulator.faults.reset()
    gemini_emulator.stats.reset()
    retry = index_paths(coll, [tmp_path])
    assert [r.path.name for r in retry.indexed] == ["b.txt"] and len(retry.unchanged) == 2
    assert gemini_emulator.stats.embed_requests == 1


def test_large_chunks_go_through_the_file_api(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(), upload_threshold_bytes=100_000)
    coll = gv.connect("memory://").collection("big", embedder=emb)
    path = media.write(tmp_path, "long.wav", media.cached("wav_signal", 200))  # two 410 kB segments
    report = index_paths(coll, [path, media.write(tmp_path, "small.png", media.png())])
    assert len(report.indexed) == 2 and coll.count() == 3
    stats = gemini_emulator.stats
    assert stats.uploads == 2 and stats.file_deletes == 2 and stats.files_stored == 0
    assert_no_request_was_refused(gemini_emulator)


# --------------------------------------------------------------------------------------------- CLI


def test_cli_index_and_search_in_process(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "docs")
    media.write(folder, "letter.docx", media.docx())
    store = f"memory://cli-{tmp_path.name}"
    args = ["--collection", "docs", "--store", store]

    assert main(["index", str(folder), *args, "--dimensions", "128"]) == 0  # a skipped file is no failure
    out, err = capsys.readouterr()
    assert f"11 files indexed ({TOTAL_CHUNKS} chunks stored), 0 unchanged, 1 skipped, 0 failed" in out
    assert f"skipped: {folder / 'letter.docx'}: " in err
    assert_no_request_was_refused(gemini_env)

    assert main(["index", str(folder), *args]) == 0  # dimensions come from the collection
    out, _ = capsys.readouterr()
    assert "0 files indexed (0 chunks stored), 11 unchanged" in out

    assert main(["search", "topic9", *args, "--json", "-k", "2", "--filter", '{"modality": "pdf"}']) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["rank"] for r in results] == [1, 2]
    assert results[0]["position"] == {"unit": "pages", "start": 7, "end": 12}
    assert results[0]["source"] == str((folder / "paper.pdf").resolve()) and results[0]["modality"] == "pdf"

    assert main(["search", "--image", str(folder / "photo.png"), *args, "-k", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["rank", "score", "source", "modality", "position"]
    assert table[1].split()[0] == "1" and "photo.png" in table[1] and table[1].split()[-1] == "whole"
    assert len(table) == 4

    assert main(["search", "--audio", str(folder / "song.mp3"), *args, "-k", "1"]) == 0
    [_, row] = capsys.readouterr().out.splitlines()
    assert "song.mp3" in row and "audio" in row and row.endswith(" s")

    assert main(["search", "nothing", "--collection", "absent", "--store", store]) == 2
    assert "no collection 'absent'" in capsys.readouterr().err


def test_cli_index_reports_failures_with_exit_status_1(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.txt").write_text("fine")
    media.write(tmp_path, "empty.md", b"")
    rc = main(["index", str(tmp_path), "--collection", "c", "--store", "memory://", "--dimensions", "128"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"failed: {tmp_path / 'empty.md'}: is empty" in err
    assert "1 files indexed (1 chunks stored), 0 unchanged, 0 skipped, 1 failed" in out


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemini_vectors.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the embedded default store lives here, not in ~
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    return env


def test_cli_index_as_a_subprocess_without_a_key(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Offline indexing works through the built-in emulator.")
    media.write(tmp_path, "b.png", media.png())
    result = _run(
        ["index", ".", "--collection", "c", "--store", "memory://"], _offline_env(tmp_path), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "No GEMINI_API_KEY set" in result.stderr
    assert "2 files indexed (2 chunks stored), 0 unchanged, 0 skipped, 0 failed" in result.stdout


def test_cli_default_store_across_processes(tmp_path: Path) -> None:
    pytest.importorskip("gemini_vectors_pgvector", reason="the default store is the pgvector plugin's")
    folder = make_folder(tmp_path / "docs")
    env = _offline_env(tmp_path)
    first = _run(["index", "docs", "--collection", "docs", "--dimensions", "128"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"11 files indexed ({TOTAL_CHUNKS} chunks stored)" in first.stdout
    assert (tmp_path / "data" / "gemini-vectors" / "pg").is_dir()
    found = _run(
        ["search", "topic9", "--collection", "docs", "-k", "1", "--filter", '{"modality": "pdf"}'],
        env,
        tmp_path,
    )
    assert found.returncode == 0, found.stderr
    [header, row] = found.stdout.splitlines()
    assert row.split()[2:] == [os.path.join("docs", "paper.pdf"), "pdf", "pages", "7-12"]
    assert folder.is_dir() and header.startswith("rank")


def test_stored_state_is_looked_up_per_window_of_files(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_vectors import ingest

    monkeypatch.setattr(ingest, "LOOKUP_WINDOW", 2)
    monkeypatch.setattr(ingest, "MAX_IDS_PER_GET", 3)
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(media.prose(6, seed=i))
    lookups: list[int] = []
    real_get = coll.get
    monkeypatch.setattr(coll, "get", lambda ids, **kw: lookups.append(len(ids)) or real_get(ids, **kw))
    first = Indexer(coll, max_text_tokens=120).index([tmp_path])
    assert len(first.indexed) == 5 and all(r.chunks > 3 for r in first.indexed)
    assert lookups[:1] == [2] and max(lookups) <= 3
    lookups.clear()
    gemini_emulator.stats.reset()
    again = Indexer(coll, max_text_tokens=120).index([tmp_path])
    assert len(again.unchanged) == 5 and gemini_emulator.stats.total_calls == 0
    assert lookups.count(2) + lookups.count(1) >= 3 and max(lookups) <= 3  # heads per window, rest sliced


def test_progress_bar_only_on_a_terminal_or_when_asked(
    coll: gv.Collection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("A text about winter.")
    Indexer(coll).index([tmp_path])  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    (tmp_path / "b.txt").write_text("A text about summer.")
    Indexer(coll, progress=True).index([tmp_path])
    assert "indexing" in capsys.readouterr().err


def test_prune_deletes_the_records_of_deleted_files_only(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    folder, elsewhere = tmp_path / "docs", tmp_path / "other"
    (folder / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (folder / "long.md").write_text(media.prose(12, seed=3))  # several chunks
    (folder / "keep.txt").write_text("this file stays")
    (folder / "sub" / "gone.txt").write_text("this file will be deleted")
    (folder / "renamed.txt").write_text("renamed: its records under the old path are stale")
    (folder / ".hidden.txt").write_text("indexed once with hidden files, not by the pruning run")
    (elsewhere / "far.txt").write_text("indexed from another folder, then deleted")
    Indexer(coll, max_text_tokens=300, include_hidden=True).index([folder, elsewhere])
    indexer = Indexer(coll, max_text_tokens=300)
    coll.add(
        ["added by hand"],
        ids=["manual"],
        metadata=[{"source": str(folder / "long.md"), "name": "by-hand", "chunk_index": 0}],
    )
    long_chunks = len(by_name(coll)["long.md"])
    assert long_chunks >= 3
    before = coll.count()

    (folder / "long.md").unlink()
    (folder / "sub" / "gone.txt").unlink()
    (folder / "renamed.txt").rename(folder / "new-name.txt")
    (elsewhere / "far.txt").unlink()
    gemini_emulator.stats.reset()
    report = indexer.index([folder], prune=True)

    gone = [folder / "long.md", folder / "renamed.txt", folder / "sub" / "gone.txt"]
    assert report.pruned == sorted(str(path.resolve()) for path in gone)
    assert "3 deleted files pruned" in report.summary()
    assert [f.path.name for f in report.indexed] == ["new-name.txt"]
    assert gemini_emulator.stats.embed_requests == 1
    assert coll.count() == before - long_chunks - 1  # renamed.txt's record gave way to new-name.txt's
    names = by_name(coll)
    assert not {"long.md", "renamed.txt", "gone.txt"} & set(names)
    # a file that exists stays, a deleted file outside the pruned folder stays, a record not written by
    # the indexer stays even though its "source" names a deleted file
    assert {"keep.txt", ".hidden.txt", "far.txt", "new-name.txt"} <= set(names)
    assert coll.get(["manual"], include_vectors=False)
    assert indexer.prune([folder]) == []  # nothing left to do


def test_prune_refuses_a_path_that_is_not_there(coll: gv.Collection, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("kept")
    indexer = Indexer(coll)
    indexer.index([tmp_path])
    (tmp_path / "a.txt").unlink()
    (tmp_path / "b.txt").write_text("new")
    with pytest.raises(FileNotFoundError, match=r"cannot prune under .*missing"):
        indexer.index([tmp_path, tmp_path / "missing"], prune=True)
    [record] = coll.get(list(coll.ids()), include_vectors=False)  # refused before anything changed
    assert record.metadata["name"] == "a.txt"


def test_cli_index_prune(
    gemini_env: GeminiEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("first file")
    (folder / "b.txt").write_text("second file")
    options = ["--collection", "c", "--store", f"memory://prune-{tmp_path.name}"]
    args = ["index", str(folder), *options]
    assert main([*args, "--dimensions", "128"]) == 0
    (folder / "b.txt").unlink()
    capsys.readouterr()
    assert main([*args, "--prune"]) == 0
    out, err = capsys.readouterr()
    assert f"pruned: {(folder / 'b.txt').resolve()}: no longer exists" in err
    assert "1 deleted files pruned" in out and "c': 1 records" in out
    assert main(["index", str(folder), str(tmp_path / "nope"), *options, "--prune"]) == 2
    assert "cannot prune under" in capsys.readouterr().err
