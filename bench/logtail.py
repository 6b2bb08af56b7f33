"""The end of a child process's log, for error messages."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tail"]


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, or "" when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
