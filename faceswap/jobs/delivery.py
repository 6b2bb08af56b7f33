"""A finished job's result, uploaded by HTTP PUT to the caller's ``output_url`` (a presigned bucket URL).

The file streams from disk in chunks, once per attempt, never held whole in memory; the attempts, the
retries and the URL policy are ``outbound.deliver``'s: 5xx, 408, 429, timeouts and broken connections are
tried again within ``FACESWAP_UPLOAD_ATTEMPTS`` and ``FACESWAP_UPLOAD_TIMEOUT``; redirects are not followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx

from faceswap.config import Settings
from faceswap.errors import DeliveryError
from faceswap.jobs.outbound import Bounds, deliver

__all__ = ["UPLOAD_CHUNK_BYTES", "upload_result"]

UPLOAD_CHUNK_BYTES = 1024 * 1024


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes, a chunk at a time, read off the event loop."""
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(UPLOAD_CHUNK_BYTES):
            yield chunk


async def upload_result(path: Path, output_url: str, content_type: str, settings: Settings) -> None:
    """PUT the file at `path` to `output_url` until a 2xx answer; else DeliveryError saying what failed."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DeliveryError("Result upload failed: the result file is no longer on disk.") from exc
    headers = {"Content-Type": content_type, "Content-Length": str(size)}

    def request(client: httpx.AsyncClient, url: httpx.URL) -> httpx.Request:
        return client.build_request("PUT", url, content=_file_chunks(path), headers=headers)

    bounds = Bounds(settings.upload_attempts, settings.upload_timeout, settings.delivery_backoff)
    await deliver(output_url, "Result upload", request, bounds, settings)
