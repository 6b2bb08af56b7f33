"""The harness's child processes: ending them, and the end of their logs for error messages."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["finish", "tail"]


def finish(
    process: subprocess.Popen[str] | subprocess.Popen[bytes], *, terminate: bool, timeout: float = 60
) -> None:
    """Wait for `process` to end (after SIGTERM when `terminate`), killing it after `timeout` seconds."""
    if terminate:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, or "" when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
