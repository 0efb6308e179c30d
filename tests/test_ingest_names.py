"""File names that are not valid text (issue 12, N8).

On POSIX a file name is bytes; one that is not UTF-8 reaches Python as a ``str`` with surrogate escapes,
which cannot be encoded, stored as JSON or printed to a strict stream. One such file crashed the whole
``index`` run (UnicodeEncodeError in the record id). Now it is indexed under a reversible escaped
``source`` (``source_escaped`` set), ``record_path`` gives the file back, and re-runs and ``--prune`` treat
it like any other file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gemini_vectors as gv
from gemini_vectors.ingest import Indexer, chunk_id, escape_path, record_path, unescape_path
from gemini_vectors.testing import GeminiEmulator
from tests import media

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or os.fsencode("\udcff") != b"\xff",
    reason="needs a file system that takes arbitrary bytes in names, decoded as UTF-8 by Python",
)


def write(folder: Path, name: bytes, data: bytes | str) -> Path:
    """A file whose name is the given bytes; returns its path as Python sees it."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def coll(gemini_emulator: GeminiEmulator) -> gv.Collection:
    emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)
    return gv.connect("memory://").collection("files", embedder=emb)


def records_by_path(coll: gv.Collection) -> dict[Path, list[gv.Record]]:
    out: dict[Path, list[gv.Record]] = {}
    for record in coll.get(list(coll.ids()), include_vectors=False):
        path = record_path(record.metadata)
        assert path is not None
        out.setdefault(path, []).append(record)
    return out


def test_a_name_that_is_not_utf8_is_indexed_searched_and_pruned(
    coll: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    latin1 = write(folder, b"caf\xe9 notes.md", media.prose(12, seed=4))  # a Latin-1 name: several chunks
    image = write(folder, b"photo\xff.png", media.png(8, 8))
    twin = write(folder, b"caf\\xe9 notes.md", media.prose(12, seed=5))  # valid text: its escaped look-alike
    (folder / "plain.txt").write_text("An ordinary file about lighthouses.")
    indexer = Indexer(coll, max_text_tokens=300)

    report = indexer.index([folder])
    assert report.failed == [] and len(report.indexed) == 4
    stored = records_by_path(coll)
    assert set(stored) == {
        latin1.resolve(),
        image.resolve(),
        twin.resolve(),
        (folder / "plain.txt").resolve(),
    }
    # every value is valid text: it encodes strictly and survives JSON (what a store holds)
    for records in stored.values():
        for record in records:
            json.dumps(dict(record.metadata), ensure_ascii=False).encode("utf-8")
    [png] = stored[image.resolve()]
    assert png.metadata["source"] == f"{folder.resolve()}/photo\\xff.png"
    assert (png.metadata["name"], png.metadata["source_escaped"]) == ("photo\\xff.png", True)
    assert png.id == chunk_id(str(image.resolve()), 0)
    bad_chunks = stored[latin1.resolve()]
    twin_chunks = stored[twin.resolve()]
    assert len(bad_chunks) >= 3 and len(twin_chunks) >= 3
    assert {r.metadata["source"] for r in bad_chunks} == {f"{folder.resolve()}/caf\\xe9 notes.md"}
    # the look-alike is valid text, kept as it is: the same text as the escaped name, but unflagged,
    # under ids of its own, so neither file's updates touch the other's records
    assert {r.metadata["source"] for r in twin_chunks} == {f"{folder.resolve()}/caf\\xe9 notes.md"}
    assert all("source_escaped" not in r.metadata for r in twin_chunks)
    assert not {r.id for r in bad_chunks} & {r.id for r in twin_chunks}
    [hit] = coll.search(gv.Image(image), k=1)
    assert record_path(hit.metadata) == image.resolve() and record_path(hit.metadata).exists()  # type: ignore[union-attr]

    # re-runs and --prune: unchanged, nothing deleted and added again
    gemini_emulator.stats.reset()
    again = indexer.index([folder], prune=True)
    assert len(again.unchanged) == 4 and again.pruned == [] and gemini_emulator.stats.total_calls == 0
    assert coll.count() == sum(len(r) for r in stored.values())

    # the escaped file shrinks to one chunk: its stale records go, its look-alike's all stay
    latin1.write_text("Now it is short.")
    shrunk = indexer.index([folder], prune=True)
    assert [r.path for r in shrunk.indexed] == [latin1] and shrunk.pruned == []
    after = records_by_path(coll)
    assert len(after[latin1.resolve()]) == 1 and len(after[twin.resolve()]) == len(twin_chunks)

    # deleted: pruned under its escaped source, and only it
    image.unlink()
    gone = indexer.index([folder], prune=True)
    assert gone.pruned == [png.metadata["source"]] and gemini_emulator.stats.embed_calls <= 1
    assert image.resolve() not in records_by_path(coll)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("plain/ascii \\ back.txt", "plain/ascii \\ back.txt"),  # valid text stays as it is
        ("日本語.txt", "日本語.txt"),
        ("caf\udce9.txt", "caf\\xe9.txt"),  # the byte 0xE9, escaped by Python as U+DCE9
        ("back\\slash\udcff\\x41.txt", "back\\\\slash\\xff\\\\x41.txt"),  # backslashes doubled
        ("\ud800lone", "\\ud800lone"),  # another lone surrogate (a Windows name)
    ],
)
def test_the_escaped_form_is_text_and_reverses(name: str, escaped: str) -> None:
    assert escape_path(name) == escaped
    escaped.encode("utf-8")  # valid text
    if escaped != name:
        assert unescape_path(escaped) == name


def test_cli_index_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """The command as a subprocess: its streams are strict, so a printed name must be valid text too."""
    write(tmp_path, b"r\xe9sum\xe9.txt", "A file whose Latin-1 name is not UTF-8.")
    write(tmp_path, b"empty\xff.md", b"")  # fails: its line names it, escaped
    (tmp_path / "ok.txt").write_text("An ordinary file.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["PYTHONIOENCODING"] = "utf-8:strict"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gemini_vectors.cli",
            "index",
            ".",
            "--collection",
            "c",
            "--store",
            "memory://",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1  # the empty file failed; the others were indexed
    assert "failed: empty\\xff.md: is empty" in result.stderr
    assert "2 files indexed (2 chunks stored), 0 unchanged, 0 skipped, 1 failed" in result.stdout
