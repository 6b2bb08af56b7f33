"""Put the model files in place: what is missing is fetched, checked like a load would, and renamed in."""

from __future__ import annotations

import logging
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from faceswap.constants import describe_size
from faceswap.errors import DownloadError, ModelFileError
from faceswap.models.check import check_model_file, file_crc32, file_sha256
from faceswap.models.http_file import check_digest, fetch_with_retries
from faceswap.models.sources import DEFAULT_SOURCES, Artifact, Source

__all__ = ["download_models"]

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _is_current(model_dir: Path, artifact: Artifact) -> bool:
    """True when the file is in place, passes the load check and matches the published size and digest."""
    path = model_dir / artifact.path
    try:
        check_model_file(path, artifact.spec, model_dir)
    except ModelFileError:
        return False
    if artifact.size is not None and path.stat().st_size != artifact.size:
        return False
    if artifact.crc32 is not None and file_crc32(path) != artifact.crc32:
        return False
    return artifact.sha256 is None or file_sha256(path) == artifact.sha256


def _download(
    client: httpx.Client,
    source: Source,
    part: Path,
    checks: tuple[int | None, str | None, str | None],
    label: str,
    retries: tuple[int, float],
) -> None:
    """Fetch `source` into `part` from its first URL that delivers the published bytes."""
    failure = DownloadError(f"No URL is given for {label}.")
    for url in source.urls:
        try:
            fetch_with_retries(client, url, part, checks[0], label, *retries)
            check_digest(part, checks[0], checks[1], label, checks[2])
            return
        except DownloadError as exc:
            log.warning("%s from %s failed: %s", label, urlsplit(url).hostname, exc)
            failure = exc
    raise failure


def _install(temporary: Path, artifact: Artifact, model_dir: Path) -> None:
    """Check a complete file like a load would, then move it into place."""
    destination = model_dir / artifact.path
    try:
        check_model_file(temporary, artifact.spec, model_dir)
    except ModelFileError as exc:
        temporary.unlink()
        raise DownloadError(
            f"The file downloaded for {artifact.path} failed its check ({exc.kind.replace('_', ' ')}), so it "
            "was discarded: give another source with --manifest."
        ) from exc
    os.replace(temporary, destination)
    _fsync_dir(destination.parent)
    log.info("%s: installed (%s)", artifact.path, describe_size(destination.stat().st_size))


def _extract(archive_path: Path, artifacts: Sequence[Artifact], model_dir: Path, label: str) -> None:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for artifact in artifacts:
                found = [
                    info
                    for info in archive.infolist()
                    if not info.is_dir() and PurePosixPath(info.filename).name == artifact.member
                ]
                if len(found) != 1:
                    raise DownloadError(f"{label} holds no single {artifact.member}: give the right source.")
                temporary = (model_dir / artifact.path).with_name(f"{PurePosixPath(artifact.path).name}.part")
                with archive.open(found[0]) as stream, temporary.open("wb") as out:
                    shutil.copyfileobj(stream, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                check_digest(temporary, artifact.size, artifact.sha256, artifact.path, artifact.crc32)
                _install(temporary, artifact, model_dir)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(
            f"{label} is not a valid zip archive, so it was discarded: run the command again."
        ) from exc


def _archive_name(source: Source) -> str:
    name = PurePosixPath(urlsplit(source.urls[0]).path).name
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "models.zip"


def _ensure_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise DownloadError(
            f"There is not enough disk space for the models: {describe_size(needed)} needed, "
            f"{describe_size(free)} free."
        )


def _fetch_source(
    client: httpx.Client,
    model_dir: Path,
    source: Source,
    needed: Sequence[Artifact],
    retries: tuple[int, float],
) -> None:
    for artifact in needed:
        (model_dir / artifact.path).parent.mkdir(parents=True, exist_ok=True)
    if not source.is_archive:
        artifact = source.files[0]
        destination = model_dir / artifact.path
        part = destination.with_name(f"{destination.name}.part")
        _ensure_space(model_dir, (artifact.size or 0) - (part.stat().st_size if part.exists() else 0))
        _download(
            client, source, part, (artifact.size, artifact.sha256, artifact.crc32), artifact.path, retries
        )
        _install(part, artifact, model_dir)
        return
    label = _archive_name(source)
    part = model_dir / f"{label}.part"
    have = part.stat().st_size if part.exists() else 0
    _ensure_space(model_dir, (source.size or 0) - have + sum(artifact.size or 0 for artifact in needed))
    _download(client, source, part, (source.size, source.sha256, None), label, retries)
    try:
        _extract(part, needed, model_dir, label)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    part.unlink()


def download_models(
    model_dir: Path,
    sources: Sequence[Source] = DEFAULT_SOURCES,
    *,
    force: bool = False,
    attempts: int = 3,
    backoff: float = 2.0,
    client: httpx.Client | None = None,
) -> list[str]:
    """Fetch every file of `sources` that is not already in place and checked; the paths written."""
    model_dir.mkdir(parents=True, exist_ok=True)
    http = client or httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(60.0, connect=15.0),
        headers={"User-Agent": "faceswap-models/0.1", "Accept-Encoding": "identity"},
    )
    written: list[str] = []
    try:
        for source in sources:
            needed = [artifact for artifact in source.files if force or not _is_current(model_dir, artifact)]
            for artifact in source.files:
                if artifact not in needed:
                    log.info("%s: already in place and checked", artifact.path)
            if needed:
                _fetch_source(http, model_dir, source, needed, (attempts, backoff))
                written.extend(artifact.path for artifact in needed)
    finally:
        if client is None:
            http.close()
    return written
