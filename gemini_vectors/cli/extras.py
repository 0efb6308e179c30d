"""Which optional extra a command needs, and the one line that says how to install it.

The core installs without SQLAlchemy, psycopg, PyAV or Pillow (the README's first command needs none of
them); the commands that do need one check for it before they read, embed or write anything, so a
newcomer gets one line naming the extra, not a ``ModuleNotFoundError`` traceback. ``main()`` also turns
a missing module of this table that slips through into the same line.
"""

from __future__ import annotations

import importlib.util

from gemini_vectors.errors import ConfigurationError

#: The extra that brings each optional top-level module.
EXTRA_OF_MODULE = {
    "sqlalchemy": "sync",
    "psycopg": "sync",
    "av": "media",
    "PIL": "media",
}


def install_hint(extra: str) -> str:
    """How to install ``extra`` (pip adds an extra's packages to the gemini-vectors already installed)."""
    return f"pip install 'gemini-vectors[{extra}]' (or pip install '.[{extra}]' in a gemini-vectors checkout)"


def missing_extra_message(what: str, module: str) -> str:
    """The one line for ``what`` (a command) lacking ``module``."""
    extra = EXTRA_OF_MODULE.get(module, module)
    return f"{what} needs the {extra!r} extra ({module} is not installed): {install_hint(extra)}"


def require(what: str, *modules: str) -> None:
    """Raise a ConfigurationError naming the extra when one of ``modules`` is not installed.

    Args:
        what: Who needs it, e.g. ``"gemini-vectors sync"``.
        modules: Top-level module names from :data:`EXTRA_OF_MODULE`.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ConfigurationError(missing_extra_message(what, module))
