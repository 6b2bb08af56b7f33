"""The work routes (/swap, /swap/upload, /faces, /provenance, /runsync): thin calls into the service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from faceswap.config import Settings
from faceswap.constants import OutputFormat
from faceswap.errors import ClientGoneError, ErrorCode, SwapError, image_label, image_too_large
from faceswap.http.errors import ERROR_RESPONSES, request_id_of
from faceswap.http.jsonbody import Base64Fields, ParsedJSONRoute
from faceswap.provenance.report import ProvenanceInput, ProvenanceReport
from faceswap.schemas import (
    SOURCES_MAX,
    FacesInput,
    FacesOutput,
    RunPodEnvelope,
    SwapInput,
    SwapOptions,
    SwapOutput,
    SwapperName,
    output_body,
    validated,
)
from faceswap.service import SwapService

__all__ = [
    "FIELDS_BYTES",
    "ImageJSONResponse",
    "base64_size",
    "body_limits",
    "field_limits",
    "work_router",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
_INDEX_DIGITS = 9
FIELDS_BYTES = 64 * 1024
"""Room in a body for everything but the images: field names, indexes, options, multipart headers."""


class ImageJSONResponse(JSONResponse):
    """JSON written by orjson, for bodies that carry an image: 20 MB of base64 in 11 ms on the event loop,
    where pydantic's `dump_json` took 48 ms and `json.dumps` 91 ms. NaN and infinities become null."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _service(request: Request) -> SwapService:
    return request.app.state.service  # type: ignore[no-any-return]


Service = Annotated[SwapService, Depends(_service)]
RequestId = Annotated[str, Depends(request_id_of)]


