"""What importing a module does in a fresh Python interpreter, where nothing was imported before it.

The adapters must import their framework lazily: ``import gemini_vectors`` never pulls it in, and a
missing framework is an ImportError naming the extra to install. A test in this process could not tell,
its framework being imported already, so these run a new interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys


def modules_imported_by(module: str) -> set[str]:
    """The names in ``sys.modules`` of a fresh interpreter after ``import module``."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    names: list[str] = json.loads(out)
    return set(names)


def import_error_without(missing: str, module: str) -> str:
    """The ImportError's text when ``module`` is imported in a fresh interpreter lacking ``missing``."""
    # None in sys.modules makes "import <missing>" fail as it does when it is not installed
    code = (
        "import sys\n"
        f"sys.modules[{missing!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
