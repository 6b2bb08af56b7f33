"""Where the model files come from: the published sources and the JSON manifest that replaces them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from faceswap.errors import DownloadError
from faceswap.models.registry import (
    DETECTOR,
    GUARD_MODEL_SPECS,
    MODEL_SPECS,
    OPTIONAL_MODEL_SPECS,
    RECOGNIZER,
    SWAPPER,
    ModelSpec,
)

__all__ = [
    "DEFAULT_SOURCES",
    "Artifact",
    "Source",
    "load_manifest",
]

SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SPECS = {spec.path: spec for spec in (*MODEL_SPECS, *OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS)}


class Artifact(BaseModel):
    """One model file a source provides: its path under the model dir, its name in the archive, checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="Destination under the model dir, e.g. buffalo_l/det_10g.onnx.")
    member: str | None = Field(
        None, description="File name inside the source's zip; unset: the source is the file."
    )
    size: int | None = Field(None, gt=0, description="Bytes of the file.")
    sha256: str | None = Field(
        None, pattern=SHA256_PATTERN, description="Lower-case hex SHA-256 of the file."
    )
    crc32: str | None = Field(
        None, pattern=r"^[0-9a-f]{8}$", description="Lower-case hex CRC32 of the file (FaceFusion's .hash)."
    )

    @field_validator("path")
    @classmethod
    def _known_path(cls, value: str) -> str:
        if value not in _SPECS:
            raise ValueError(f"must be one of {', '.join(_SPECS)}")
        return value

    @property
    def spec(self) -> ModelSpec:
        """The model slot this file fills."""
        return _SPECS[self.path]


class Source(BaseModel):
    """One download (tried at each URL in turn): a zip holding model files, or a model file itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[str, ...] = Field(min_length=1, description="http(s) URLs of the same bytes, tried in order.")
    files: tuple[Artifact, ...] = Field(min_length=1, description="The model files it provides.")
    size: int | None = Field(None, gt=0, description="Bytes of the zip (archives only).")
    sha256: str | None = Field(
        None, pattern=SHA256_PATTERN, description="SHA-256 of the zip (archives only)."
    )

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    @model_validator(mode="after")
    def _archive_or_file(self) -> Source:
        members = [artifact.member is not None for artifact in self.files]
        if any(members) and not all(members):
            raise ValueError("either every file names its archive member or none does")
        if not any(members) and (len(self.files) != 1 or self.size is not None or self.sha256 is not None):
            raise ValueError("a source without archive members is one file; give its size and sha256 there")
        return self

    @property
    def is_archive(self) -> bool:
        """True when the source is a zip to extract the files from."""
        return self.files[0].member is not None


_MANIFEST = TypeAdapter(tuple[Source, ...])

DEFAULT_SOURCES: tuple[Source, ...] = (
    Source(
        urls=("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",),
        size=288_621_354,
        sha256="80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
        files=tuple(
            Artifact(path=spec.path, member=PurePosixPath(spec.path).name, size=spec.size, sha256=spec.sha256)
            for spec in (DETECTOR, RECOGNIZER)
        ),
    ),
    Source(
        urls=(
            "https://huggingface.co/ezioruan/inswapper_128.onnx/resolve/main/inswapper_128.onnx",
            "https://huggingface.co/datasets/Gourieff/ReActor/resolve/main/models/inswapper_128.onnx",
        ),
        files=(Artifact(path=SWAPPER.path, size=SWAPPER.size, sha256=SWAPPER.sha256),),
    ),
)


def load_manifest(path: Path) -> tuple[Source, ...]:
    """The sources listed in a JSON manifest: a list of Source objects."""
    try:
        return _MANIFEST.validate_json(path.read_bytes())
    except OSError as exc:
        raise DownloadError(f"The manifest {path.name} cannot be read ({exc.strerror}).") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise DownloadError(f"The manifest {path.name} is not valid at {where}: {first['msg']}.") from exc
