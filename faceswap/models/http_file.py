"""One file over HTTP into a ``.part``: resumed with a Range request, retried, checked against its digest."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import httpx

from faceswap.constants import describe_size
from faceswap.errors import DownloadError
from faceswap.models.check import file_crc32, file_sha256
from faceswap.models.progress import download_progress
from faceswap.runtime.backoff import backoff_delays

__all__ = [
    "check_digest",
    "fetch_with_retries",
]

log = logging.getLogger(__name__)


def check_digest(
    path: Path, size: int | None, sha256: str | None, label: str, crc32: str | None = None
) -> None:
    """Refuse (and delete) a download whose size, SHA-256 or CRC32 is not the published one."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        path.unlink()
        raise DownloadError(
            f"The download of {label} has {actual:,} bytes instead of {size:,}; it was discarded."
        )
    if sha256 is not None and (digest := file_sha256(path)) != sha256:
        path.unlink()
        raise DownloadError(
            f"The download of {label} does not match its published SHA-256 (got {digest[:12]}…), so it was "
            "discarded: run the command again, or give a trusted source with --manifest."
        )
    if crc32 is not None and (checksum := file_crc32(path)) != crc32:
        path.unlink()
        raise DownloadError(
            f"The download of {label} does not match its published CRC32 (got {checksum}), so it was "
            "discarded: run the command again, or give a trusted source with --manifest."
        )


def _resume_offset(response: httpx.Response, part: Path, offset: int, label: str) -> int:
    """Where the response's bytes go in the .part: `offset` for a matching 206, 0 when the server restarts."""
    if response.status_code == 200:
        if offset:
            log.info("%s: the server ignored the range request, restarting from the beginning", label)
        return 0
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("content-range", ""))
    if match is None or int(match.group(1)) != offset:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The server for {label} sent another byte range than asked for, so the partial download was "
            "discarded: run the command again."
        )
    return offset


def _fetch(client: httpx.Client, url: str, part: Path, size: int | None, label: str) -> None:
    """Bring `part` to the whole file: resume from its length, or start anew."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset and size is None:
            return
        if response.status_code not in (200, 206):
            raise DownloadError(
                f"The server for {label} answered HTTP {response.status_code}: check the source or try later."
            )
        offset = _resume_offset(response, part, offset, label)
        length = response.headers.get("content-length")
        total = offset + int(length) if length and length.isdigit() else size
        if size is not None and total != size:
            raise DownloadError(
                f"The server offers {total:,} bytes for {label} but the published file has {size:,}: "
                "give the right source with --manifest."
            )
        log.info(
            "%s: %s from %s", label, "resuming at " + describe_size(offset) if offset else "downloading", url
        )
        _write_body(response, part, offset, total, label)


def _write_body(response: httpx.Response, part: Path, offset: int, total: int | None, label: str) -> None:
    received = offset
    progress = download_progress(label, offset, total)
    try:
        with part.open("r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            for chunk in response.iter_raw():
                out.write(chunk)
                received += len(chunk)
                if total is not None and received > total:
                    out.truncate(0)
                    raise DownloadError(f"The server sent more than {total:,} bytes for {label}.")
                progress.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    finally:
        progress.close()


def fetch_with_retries(
    client: httpx.Client, url: str, part: Path, size: int | None, label: str, attempts: int, backoff: float
) -> None:
    """Bring `part` to the whole file from `url`, retrying transport errors with a doubling pause."""
    delays = backoff_delays(backoff)
    for attempt in range(1, attempts + 1):
        try:
            _fetch(client, url, part, size, label)
            return
        except httpx.TransportError as exc:
            if attempt == attempts:
                resume = f" to resume from {part.name}" if part.exists() and part.stat().st_size else ""
                raise DownloadError(
                    f"The download of {label} stopped ({type(exc).__name__}): check the network and run the "
                    f"command again{resume}."
                ) from exc
            log.warning("%s: %s, retrying (%d/%d)", label, type(exc).__name__, attempt, attempts - 1)
            time.sleep(next(delays))
