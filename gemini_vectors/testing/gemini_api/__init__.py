"""The Gemini API emulator, split by concern: vectors, media, limits, faults, endpoints, server."""

from __future__ import annotations
