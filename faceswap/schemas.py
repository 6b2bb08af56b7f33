"""Request and response models shared by every adapter (HTTP, RunPod queue, command line)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from faceswap.constants import OutputFormat
from faceswap.errors import ErrorCode, SwapError
from faceswap.pipeline.quality import DEFAULT_REGIONS, Enhancer, FaceMask, Quality, check_pixel_boost

__all__ = [
    "SOURCES_MAX",
    "ErrorBody",
    "FaceEnhancerOptions",
    "FaceMaskOptions",
    "FaceOut",
    "FacesInput",
    "FacesOutput",
    "MultiSource",
    "PixelBoost",
    "RunPodEnvelope",
    "SwapInput",
    "SwapOptions",
    "SwapOutput",
    "SwapPair",
    "SwappedFace",
    "SwapperName",
    "check_sources",
    "output_body",
    "source_fields",
    "validated",
    "validation_message",
]

URL_MAX = 4096
BASE64_MAX = 128 * 1024 * 1024
INDEX_MAX = 1000
PAIRS_MAX = 32
SOURCES_MAX = 8

SwapperName = Literal[
    "inswapper_128",
    "hyperswap_1a_256",
    "hyperswap_1b_256",
    "hyperswap_1c_256",
    "ghost_1_256",
    "ghost_2_256",
    "ghost_3_256",
    "simswap_256",
    "simswap_unofficial_512",
    "uniface_256",
]
PixelBoost = Literal[128, 256, 384, 512, 768, 1024]
_PIXEL_BOOST_DESCRIPTION = (
    "Side of the aligned face crop, a multiple of the swapper's own (inswapper_128: 128 to 1024 in steps of "
    "128; the 256 models: 256, 512, 768, 1024; simswap_unofficial_512: 512, 1024). Above the model's side "
    "the crop is swapped as (n/side)² interleaved tiles and reassembled, so the swapped face keeps that "
    "resolution; it costs (n/side)² swaps per face. Unset: the swapper's own side."
)

_URL_DESCRIPTION = "An http(s) URL of a JPEG, PNG or WebP image that the service downloads."
_IMAGE_DESCRIPTION = "The image file's bytes in base64; a `data:image/...;base64,` prefix is allowed."


class SwapPair(BaseModel):
    """One identity onto one face."""

    model_config = ConfigDict(extra="forbid")

    source_index: int = Field(ge=1, le=INDEX_MAX, description="Source face giving the identity (from 1).")
    target_index: int = Field(ge=1, le=INDEX_MAX, description="Target face replaced (from 1).")


MaskType = Literal["box", "occlusion", "region"]
Region = Literal["skin", "brows", "eyes", "glasses", "nose", "mouth", "lips"]
Percent = Annotated[float, Field(ge=0, le=100)]


class FaceMaskOptions(BaseModel):
    """Which masks limit where the swapped face is pasted; several combine by intersection."""

    model_config = ConfigDict(extra="forbid")

    types: list[MaskType] = Field(
        ["box"],
        min_length=1,
        max_length=3,
        description=(
            '"box": the crop with a soft edge; "occlusion": what covers the face (hair, hands, glasses) '
            'stays the target\'s (XSeg, masks/xseg_1.onnx); "region": only the chosen face-parser regions '
            "are swapped (BiSeNet, masks/bisenet_resnet_34.onnx)."
        ),
    )
    blur: float = Field(0.3, ge=0.0, le=1.0, description="Softness of the box mask's edge.")
    padding: list[Percent] = Field(
        [0.0, 0.0, 0.0, 0.0],
        min_length=4,
        max_length=4,
        description="Box mask: percent of the crop left out at the top, right, bottom and left.",
    )
    regions: list[Region] = Field(
        list(DEFAULT_REGIONS),
        min_length=1,
        description='For "region": the parts swapped; hair, ears and neck are always kept from the target.',
    )

    def mask(self) -> FaceMask:
        """As the engine takes it."""
        top, right, bottom, left = self.padding
        return FaceMask(
            types=tuple(dict.fromkeys(self.types)),
            blur=self.blur,
            padding=(top, right, bottom, left),
            regions=tuple(dict.fromkeys(self.regions)),
        )


class FaceEnhancerOptions(BaseModel):
    """A face restoration model run on each swapped face after the swap."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["gfpgan_1.4", "codeformer", "gpen_bfr_512"] = Field(
        description="The restoration model (enhancers/<model>.onnx in the model dir)."
    )
    blend: float = Field(0.8, ge=0.0, le=1.0, description="How much of the restored face: 0 none, 1 all.")
    fidelity: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="codeformer only: 0 restores the most, 1 stays closest to the swapped face.",
    )

    def enhancer(self) -> Enhancer:
        """As the engine takes it."""
        return Enhancer(model=self.model, blend=self.blend, fidelity=self.fidelity)


