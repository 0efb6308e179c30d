"""Fixtures for the core's tests. The Gemini emulator fixtures come from gemini_vectors.testing (pytest11)."""

from __future__ import annotations

pytest_plugins = ["pytester"]
