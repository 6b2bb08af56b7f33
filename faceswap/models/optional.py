"""The optional models the quality options use, loaded on first use and never needed for readiness.

Each lives under the model dir (`enhancers/`, `masks/`); a request whose option needs one that is not
there gets MODEL_NOT_INSTALLED, naming the file and the command that fetches it. A session, once made,
is shared by every request; sessions are never changed after they are made.
"""

from __future__ import annotations

import logging
import threading

import onnxruntime as ort

from faceswap.config import Settings
from faceswap.errors import ErrorCode, ModelFileError, SwapError
from faceswap.models.check import check_model_file
from faceswap.models.loader import provider_options, session_options
from faceswap.models.registry import OPTIONAL_SPECS, ModelSpec, optional_spec

__all__ = [
    "OCCLUDER",
    "OPTIONAL_SPECS",
    "PARSER",
    "OptionalModels",
    "install_command",
]

log = logging.getLogger(__name__)


OCCLUDER = optional_spec("xseg_1")
PARSER = optional_spec("bisenet_resnet_34")


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

    def preload(self, names: tuple[str, ...]) -> threading.Thread:
        """Load the named models on a background thread (failures are logged: requests report them)."""

        def load_all() -> None:
            for name in names:
                try:
                    self.session(name)
                except SwapError as exc:
                    log.warning("preloading %s: %s", name, exc.message)

        thread = threading.Thread(target=load_all, name="preload", daemon=True)
        thread.start()
        return thread

    @property
    def loaded(self) -> tuple[str, ...]:
        """The names of the models with a session."""
        with self._lock:
            return tuple(self._sessions)

    def session(self, name: str) -> ort.InferenceSession:
        """The model's session; MODEL_NOT_INSTALLED when its file is not in the model dir."""
        spec = OPTIONAL_SPECS[name]
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = self._load(spec)
            return self._sessions[name]

    def _load(self, spec: ModelSpec) -> ort.InferenceSession:
        path = self._settings.model_dir / spec.path
        try:
            check_model_file(path, spec, self._settings.model_dir)
        except ModelFileError as exc:
            if exc.kind == "missing":
                reason = f"{spec.path} is not in the model folder; run `{install_command(spec.name)}`"
            else:
                fault = exc.kind.replace("_", " ")
                reason = f"{spec.path} is unusable ({fault}); run `{install_command(spec.name)} --force`"
            raise SwapError(
                ErrorCode.MODEL_NOT_INSTALLED, f"The {spec.label} is not installed: {reason} and try again."
            ) from exc
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
