"""The job files in the data folder: each running job's work folder, and the results, published by rename.

::

    $FACESWAP_DATA_DIR/work/<job id>/     inputs and the output being written (removed when the job ends,
                                          and at start for every job no live worker holds)
    $FACESWAP_DATA_DIR/results/<job id>.<ext>   a finished result (moved here whole, by rename)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["JobFiles", "new_work_folder", "sweep_dead_work"]

WORK_PREFIX = "faceswap-job-"


def new_work_folder() -> Path:
    """A temporary work folder named after this process (the queue worker's jobs keep nothing)."""
    return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))


def sweep_dead_work(folder: Path | None = None) -> int:
    """Remove the temporary work folders of processes that no longer run; how many were removed."""
    removed = 0
    for entry in (folder or Path(tempfile.gettempdir())).glob(f"{WORK_PREFIX}*"):
        pid = entry.name[len(WORK_PREFIX) :].partition("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobFiles:
    """Paths and space of the data folder's job files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.results = root / "results"
        self.work.mkdir(parents=True, exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)

    def fresh_work(self, job_id: str) -> Path:
        """An empty work folder for `job_id` (what an earlier, interrupted start left is removed)."""
        folder = self.work / job_id
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def remove_work(self, job_id: str) -> None:
        """Remove `job_id`'s work folder."""
        shutil.rmtree(self.work / job_id, ignore_errors=True)

    def work_folders(self) -> list[str]:
        """The job ids that have a work folder."""
        return [entry.name for entry in self.work.iterdir() if entry.is_dir()]

    def publish(self, job_id: str, output: Path) -> str:
        """Move a finished output into the results (one rename); its name there."""
        name = f"{job_id}{output.suffix}"
        output.rename(self.results / name)
        return name

    def result(self, name: str) -> Path | None:
        """A kept result's path, or None when it is not here."""
        path = self.results / Path(name).name
        return path if path.is_file() else None

    def remove_result(self, name: str | None) -> None:
        """Remove a result, if kept."""
        if name:
            (self.results / Path(name).name).unlink(missing_ok=True)

    def results_bytes(self) -> int:
        """Bytes the kept results take."""
        return sum(entry.stat().st_size for entry in self.results.iterdir() if entry.is_file())

    def free_bytes(self) -> int:
        """Free bytes on the data folder's file system."""
        return shutil.disk_usage(self.root).free
