"""A Gemini API emulator: a real HTTP server that the unmodified google-genai SDK talks to.

See :class:`GeminiEmulator`. The implementation lives in :mod:`gemini_vectors.testing.gemini_api`.
"""

from __future__ import annotations

from gemini_vectors.testing.gemini_api.controls import Faults, Limits, Stats
from gemini_vectors.testing.gemini_api.server import GeminiEmulator, serve
from gemini_vectors.testing.gemini_api.vectors import count_tokens

__all__ = ["Faults", "GeminiEmulator", "Limits", "Stats", "count_tokens", "serve"]