class SwapOptions(BaseModel):
    """What to swap and how to answer, shared by the JSON and the multipart endpoints."""

    model_config = ConfigDict(extra="forbid")

    source_index: int = Field(
        1,
        ge=1,
        le=INDEX_MAX,
        description="Which source face gives the identity, numbered from 1 left to right.",
    )
    target_index: int | Literal["all"] = Field(
        1,
        description='Which target face is replaced, numbered from 1 left to right; "all": every face.',
        examples=[1, 2, "all"],
    )
    swaps: list[SwapPair] | None = Field(
        None,
        min_length=1,
        max_length=PAIRS_MAX,
        description="Several swaps in one pass, applied in order; replaces source_index/target_index.",
    )
    min_similarity: float = Field(
        0.3,
        ge=-1.0,
        le=1.0,
        description="With a target reference: the lowest ArcFace cosine similarity that counts as a match.",
    )
    output_format: OutputFormat = Field("png", description="Format of the returned image.")
    pixel_boost: PixelBoost | None = Field(None, description=_PIXEL_BOOST_DESCRIPTION, examples=[256, 512])
    color_match: bool = Field(
        False,
        description="Match the swapped face's colour statistics (L*a*b* mean, spread) to the target face's.",
    )

    face_mask: FaceMaskOptions | None = Field(
        None,
        description="Masks that limit where the swapped face is pasted (default: the plain soft-edged box).",
        examples=[{"types": ["box", "occlusion"], "blur": 0.3}],
    )

    face_enhancer: FaceEnhancerOptions | None = Field(
        None,
        description="Restore each swapped face with GFPGAN 1.4, CodeFormer or GPEN-BFR-512 (default: none).",
        examples=[{"model": "gfpgan_1.4", "blend": 0.8}],
    )

    swapper: SwapperName | None = Field(
        None,
        description=(
            "The face swapper (its file under swappers/ in the model dir; GET /models lists them with their "
            "licences). Unset: the deployment's default (FACESWAP_SWAPPER, itself inswapper_128)."
        ),
        examples=["hyperswap_1a_256"],
    )
    swapper_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Identity strength, for the swappers fed an identity vector (all but uniface_256): 0.5 leaves "
            "the source identity as it is; lower values mix in up to 35 % of the target face's own identity, "
            "higher ones push up to 35 % away from it (FaceFusion's face_swapper_weight)."
        ),
        examples=[0.5, 0.7],
    )
    report_similarity: bool = Field(
        False,
        description=(
            "true: each entry of `swapped` gains `similarity_after`, the ArcFace cosine between the source "
            "identity and the swapped face as pasted (one more recognizer run per face)."
        ),
    )

    @field_validator("target_index")
    @classmethod
    def _index_in_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= INDEX_MAX:
            raise ValueError(f'must be between 1 and {INDEX_MAX}, or "all"')
        return value

    @model_validator(mode="after")
    def _boost_suits_swapper(self) -> SwapOptions:
        if self.swapper is not None:
            check_pixel_boost(self.swapper, self.pixel_boost)
        return self

    def quality(self) -> Quality:
        """The quality options as the engine takes them."""
        return Quality(
            pixel_boost=self.pixel_boost,
            color_match=self.color_match,
            face_mask=self.face_mask.mask() if self.face_mask else None,
            face_enhancer=self.face_enhancer.enhancer() if self.face_enhancer else None,
            swapper=self.swapper,
            swapper_weight=self.swapper_weight,
            report_similarity=self.report_similarity,
        )

    def pairs(self) -> list[tuple[int, int]] | None:
        """The explicit (source, target) pairs, when given."""
        return [(pair.source_index, pair.target_index) for pair in self.swaps] if self.swaps else None


