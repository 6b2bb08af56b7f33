"""Derived model files (optimized copies, FP16 conversions): a cache only this user can write.

They live beside the models in ``.cache`` when that folder is ours (the image makes it at build time), else
in the user's own cache folder (``~/.cache/faceswap``, or ``faceswap-cache-<uid>`` in the temp folder when
there is no writable home). Either is used only when it is a real folder, owned by this user, that nobody
else may write or read (0700; made so when ours and looser). A file is written under a temporary name and
published by one rename, with the digest of every byte recorded by the writer (in a folder's
``digest.json``, in a single file's name); a reader checks the digest before loading and removes (and logs)
anything that does not match, so it is made again. A file whose digest was checked is not hashed again
while it stays the same file (faceswap.models.trusted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

from faceswap.models.check import file_sha256
from faceswap.models.trusted import digest_matches, record_digests

__all__ = [
    "DIGEST_FILE",
    "cache_dir",
    "find_file",
    "private_dir",
    "publish_file",
    "publish_folder",
    "verified_folder",
]

log = logging.getLogger(__name__)

DIGEST_FILE = "digest.json"
DIGEST = "sha256"  # what file_sha256 computes; recorded beside the digests
_CHUNK = 4 * 1024 * 1024


def _ours(path: Path) -> bool:
    """True when `path` is a real folder (not a link) owned by this user."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def private_dir(directory: Path) -> bool:
    """Make `directory` (0700) or check it: True when it is ours and closed to others (tightened if so)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    if not _ours(directory):
        log.warning("not using the model cache %s: it is not a folder owned by this user", directory)
        return False
    if directory.lstat().st_mode & 0o077:
        try:
            directory.chmod(0o700)
        except OSError:
            return False
    return True


def cache_dir(model_dir: Path) -> Path:
    """Where derived model files go: `model_dir`/.cache when it is ours (or we may make it), else ours."""
    beside = model_dir / ".cache"
    if _ours(beside) or (not beside.exists() and os.access(model_dir, os.W_OK)):
        return beside
    home = Path.home()
    if os.access(home, os.W_OK):
        return home / ".cache" / "faceswap"
    return Path(tempfile.gettempdir()) / f"faceswap-cache-{os.getuid()}"


def publish_folder(scratch: Path, folder: Path) -> None:
    """Record the digest of each file in `scratch`, then make it `folder` in one rename.

    When another process published `folder` first, its copy stays (and `scratch` is left to the caller).
    """
    digests = {entry.name: file_sha256(entry) for entry in sorted(scratch.iterdir()) if entry.is_file()}
    (scratch / DIGEST_FILE).write_text(json.dumps({"algorithm": DIGEST, "files": digests}))
    scratch.replace(folder)
    record_digests(folder.parent, {folder / name: digest for name, digest in digests.items()})


def verified_folder(folder: Path) -> bool:
    """True when `folder` holds exactly the files its writer recorded, byte for byte; otherwise it is
    removed (and logged) so the caller makes it again. False, silently, when there is nothing there."""
    if not folder.exists():
        return False
    try:
        recorded = json.loads((folder / DIGEST_FILE).read_text())
        files: dict[str, str] = recorded["files"]
        present = {entry.name for entry in folder.iterdir()} - {DIGEST_FILE}
        good = (
            recorded.get("algorithm") == DIGEST
            and present == set(files)
            and all(digest_matches(folder / name, digest, folder.parent) for name, digest in files.items())
        )
    except (OSError, ValueError, KeyError, TypeError):
        good = False
    if not good:
        log.warning("derived model files in %s do not match their digest: removed, making them again", folder)
        shutil.rmtree(folder, ignore_errors=True)
    return good


def publish_file(data: bytes, directory: Path, stem: str) -> Path:
    """Write `data` as `directory`/`stem`-<digest>.onnx in one rename; the path."""
    digest = hashlib.new(DIGEST, data).hexdigest()
    target = directory / f"{stem}-{digest}.onnx"
    descriptor, temporary = tempfile.mkstemp(dir=directory, suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    record_digests(directory, {target: digest})
    return target


def find_file(directory: Path, stem: str) -> Path | None:
    """The file `publish_file` made for `stem`, when its bytes still match the digest in its name; any
    that does not is removed (and logged)."""
    prefix = f"{stem}-"
    for candidate in sorted(directory.glob(f"{stem}-*.onnx")):
        recorded = candidate.name.removeprefix(prefix).removesuffix(".onnx")
        regular = candidate.is_file() and not candidate.is_symlink()
        try:
            if regular and digest_matches(candidate, recorded, directory):
                return candidate
        except OSError:
            pass
        log.warning("derived model file %s does not match its digest: removed, making it again", candidate)
        candidate.unlink(missing_ok=True)
    return None
