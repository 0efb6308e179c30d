"""Guarantee 3 for ``index``: a request-level failure is never a file failure.

A wrong key (or a permission the key lacks) is the request's fault, not any file's. The Indexer used to
catch the Embedder's RequestRejectedError with every other EmbeddingError and report each file of the
batch as failed by the API; now it propagates untouched, nothing is written or recorded against a file,
and ``gemini-vectors index`` exits 2 with the API's one-line message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gemini_vectors as gv
from gemini_vectors.cli import main
from gemini_vectors.errors import RequestRejectedError
from gemini_vectors.ingest import Indexer
from gemini_vectors.testing import GeminiEmulator
from tests import media

SECRET = "AIzaSyD-not-a-real-key-0123456789abcdefg"  # shaped like a Google key


def folder_of_notes(tmp_path: Path, n: int = 3) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(n):
        (folder / f"note{i}.md").write_text(media.prose(3, seed=i))
    return folder


def test_indexer_propagates_a_wrong_key_and_blames_no_file(
    gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    gemini_emulator.api_keys = {"the-right-key"}
    emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(api_key=SECRET), progress=False)
    with gv.connect("memory://") as store:
        coll = store.collection("docs", embedder=emb)
        with pytest.raises(RequestRejectedError) as info:
            Indexer(coll).index([folder_of_notes(tmp_path)])
        assert info.value.reason == "API_KEY_INVALID"
        assert coll.count() == 0
    assert gemini_emulator.stats.embed_calls == 1  # one refused call, no bisection over the files


def test_indexer_propagates_a_permission_refusal(gemini_emulator: GeminiEmulator, tmp_path: Path) -> None:
    gemini_emulator.faults.permission_denied = "CONSUMER_SUSPENDED"
    emb = gv.Embedder(dimensions=128, client=gemini_emulator.client(), progress=False)
    with gv.connect("memory://") as store:
        coll = store.collection("docs", embedder=emb)
        with pytest.raises(RequestRejectedError) as info:
            Indexer(coll).index([folder_of_notes(tmp_path)])
        assert info.value.code == 403
        assert coll.count() == 0


def test_cli_index_with_a_wrong_key_exits_2_with_the_apis_message(
    gemini_env: GeminiEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gemini_env.api_keys = {"the-right-key"}
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    folder = folder_of_notes(tmp_path)
    store = f"memory://rejected-{tmp_path.name}"
    code = main(["index", str(folder), "--collection", "docs", "--store", store, "--dimensions", "128"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("gemini-vectors: error:")]
    assert len(lines) == 1 and "API key not valid" in lines[0]
    assert "failed:" not in err  # no file is reported as failed
    assert SECRET not in err
