"""The sync package is layered: each module imports only modules below it, so no import circle can form.

From the bottom: the counters, prices, the source table and the state tables; the one write path; the job
and its pass; the watch workers and the re-embed, which decide only what to process; the Vectorizer on
top. Imports inside functions and under TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gemini_vectors.sync

LAYERS = ["summary", "pricing", "source", "state", "writer", "job", "watch", "reembed", "vectorizer"]
PACKAGE = "gemini_vectors.sync"


def sync_imports(module: str) -> set[str]:
    """The modules of the sync package that ``module`` imports, anywhere in its source."""
    path = Path(gemini_vectors.sync.__file__).parent / f"{module}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith(PACKAGE + "."):
                found.add(name[len(PACKAGE) + 1 :].split(".")[0])
    return found & set(LAYERS)


def test_every_sync_module_is_in_a_layer() -> None:
    modules = {p.stem for p in Path(gemini_vectors.sync.__file__).parent.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


def test_each_sync_module_imports_only_lower_layers() -> None:
    upward = {
        module: sorted(m for m in sync_imports(module) if LAYERS.index(m) >= LAYERS.index(module))
        for module in LAYERS
    }
    assert not {m: ups for m, ups in upward.items() if ups}, upward
