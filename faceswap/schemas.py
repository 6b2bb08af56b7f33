"""Request and response models shared by every adapter (HTTP, RunPod queue, command line)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ErrorBody", "RunPodEnvelope", "SwapInput", "SwapOutput"]

URL_MAX = 4096
BASE64_MAX = 128 * 1024 * 1024
INDEX_MAX = 1000

_URL_DESCRIPTION = "An http(s) URL of a JPEG, PNG or WebP image that the service downloads."
_IMAGE_DESCRIPTION = "The image file's bytes in base64; a `data:image/...;base64,` prefix is allowed."


class SwapInput(BaseModel):
    """One swap: each image given exactly once, as a URL or as base64."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_url": "https://example.com/me.jpg",
                    "target_url": "https://example.com/group.jpg",
                    "source_index": 1,
                    "target_index": 2,
                }
            ]
        },
    )

    source_url: str | None = Field(None, max_length=URL_MAX, description=f"Source: {_URL_DESCRIPTION}")
    source_image: str | None = Field(None, max_length=BASE64_MAX, description=f"Source: {_IMAGE_DESCRIPTION}")
    target_url: str | None = Field(None, max_length=URL_MAX, description=f"Target: {_URL_DESCRIPTION}")
    target_image: str | None = Field(None, max_length=BASE64_MAX, description=f"Target: {_IMAGE_DESCRIPTION}")
    source_index: int = Field(
        1,
        ge=1,
        le=INDEX_MAX,
        description="Which source face gives the identity, numbered from 1 left to right.",
    )
    target_index: int = Field(
        1, ge=1, le=INDEX_MAX, description="Which target face is replaced, numbered from 1 left to right."
    )
    output_format: Literal["png", "jpeg", "webp"] = Field("png", description="Format of the returned image.")

    @model_validator(mode="after")
    def _each_image_exactly_once(self) -> SwapInput:
        for role in ("source", "target"):
            given = [name for name in (f"{role}_url", f"{role}_image") if getattr(self, name) is not None]
            if len(given) != 1:
                raise ValueError(f"give the {role} image exactly once, as {role}_url or as {role}_image")
        return self


class SwapOutput(BaseModel):
    """A successful swap."""

    success: Literal[True] = True
    message: str = Field("ok", examples=["ok"])
    image_base64: str = Field(description="The result image in base64 (no data: prefix).")
    format: Literal["png", "jpeg", "webp"]
    width: int
    height: int
    source_faces: int = Field(description="Faces found in the source image.")
    target_faces: int = Field(description="Faces found in the target image.")
    timings_ms: dict[str, float] = Field(
        description="Milliseconds per stage: fetch, decode, detect, swap, encode."
    )
    request_id: str
    recoveries: list[str] | None = Field(
        None, description="Faults recovered from while serving this request."
    )


class ErrorBody(BaseModel):
    """A failed request: one of the contract's error codes and a sentence a user can act on."""

    success: Literal[False] = False
    error_code: str = Field(examples=["FACE_INDEX_OUT_OF_RANGE"])
    message: str = Field(examples=["target_index 3 is out of range: the target image has 2 faces."])
    request_id: str


class RunPodEnvelope(BaseModel):
    """RunPod's request shape: the swap fields under `input`."""

    model_config = ConfigDict(extra="ignore")

    input: dict[str, Any] = Field(
        description="The /swap fields.",
        examples=[{"source_url": "https://example.com/me.jpg", "target_url": "https://example.com/t.jpg"}],
    )