class MultiSource(BaseModel):
    """Several photos of the source person instead of one: averaged into one identity."""

    source_urls: list[Annotated[str, Field(max_length=URL_MAX)]] | None = Field(
        None,
        min_length=1,
        max_length=SOURCES_MAX,
        description=(
            f"Instead of source_url: 1 to {SOURCES_MAX} photos of one person (URLs), averaged into one "
            "identity (each photo's source_index-th face). A photo without a face is NO_FACE naming it."
        ),
    )
    source_images: list[Annotated[str, Field(max_length=BASE64_MAX)]] | None = Field(
        None,
        min_length=1,
        max_length=SOURCES_MAX,
        description=f"Instead of source_image: 1 to {SOURCES_MAX} photos in base64, as source_urls.",
    )

    def source_fields(self) -> dict[str, tuple[str | None, str | None]]:
        """The source photos as `resolve_images` takes them: "source", then "source 2", "source 3"..."""
        return source_fields(self)


class SwapInput(SwapOptions, MultiSource):
    """One swap request: each image given exactly once, as a URL or as base64."""

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
    target_reference_url: str | None = Field(
        None,
        max_length=URL_MAX,
        description="Swap the target face most like this person (a URL of their photo).",
    )
    target_reference_image: str | None = Field(
        None, max_length=BASE64_MAX, description="Swap the target face most like this person (base64 photo)."
    )

    @model_validator(mode="after")
    def _each_image_exactly_once(self) -> SwapInput:
        check_sources(self)
        given = [name for name in ("target_url", "target_image") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give the target image exactly once, as target_url or as target_image")
        if self.target_reference_url is not None and self.target_reference_image is not None:
            raise ValueError(
                "give the target reference once, as target_reference_url or target_reference_image"
            )
        if self.has_reference and (self.swaps or self.target_index == "all"):
            raise ValueError(
                "a target reference picks one face: do not combine it with swaps or target_index all"
            )
        return self

    @property
    def has_reference(self) -> bool:
        """Whether the target face is chosen by likeness to a reference photo."""
        return self.target_reference_url is not None or self.target_reference_image is not None


def check_sources(request: Any) -> None:
    """ValueError unless the source is given exactly once: source_url, source_image, source_urls or
    source_images (and several photos are not combined with `swaps`)."""
    given = [
        name
        for name in ("source_url", "source_image", "source_urls", "source_images")
        if getattr(request, name, None) is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "give the source exactly once, as source_url, source_image, source_urls or source_images"
        )
    photos = getattr(request, given[0])
    if isinstance(photos, list) and len(photos) > 1 and getattr(request, "swaps", None):
        raise ValueError("several source photos make one identity: do not combine them with swaps")


def source_fields(request: Any) -> dict[str, tuple[str | None, str | None]]:
    """The source photo(s) of a validated request, by role: "source", "source 2", ..."""
    urls = request.source_urls or ([request.source_url] if request.source_url is not None else [])
    images = request.source_images or ([request.source_image] if request.source_image is not None else [])
    pairs = [(url, None) for url in urls] + [(None, image) for image in images]
    return {
        ("source" if number == 1 else f"source {number}"): pair for number, pair in enumerate(pairs, start=1)
    }


class SwappedFace(BaseModel):
    """One swap that was made."""

    source_index: int
    target_index: int
    similarity: float | None = Field(None, description="With a target reference: the match's similarity.")
    similarity_after: float | None = Field(
        None,
        exclude_if=lambda value: value is None,
        ge=-1.0,
        le=1.0,
        description=(
            "With report_similarity: the ArcFace cosine (-1..1) between the source identity and the swapped "
            "face as pasted; low values mean the swap did not take."
        ),
    )


class SwapOutput(BaseModel):
    """A successful swap."""

    success: Literal[True] = True
    message: str = Field("ok", examples=["ok"])
    image_base64: str = Field(description="The result image in base64 (no data: prefix).")
    format: OutputFormat
    width: int
    height: int
    source_faces: int = Field(description="Faces found in the source image.")
    target_faces: int = Field(description="Faces found in the target image.")
    timings_ms: dict[str, float] = Field(
        description="Milliseconds per stage: fetch, decode, detect, swap, encode."
    )
    request_id: str
    swapped: list[SwappedFace] = Field(description="The swaps made, in order.")
    recoveries: list[str] | None = Field(
        None, description="Faults recovered from while serving this request."
    )
    output_id: str | None = Field(
        None,
        description="The result's id: in its invisible watermark, its C2PA manifest and the service's log.",
    )


class FacesInput(BaseModel):
    """An image whose faces to list: given once, as a URL or as base64."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, max_length=URL_MAX, description=_URL_DESCRIPTION)
    image: str | None = Field(None, max_length=BASE64_MAX, description=_IMAGE_DESCRIPTION)
    preview: bool = Field(
        False, description="Also return a small JPEG with each face's box and number drawn."
    )

    @model_validator(mode="after")
    def _image_exactly_once(self) -> FacesInput:
        if (self.image_url is None) == (self.image is None):
            raise ValueError("give the image exactly once, as image_url or as image")
        return self


class FaceOut(BaseModel):
    """One face, in the coordinates of the (downscaled) image a swap would use."""

    index: int = Field(description="The face's number for source_index/target_index.")
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in pixels.")
    score: float = Field(description="Detector confidence, 0..1.")
    kps: list[list[float]] = Field(description="Five keypoints [x, y]: eyes, nose, mouth corners.")


class FacesOutput(BaseModel):
    """The faces of an image, numbered as the swap endpoints number them."""

    success: Literal[True] = True
    message: str = "ok"
    faces: list[FaceOut]
    width: int
    height: int
    preview_base64: str | None = Field(None, description="With preview: a JPEG with the numbers drawn.")
    request_id: str


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


ModelT = TypeVar("ModelT", bound=BaseModel)


_OMITTED_WHEN_ABSENT = ("recoveries", "preview_base64", "output_id")


def output_body(output: SwapOutput | FacesOutput) -> dict[str, Any]:
    """The output as RunPod's `output` carries it: optional fields only when they have a value."""
    body = output.model_dump()
    for name in _OMITTED_WHEN_ABSENT:
        if name in body and body[name] is None:
            del body[name]
    return body


_FIELD_SHOWN = 40
_UNSHOWN_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]")


def _shown_field(part: object) -> str:
    """A field name (sent by the client, so possibly anything) as an error message may repeat it."""
    text = _UNSHOWN_CHARACTERS.sub("?", str(part))
    return text if len(text) <= _FIELD_SHOWN else text[: _FIELD_SHOWN - 3] + "..."


def validation_message(errors: list[Any]) -> str:
    """One readable sentence from pydantic's error list."""
    if not errors:
        return "The request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    location = ".".join(_shown_field(part) for part in first.get("loc", ()) if part != "body")
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "is not a known field"
    sentence = f"{location}: {message}" if location else message
    return sentence[:299].rstrip(".") + "."


def validated(model: type[ModelT], fields: object) -> ModelT:
    """`fields` as `model`, or INVALID_INPUT with one readable sentence."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise SwapError(ErrorCode.INVALID_INPUT, validation_message(list(exc.errors()))) from exc
