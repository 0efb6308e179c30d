"""Test kit shipped with gemini-vectors: a Gemini API emulator and a pytest plugin.

``GeminiEmulator`` runs a local HTTP server that the unmodified google-genai SDK talks to, with
deterministic embeddings, Google's limits and switchable faults. The pytest plugin (loaded through the
``pytest11`` entry point) offers the fixtures ``gemini_emulator_server``, ``gemini_emulator`` and
``gemini_client``.
"""

from __future__ import annotations

from gemini_vectors.testing.gemini_emulator import Faults, GeminiEmulator, Limits, Stats, count_tokens, serve

__all__ = ["Faults", "GeminiEmulator", "Limits", "Stats", "count_tokens", "serve"]
