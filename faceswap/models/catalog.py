"""Every model the service knows, installed or not, with its licence (for `GET /models` and the doctor)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from faceswap.errors import ModelFileError
from faceswap.models.check import check_model_file
from faceswap.models.registry import (
    GUARD_MODEL_SPECS,
    MODEL_SPECS,
    OPTIONAL_MODEL_SPECS,
    Commercial,
    ModelRole,
    ModelSpec,
)

__all__ = ["PIPELINE_NOTICE", "ModelEntry", "catalog"]

PIPELINE_NOTICE = (
    "Every swap runs InsightFace's buffalo_l detector and recognizer, licensed for non-commercial research "
    "only, whichever swapper is chosen: no pipeline of this service is cleared for commercial use as shipped."
)


class ModelEntry(BaseModel):
    """One model file: what it is, whether it is here and loaded, and on what terms it may be used."""

    name: str = Field(
        description="The name requests and `download --with` use (core models: the file's stem)."
    )
    role: ModelRole = Field(description="What the model does in the pipeline.")
    file: str = Field(description="Its path under FACESWAP_MODEL_DIR.")
    core: bool = Field(description="Needed by every swap (true), or optional (loaded on first use).")
    installed: bool = Field(description="The file is in the model dir and passes the structural check.")
    loaded: bool = Field(description="A session of it is loaded in this process.")
    licence: str = Field(description="The weights' licence, as published.")
    commercial_use: Commercial = Field(description="Whether that licence allows commercial use.")
    size: int | None = Field(
        description="Bytes: the installed file's, else the official file's (exact or as listings round it)."
    )
    verification: Literal["sha256", "crc32", "structure"] = Field(
        description="How a download is checked beyond the ONNX structure: published SHA-256, CRC32, or none."
    )


def _name(spec: ModelSpec) -> str:
    return spec.name or Path(spec.path).stem


def _installed(model_dir: Path, spec: ModelSpec) -> bool:
    try:
        check_model_file(model_dir / spec.path, spec, model_dir)
    except ModelFileError:
        return False
    return True


def catalog(model_dir: Path, loaded: Collection[str]) -> list[ModelEntry]:
    """Every known model, core first; `loaded` names those with a session in this process."""
    entries = []
    for core, specs in ((True, MODEL_SPECS), (False, (*OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS))):
        for spec in specs:
            installed = _installed(model_dir, spec)
            size = (model_dir / spec.path).stat().st_size if installed else spec.size or spec.approx_size
            entries.append(
                ModelEntry(
                    name=_name(spec),
                    role=spec.role,
                    file=spec.path,
                    core=core,
                    installed=installed,
                    loaded=_name(spec) in loaded,
                    licence=spec.licence,
                    commercial_use=spec.commercial,
                    size=size,
                    verification=spec.verification,
                )
            )
    return entries
