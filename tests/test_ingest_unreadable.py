"""Folders the indexing process cannot read (issue 12, CLI9 / N10).

An unreadable folder is reported by name with what to do, the rest of the tree is still indexed, the run
ends with exit status 1 and a summary line naming the folder, and ``--prune`` never deletes the records of
files under it: they are not known to be gone.

How a folder is made unreadable: the tests run as root, and ``chmod 000`` does not stop root (it holds
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH). Switching to ``nobody`` does not work either: the interpreter
lives under a home folder that ``nobody`` cannot enter. So the indexing runs in a child process that drops
those two capabilities from its bounding set before it starts (``prctl(PR_CAPBSET_DROP)`` in
``preexec_fn``): it is still uid 0 and can run the interpreter, but the kernel now applies the permission
bits to it, so a ``000`` folder really cannot be listed. Run as another user, no capability is held and
``chmod 000`` alone suffices. Each test first checks that the child really cannot list such a folder, and
skips (saying why) where that cannot be arranged.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import media

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def _drop_file_capabilities() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _restricted() -> Callable[[], None] | None:
    """The ``preexec_fn`` that makes permission bits apply to the child (None: they already do)."""
    return _drop_file_capabilities if os.geteuid() == 0 else None


def run(
    args: list[str], cwd: Path, env: dict[str, str], *, restricted: bool
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=_restricted() if restricted else None,
    )


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the embedded default store lives here, not in ~
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """``locked(folder)`` makes ``folder`` unreadable for a restricted child. The fixture first checks,
    on a folder of its own, that this can be done here, and skips when it cannot. Every folder is given
    back its permissions afterwards, so tmp_path can be removed."""
    if sys.platform != "linux":
        pytest.skip("the permission tests use Linux capabilities and permission bits")
    done: list[Path] = []

    def lock(folder: Path) -> None:
        folder.chmod(0)
        done.append(folder)

    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    lock(probe_dir)
    probe = run(
        ["-c", f"import os; os.listdir({str(probe_dir)!r})"], tmp_path, dict(os.environ), restricted=True
    )
    if probe.returncode == 0:
        pytest.skip("cannot make a folder unreadable for a child process here (it still lists a 000 folder)")
    assert "PermissionError" in probe.stderr, probe.stderr
    yield lock
    for folder in done:
        folder.chmod(0o755)


def make_tree(root: Path) -> Path:
    (root / "private").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "a.txt").write_text("A readable note about harbors.")
    (root / "sub" / "b.txt").write_text("A note that will be deleted.")
    (root / "private" / "secret.txt").write_text("A note in a folder that becomes unreadable.")
    (root / "private" / "plan.md").write_text("Another note in that folder.")
    media.write(root, "photo.png", media.png(8, 8))
    return root


SCRIPT = """
import json, os, sys
from pathlib import Path
import gemini_vectors as gv
from gemini_vectors.ingest import Indexer, walk
from gemini_vectors.testing import GeminiEmulator

root = Path(sys.argv[1])
out = {}
with GeminiEmulator() as emu:
    emb = gv.Embedder(dimensions=128, client=emu.client(), progress=False)
    coll = gv.connect("memory://").collection("files", embedder=emb)
    first = Indexer(coll).index([root])
    out["first"] = first.summary()
    os.chmod(root / "private", 0)          # the owner locks itself out: it holds no override
    os.remove(root / "sub" / "b.txt")
    try:
        report = Indexer(coll).index([root], prune=True)
        out["indexed"] = sorted(r.path.name for r in report.indexed + report.unchanged)
        out["pruned"] = report.pruned
        out["unreadable"] = [[str(u.path), u.reason] for u in report.unreadable]
        out["summary"] = report.summary()
        out["ok"] = report.ok
        records = coll.get(list(coll.ids()), include_vectors=False)
        out["names"] = sorted(str(r.metadata["name"]) for r in records)
        try:
            list(walk([root]))
            out["walk"] = "no error"
        except OSError as exc:
            out["walk"] = type(exc).__name__
        alone = Indexer(coll).index([root / "private"], prune=True)  # the given folder itself
        out["alone"] = [[str(u.path) for u in alone.unreadable], alone.pruned, alone.files, coll.count()]
    finally:
        os.chmod(root / "private", 0o755)
