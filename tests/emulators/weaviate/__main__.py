"""``python -m tests.emulators.weaviate``: serve the emulator until interrupted (URL on stdout)."""

from __future__ import annotations

import sys

from .server import serve

sys.exit(serve())
