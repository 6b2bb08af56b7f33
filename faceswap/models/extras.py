"""Where the optional models come from: FaceFusion's public releases, checked like the core models."""

from __future__ import annotations

from collections.abc import Sequence

from faceswap.models.registry import OPTIONAL_SPECS, ModelSpec
from faceswap.models.sources import Artifact, Source

__all__ = ["OPTIONAL_NAMES", "optional_sources", "parse_names"]

OPTIONAL_NAMES: tuple[str, ...] = tuple(OPTIONAL_SPECS)
_RELEASES = dict.fromkeys(("nsfw_1", "nsfw_2", "nsfw_3"), "models-3.3.0")


def _source(spec: ModelSpec) -> Source:
    release = _RELEASES.get(spec.name, spec.release)
    file = spec.path.rsplit("/", 1)[1]
    return Source(
        urls=(
            f"https://github.com/facefusion/facefusion-assets/releases/download/{release}/{file}",
            f"https://huggingface.co/facefusion/{release}/resolve/main/{file}",
        ),
        files=(Artifact(path=spec.path, size=spec.size, sha256=spec.sha256, crc32=spec.crc32),),
    )


def parse_names(text: str) -> tuple[str, ...]:
    """`--with`'s value: comma-separated names, or "all"; ValueError naming the choices otherwise."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in OPTIONAL_NAMES and name != "all"]
    if unknown or not names:
        raise ValueError(
            f"unknown optional model {', '.join(unknown) or '(none)'}: choose from "
            f"{', '.join(OPTIONAL_NAMES)} or all"
        )
    return OPTIONAL_NAMES if "all" in names else names


def optional_sources(names: Sequence[str], given: Sequence[Source] = ()) -> tuple[Source, ...]:
    """The public sources of the named optional models, except those whose file `given` already lists."""
    listed = {artifact.path for source in given for artifact in source.files}
    return tuple(_source(OPTIONAL_SPECS[name]) for name in names if OPTIONAL_SPECS[name].path not in listed)
