"""The playground: a page for trying the service in a browser, plain files from static/, served as they are.

The page holds no secret and calls only the public API (`/openapi.json`, `/faces`, `/swap`, `/jobs`,
`/health`), so it is served without the API key; each call it makes sends the key the person typed in,
like any other client. Its options form is built from the OpenAPI schema, so a new request field shows
up on the page without a change to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

__all__ = ["CONTENT_SECURITY_POLICY", "Asset", "load_assets", "playground_router"]

STATIC = Path(__file__).with_name("static")
PAGE = "index.html"
PAGE_PATHS = ("/", "/playground")
ASSET_PREFIX = "/playground/"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""Only the page's own files run, it talks to this service only, and no other site may frame it."""

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    """One file of the page, read once at start."""

    body: bytes
    media_type: str
    etag: str


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    return Asset(body, _MEDIA_TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Each URL path of the playground and its file: the page at `PAGE_PATHS`, the rest under /playground/."""
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix in _MEDIA_TYPES)
    assets = {ASSET_PREFIX + path.name: _asset(path) for path in files if path.name != PAGE}
    page = _asset(folder / PAGE)
    return {path: page for path in PAGE_PATHS} | assets


def playground_router(assets: Mapping[str, Asset]) -> APIRouter:
    """GET (and HEAD) of each path in `assets`, with a strict CSP and an ETag; left out of the schema."""
    router = APIRouter(include_in_schema=False)

    async def serve(request: Request) -> Response:
        asset = assets[request.url.path]
        headers = {**_HEADERS, "ETag": asset.etag}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    for path in assets:
        router.add_api_route(path, serve, methods=["GET", "HEAD"], name=f"playground {path}")
    return router