print(json.dumps(out))
"""


def test_an_unreadable_folder_is_reported_and_never_pruned_api(
    tmp_path: Path, locked: Callable[[Path], None]
) -> None:
    root = make_tree(tmp_path / "docs")  # the child locks private/ itself, between its two runs
    result = run(["-c", SCRIPT, str(root)], tmp_path, offline_env(tmp_path), restricted=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["first"].startswith("5 files indexed")

    # the rest of the tree is indexed as usual; the folder is named with the reason and what to do
    assert out["indexed"] == ["a.txt", "photo.png"]
    [[folder, reason]] = out["unreadable"]
    assert folder == str(root / "private")
    assert "cannot list this folder (Permission denied)" in reason and "chmod u+rx" in reason
    assert out["ok"] is False
    assert out["summary"].endswith(f", 1 unreadable folder not indexed or pruned: {root / 'private'}")
    # the deleted file is pruned; the files under the unreadable folder keep their records
    assert out["pruned"] == [str((root / "sub" / "b.txt").resolve())]
    assert out["names"] == ["a.txt", "photo.png", "plan.md", "secret.txt"]
    # walk() alone raises rather than skipping the folder silently
    assert out["walk"] == "PermissionError"
    # the unreadable folder given as the path itself: reported, nothing pruned under it
    assert out["alone"] == [[str(root / "private")], [], [], 4]


CLI_SCRIPT = """
import os, sys
from pathlib import Path
from gemini_vectors.cli import main

root = Path(sys.argv[1])
index = ["index", "docs", "--collection", "docs", "--store", "memory://docs", "--dimensions", "128"]
codes = [main(index)]
os.chmod(root / "private", 0)          # the owner locks itself out: it holds no override
os.remove(root / "sub" / "b.txt")
try:
    for args in (index, [*index, "--prune"]):
        print("=== run", file=sys.stderr, flush=True)
        print("=== run", flush=True)
        codes.append(main(args))
finally:
    os.chmod(root / "private", 0o755)
print("codes", *codes)
"""


def test_cli_index_and_prune_under_an_unreadable_folder(
    tmp_path: Path, locked: Callable[[Path], None]
) -> None:
    """The CLI in one restricted process (so that one memory:// store serves its three runs): index, lock
    private/ and delete sub/b.txt, index again, then index with --prune."""
    root = make_tree(tmp_path / "docs")
    result = run(["-c", CLI_SCRIPT, str(root)], tmp_path, offline_env(tmp_path), restricted=True)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "codes 0 1 1"  # a run with an unreadable folder exits 1
    first, plain, pruned = result.stdout.split("=== run\n")
    _, plain_err, pruned_err = result.stderr.split("=== run\n")
    assert "5 files indexed (5 chunks stored)" in first

    unreadable = f"unreadable: {Path('docs') / 'private'}: cannot list this folder (Permission denied)"
    summary = f", 1 unreadable folder not indexed or pruned: {Path('docs') / 'private'}"
    assert unreadable in plain_err and "2 unchanged" in plain and summary in plain
    assert unreadable in pruned_err and summary in pruned
    assert f"pruned: {(root / 'sub' / 'b.txt').resolve()}: no longer exists" in pruned_err
    assert "1 deleted files pruned" in pruned
    assert "collection 'docs': 4 records" in pruned  # the two files under private/ keep their records


def test_prune_keeps_the_records_of_files_it_cannot_check(
    tmp_path: Path, locked: Callable[[Path], None]
) -> None:
    """A folder not walked (hidden) but unsearchable: its files' existence cannot be checked, so their
    records stay, and the folder is reported (Path.exists() raised PermissionError here before)."""
    root = tmp_path / "docs"
    (root / ".cache").mkdir(parents=True)
    (root / ".cache" / "hidden.txt").write_text("indexed once with --hidden")
    (root / "gone.txt").write_text("deleted before the pruning run")
    script = """
import json, os, sys
from pathlib import Path
import gemini_vectors as gv
from gemini_vectors.ingest import Indexer
from gemini_vectors.testing import GeminiEmulator

root = Path(sys.argv[1])
with GeminiEmulator() as emu:
    emb = gv.Embedder(dimensions=128, client=emu.client(), progress=False)
    coll = gv.connect("memory://").collection("files", embedder=emb)
    Indexer(coll, include_hidden=True).index([root])
    os.remove(root / "gone.txt")
    os.chmod(root / ".cache", 0)
    try:
        report = Indexer(coll).index([root], prune=True)
        pruned_alone = Indexer(coll).prune([root])
    finally:
        os.chmod(root / ".cache", 0o755)
    print(json.dumps({"pruned": report.pruned, "alone": pruned_alone, "count": coll.count(),
                      "unreadable": [[str(u.path), u.reason] for u in report.unreadable]}))
"""
    result = run(["-c", script, str(root)], tmp_path, offline_env(tmp_path), restricted=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["pruned"] == [str((root / "gone.txt").resolve())] and out["alone"] == []
    assert out["count"] == 1  # hidden.txt's record
    [[folder, reason]] = out["unreadable"]
    assert folder == str((root / ".cache").resolve())
    assert "cannot check whether the files indexed under it still exist (Permission denied)" in reason
