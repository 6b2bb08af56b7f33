"""The optional models the quality options use, loaded on first use and never needed for readiness.

Each lives under the model dir (`enhancers/`, `masks/`); a request whose option needs one that is not
there gets MODEL_NOT_INSTALLED, naming the file and the command that fetches it. A session, once made,
is shared by every request; sessions are never changed after they are made.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import onnxruntime as ort

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.models.loader import provider_options, session_options

__all__ = [
    "ENHANCER_SPECS",
    "OCCLUDER",
    "OPTIONAL_SPECS",
    "PARSER",
    "OptionalModels",
    "OptionalSpec",
    "install_command",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionalSpec:
    """One optional model: its name in `--with`, its file under the model dir and what it is for."""

    name: str
    path: str
    label: str


OCCLUDER = OptionalSpec("xseg_1", "masks/xseg_1.onnx", "occlusion mask's occluder (XSeg)")
PARSER = OptionalSpec(
    "bisenet_resnet_34", "masks/bisenet_resnet_34.onnx", "region mask's face parser (BiSeNet)"
)
ENHANCER_SPECS = (
    OptionalSpec("gfpgan_1.4", "enhancers/gfpgan_1.4.onnx", "face enhancer GFPGAN 1.4"),
    OptionalSpec("codeformer", "enhancers/codeformer.onnx", "face enhancer CodeFormer"),
    OptionalSpec("gpen_bfr_512", "enhancers/gpen_bfr_512.onnx", "face enhancer GPEN-BFR-512"),
)
OPTIONAL_SPECS: dict[str, OptionalSpec] = {spec.name: spec for spec in (*ENHANCER_SPECS, OCCLUDER, PARSER)}


def install_command(name: str) -> str:
    """The command that fetches optional model `name` into the configured model dir."""
    return f"python -m faceswap.models download --with {name}"


class OptionalModels:
    """Sessions of the optional models, each made on first use, on the core models' providers."""

    def __init__(self, settings: Settings, providers: tuple[str, ...]) -> None:
        self._settings = settings
        self._providers = providers
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    def session(self, name: str) -> ort.InferenceSession:
        """The model's session; MODEL_NOT_INSTALLED when its file is not in the model dir."""
        spec = OPTIONAL_SPECS[name]
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = self._load(spec)
            return self._sessions[name]

    def _load(self, spec: OptionalSpec) -> ort.InferenceSession:
        path = self._settings.model_dir / spec.path
        if not path.is_file():
            raise SwapError(
                ErrorCode.MODEL_NOT_INSTALLED,
                f"The {spec.label} is not installed: {spec.path} is not in the model folder; "
                f"run `{install_command(spec.name)}` and try again.",
            )
        try:
            session = ort.InferenceSession(
                str(path),
                sess_options=session_options(self._settings.intra_op_threads),
                providers=list(self._providers),
                provider_options=list(provider_options(self._providers, self._settings.gpu_mem_limit)),
            )
        # ONNX Runtime's errors derive from Exception only.
        except Exception as exc:
            log.exception("loading %s failed", spec.path)
            raise SwapError(
                ErrorCode.MODEL_NOT_INSTALLED,
                f"The {spec.label} could not be loaded from {spec.path}: "
                f"run `{install_command(spec.name)} --force` to fetch it again.",
            ) from exc
        log.info("loaded %s on %s", spec.path, ", ".join(self._providers))
        return session