async def _read_upload(upload: UploadFile, role: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise image_too_large(image_label(role), limit)
    return data


def _index_or_word(text: str) -> int | str:
    """A form field's number as an int (for validation), anything else as it was sent.

    Digits beyond any valid index stay text (refused by validation): int() of thousands of digits is
    quadratic, and past 4300 digits it raises.
    """
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= _INDEX_DIGITS else value


def _json_fields(**fields: str | None) -> dict[str, Any]:
    """Form fields that hold JSON, parsed (absent ones left out); INVALID_INPUT when one does not parse."""
    parsed = {}
    for name, text in fields.items():
        if text is None:
            continue
        try:
            parsed[name] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise SwapError(ErrorCode.INVALID_INPUT, f"{name} must be a JSON object.") from exc
    return parsed


def _wants_image(accept: str) -> bool:
    """True when the client asks for image bytes rather than JSON."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(kind.startswith("image/") for kind in kinds) and "application/json" not in kinds


def _summary_headers(output: SwapOutput) -> dict[str, str]:
    return {
        "X-Faces-Source": str(output.source_faces),
        "X-Faces-Target": str(output.target_faces),
        "X-Image-Size": f"{output.width}x{output.height}",
    }


async def _client_left(request: Request) -> None:
    """Return once the client has closed the connection (the body has been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it the moment the client disconnects (its admission place is freed at once,
    its slot at the next stage)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    log.info("client went away; request abandoned")
    raise ClientGoneError


def base64_size(size: int) -> int:
    """The longest base64 text of a file of `size` bytes, with room for a data: prefix."""
    return -(-size // 3) * 4 + 256


def body_limits(settings: Settings) -> dict[str, int]:
    """The largest body each work route can need, from the image caps (never over `max_body_bytes`).

    JSON carries up to SOURCES_MAX source photos, the target and a target reference in base64, plus a
    data: prefix; the form carries the source photos and the target as they are.
    """
    image = settings.max_download_bytes
    base64_image = base64_size(image)
    limits = {
        "/swap": (SOURCES_MAX + 2) * base64_image,
        "/runsync": (SOURCES_MAX + 2) * base64_image,
        "/faces": base64_image,
        "/provenance": base64_image,
        "/swap/upload": (SOURCES_MAX + 1) * image,
    }
    return {path: min(size + FIELDS_BYTES, settings.max_body_bytes) for path, size in limits.items()}


def field_limits(settings: Settings) -> dict[str, Base64Fields]:
    """The largest file each work route's base64 fields may carry: an image."""
    image = Base64Fields(settings.max_download_bytes)
    return {path: image for path in ("/swap", "/runsync", "/faces", "/provenance")}


work_router = APIRouter(responses=ERROR_RESPONSES, route_class=ParsedJSONRoute)


@work_router.post("/swap", response_model=SwapOutput, response_class=ImageJSONResponse, tags=["swap"])
async def swap(request: Request, body: SwapInput, service: Service, request_id: RequestId) -> Response:
    """Swap the source's face into the target's chosen face."""
    output = await _unless_client_leaves(request, service.swap(body, request_id))
    return ImageJSONResponse(output.model_dump())


@work_router.post("/swap/upload", response_model=SwapOutput, response_class=ImageJSONResponse, tags=["swap"])
async def swap_upload(
    request: Request,
    service: Service,
    request_id: RequestId,
    source: Annotated[
        list[UploadFile],
        File(
            description=(
                f"The photo whose face identity is used; give the field up to {SOURCES_MAX} times for "
                "several photos of one person, averaged into one identity."
            )
        ),
    ],
    target: Annotated[UploadFile, File(description="The photo whose face is replaced.")],
    source_index: Annotated[int, Form(ge=1)] = 1,
    target_index: Annotated[str, Form(description='A number from 1, or "all".')] = "1",
    output_format: Annotated[OutputFormat, Form()] = "png",
    pixel_boost: Annotated[
        int | None, Form(description="A multiple of the swapper's crop: see /swap.")
    ] = None,
    color_match: Annotated[bool, Form(description="true: see /swap.")] = False,
    face_mask: Annotated[str | None, Form(description='JSON, e.g. {"types": ["box", "occlusion"]}.')] = None,
    face_enhancer: Annotated[str | None, Form(description='JSON, e.g. {"model": "gfpgan_1.4"}.')] = None,
    swapper: Annotated[SwapperName | None, Form(description="The face swapper: see /swap.")] = None,
    swapper_weight: Annotated[
        float, Form(ge=0.0, le=1.0, description="Identity strength 0..1: see /swap.")
    ] = 0.5,
    report_similarity: Annotated[bool, Form(description="true: see /swap.")] = False,
) -> Response:
    """Multipart upload: `curl -F source=@a.jpg -F target=@b.jpg -H 'Accept: image/*' -o out.png`."""
    options = validated(
        SwapOptions,
        {
            "source_index": source_index,
            "target_index": _index_or_word(target_index),
            "output_format": output_format,
            "pixel_boost": pixel_boost,
            "color_match": color_match,
            "swapper": swapper,
            "swapper_weight": swapper_weight,
            "report_similarity": report_similarity,
            **_json_fields(face_mask=face_mask, face_enhancer=face_enhancer),
        },
    )
    if len(source) > SOURCES_MAX:
        raise SwapError(ErrorCode.INVALID_INPUT, f"give at most {SOURCES_MAX} source photos.")
    limit = service.settings.max_download_bytes
    images = {
        ("source" if number == 1 else f"source {number}"): await _read_upload(upload, "source", limit)
        for number, upload in enumerate(source, start=1)
    }
    images["target"] = await _read_upload(target, "target", limit)
    wants_image = _wants_image(request.headers.get("accept", ""))
    upload = service.swap_uploaded(images, options, request_id, as_image=wants_image)
    output, image = await _unless_client_leaves(request, upload)
    if wants_image:
        return Response(image, media_type=f"image/{output.format}", headers=_summary_headers(output))
    return ImageJSONResponse(output.model_dump())


@work_router.post("/faces", response_model=FacesOutput, tags=["faces"])
async def faces(request: Request, body: FacesInput, service: Service, request_id: RequestId) -> Response:
    """The faces of an image, numbered as `source_index`/`target_index` number them."""
    output = await _unless_client_leaves(request, service.faces(body, request_id))
    return JSONResponse(output.model_dump())


@work_router.post("/provenance", response_model=ProvenanceReport, tags=["provenance"])
async def provenance(
    request: Request, body: ProvenanceInput, service: Service, request_id: RequestId
) -> Response:
    """Whether an image or clip carries a valid C2PA manifest (and against which trust anchors), our
    watermark (and its output id), and the XMP AI label: tells which files came from this service."""
    report = await _unless_client_leaves(request, service.check_provenance(body, request_id))
    return JSONResponse(report.model_dump())


@work_router.post("/runsync", response_class=ImageJSONResponse, tags=["swap"])
async def runsync(
    request: Request, envelope: RunPodEnvelope, service: Service, request_id: RequestId
) -> dict[str, Any]:
    """RunPod's envelope around /swap (or /faces with `"action": "faces"`): `{"input": {...}}` in."""
    output = await _unless_client_leaves(request, service.run_input(envelope.input, request_id))
    return {"id": request_id, "status": "COMPLETED", "output": output_body(output)}
