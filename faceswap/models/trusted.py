"""Digests checked once and trusted while the file stays the same file, so a start does not hash it again.

A derived model file's digest is checked in full the first time a process meets it; the file's identity
at that moment (device, inode, size, modification and change times in nanoseconds) is then recorded, with
the digest, in ``verified.json`` in the private cache folder that holds it (faceswap.models.derived). Later
checks compare the identity only. Writing the file, replacing it or renaming another file over it changes
the identity (the change time cannot be set by any call), so a tampered or planted copy is hashed again and
refused. A file changed within the last RACY_NS before its record would be written is not recorded (a
change in the same clock tick as the record could keep its times): it is hashed again next time. The record
is a cache: when it is missing, unreadable or cannot be written, the file is hashed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from faceswap.models.check import file_sha256

__all__ = ["RECORD_FILE", "digest_matches", "file_identity", "record_digests"]

log = logging.getLogger(__name__)

RECORD_FILE = "verified.json"
RACY_NS = 50_000_000
"""Several ticks of the kernel's coarse clock, which stamps the change time: a later write cannot share it."""


def file_identity(path: Path) -> list[int]:
    """Device, inode, size, modification and change times (ns) of `path` itself (a link is not followed)."""
    info = path.lstat()
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _read_record(folder: Path) -> dict[str, dict[str, object]]:
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(folder: Path, record: dict[str, dict[str, object]]) -> None:
    """Publish `record` by one rename, entries of files no longer there left out; a failure only costs a
    hash at the next start."""
    kept = {name: entry for name, entry in record.items() if (folder / name).exists()}
    temporary = None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{RECORD_FILE}.")
        with os.fdopen(descriptor, "w") as stream:
            json.dump(kept, stream)
        os.replace(temporary, folder / RECORD_FILE)
    except OSError as exc:
        log.debug("could not record the verified digests in %s: %s", folder, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def record_digests(record_dir: Path, digests: dict[Path, str]) -> None:
    """Record files (inside `record_dir`) whose digests their writer has just computed."""
    settled = time.time_ns() - RACY_NS
    entries = {}
    for path, digest in digests.items():
        try:
            identity = file_identity(path)
        except OSError:
            continue
        if identity[-1] <= settled:
            entries[path.relative_to(record_dir).as_posix()] = {"sha256": digest, "identity": identity}
    if entries:
        _write_record(record_dir, {**_read_record(record_dir), **entries})


def digest_matches(path: Path, digest: str, record_dir: Path) -> bool:
    """True when `path` (inside `record_dir`) has SHA-256 `digest`: from `record_dir`'s record when the
    file's identity is unchanged, else hashed (and recorded when it matches). OSError when unreadable."""
    name = path.relative_to(record_dir).as_posix()
    identity = file_identity(path)
    record = _read_record(record_dir)
    if record.get(name) == {"sha256": digest, "identity": identity}:
        return True
    if file_sha256(path) != digest:
        return False
    record_digests(record_dir, {path: digest})
    return True
