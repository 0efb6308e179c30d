"""The Gemini API emulator in a child process, as a real server would be, for the benchmarks.

In the benchmark's own process the emulator's CPU time (vector generation, JSON) would share the
client's interpreter lock and slow the very code being measured.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatorProcess:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the emulator has used so far (user + system), or None where /proc cannot tell."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # fields[11] and fields[12] are utime and stime (fields 14 and 15 of proc(5)), in clock ticks
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator_process(latency: float) -> Iterator[EmulatorProcess]:
    """Run ``gemini_vectors.testing.serve`` with ``latency`` seconds per call in a child process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from gemini_vectors.testing import Faults, serve; "
        f"serve(port={port}, faults=Faults(latency={latency}))"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # the "listening on" line: the server is up
        yield EmulatorProcess(f"http://127.0.0.1:{port}", child.pid)
    finally:
        child.terminate()
        child.wait(10)
