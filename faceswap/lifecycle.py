"""Model loading as a lifecycle: loading → ready, or failed with the reason, retried until fixed.

The process never exits because a model cannot load: the state says why, and the loader keeps
retrying with backoff, then watches the model files and tries again when they change.

After OOM_STRIKES out-of-memory answers in a row the worker heals itself: it stops taking swaps
(``recovering``), waits ``FACESWAP_OOM_COOLDOWN`` seconds so that whatever else held the memory (another
process on the GPU, requests still unwinding) can let go, then drops every session, which hands the
whole arena back, and loads them again. Only when HEAL_ATTEMPTS such reloads fail is it ``failed``, and
its reason then says what to do (``remedy``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from faceswap.config import Settings
from faceswap.constants import CUDA_PROVIDER
from faceswap.errors import ErrorCode, SwapError
from faceswap.models.check import FileSignature, file_signature
from faceswap.models.loader import (
    FaceModels,
    ModelError,
    ModelLoadError,
    Swapper,
    clear_model_cache,
    load_cpu_swapper,
    load_models,
)
from faceswap.models.registry import MODEL_SPECS, OPTIONAL_SPECS, SYNTHETIC_NOTICE
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.swappers import SWAPPERS
from faceswap.provenance.policy import Provenance
from faceswap.runtime.backoff import backoff_delays
from faceswap.runtime.failpoints import Failpoints
from faceswap.runtime.memory import release_free_heap

__all__ = ["ModelLifecycle", "ModelState", "Status"]

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 30.0
WATCH_INTERVAL = 2.0
OOM_STRIKES = 3
HEAL_ATTEMPTS = 3
LOADING_RETRY_AFTER = 5
FAILED_RETRY_AFTER = 60
OOM_RETRY_AFTER = 5


class Status(StrEnum):
    """Where the worker stands."""

    LOADING = "loading"
    READY = "ready"
    RECOVERING = "recovering"
    FAILED = "failed"
    DRAINING = "draining"


@dataclass(frozen=True)
class ModelState:
    """A snapshot of the lifecycle."""

    status: Status
    reason: str | None = None
    attempts: int = 0
    load_seconds: float | None = None
    providers: tuple[str, ...] = ()
    precision: str | None = None
    synthetic: bool = False


def _files_signature(model_dir: Path, swapper: str) -> tuple[tuple[str, FileSignature | None], ...]:
    """Each needed model file's signature, None where it cannot be stat'ed: a change means another load
    may work (the default swapper's files included, when it is not inswapper_128)."""
    signatures = []
    model = SWAPPERS[swapper]
    extra = [OPTIONAL_SPECS[name] for name in (model.name, model.converter) if name in OPTIONAL_SPECS]
    for spec in (*MODEL_SPECS, *extra):
        try:
            signatures.append((spec.path, file_signature(model_dir / spec.path)))
        except OSError:
            signatures.append((spec.path, None))
    return tuple(signatures)


class ModelLifecycle:
    """Owns the engine once models load; thread-safe snapshots of the state."""

    def __init__(
        self,
        settings: Settings,
        failpoints: Failpoints | None = None,
        loader: Callable[[Settings], object] = load_models,
        remedy: str = "restart the worker",
    ) -> None:
        self.settings = settings
        self.remedy = remedy
        self.failpoints = failpoints or Failpoints()
        self._loader = loader
        self._lock = threading.Lock()
        self._state = ModelState(Status.LOADING)
        self._engine: Engine | None = None
        self._oom_streak = 0
        self._next_attempt: float | None = None
        self._last_failure = ""
        self._healer: threading.Thread | None = None
        self.retrying = False
        self._retry_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ModelState:
        """The current state."""
        with self._lock:
            return self._state

    def _set(self, state: ModelState) -> None:
        with self._lock:
            if self._state.status is not Status.DRAINING:
                self._state = state

    def engine(self) -> Engine:
        """The ready engine, or NOT_READY with the reason and when trying again is worth it."""
        with self._lock:
            state, engine = self._state, self._engine
        if state.status is Status.READY and engine is not None:
            return engine
        if state.status is Status.DRAINING:
            raise SwapError(
                ErrorCode.NOT_READY, "The worker is shutting down; send the request again.", retry_after=1
            )
        if state.status is Status.RECOVERING:
            message = f"The worker cannot take swaps for now: {state.reason}"
        elif state.status is Status.FAILED:
            message = f"The worker cannot take swaps: {state.reason}"
        else:
            message = "The face models are still loading; try again shortly."
        raise SwapError(ErrorCode.NOT_READY, message, retry_after=self.retry_after())

    def retry_after(self) -> int:
        """Seconds until the worker may take swaps again, as far as it knows (at least 1)."""
        with self._lock:
            state, at = self._state, self._next_attempt
        if state.status is Status.READY:
            return 1
        if state.status is Status.FAILED and at is None:
            return FAILED_RETRY_AFTER
        load = state.load_seconds or LOADING_RETRY_AFTER
        wait = max(0.0, at - time.monotonic()) if at is not None else 0.0
        return max(1, math.ceil(wait + load))

    def out_of_memory_retry_after(self) -> int:
        """Retry-After for an OUT_OF_MEMORY answer: the recovery's end once one began, else a short wait."""
        return OOM_RETRY_AFTER if self.state.status is Status.READY else self.retry_after()

    def _cpu_fallback(self, models: FaceModels) -> Callable[[], Swapper] | None:
        if not self.settings.cpu_fallback or CUDA_PROVIDER not in models.providers:
            return None
        return lambda: load_cpu_swapper(self.settings)

    def record_outcome(self, *, out_of_memory: bool) -> None:
        """Count out-of-memory failures in a row; after OOM_STRIKES the worker heals itself (see above)."""
        with self._lock:
            self._oom_streak = self._oom_streak + 1 if out_of_memory else 0
            streak = self._oom_streak
            healing = self._healer is not None and self._healer.is_alive()
        if streak < OOM_STRIKES or healing or self.state.status is not Status.READY:
            return
        cooldown = self.settings.oom_cooldown
        log.error("%d out-of-memory failures in a row: reloading the models in %g s", streak, cooldown)
        with self._lock:
            self._next_attempt = time.monotonic() + cooldown
        self._set(
            ModelState(
                Status.RECOVERING,
                reason=f"the worker ran out of memory {streak} times in a row; it reloads its models "
                f"by itself {cooldown:g} s after the last one.",
                attempts=self.state.attempts,
                load_seconds=self.state.load_seconds,
            )
        )
        self._healer = threading.Thread(target=self._heal, args=(streak,), name="oom-heal", daemon=True)
        self._healer.start()

    def _heal(self, streak: int) -> None:
        """After the cool-down, drop the sessions and load them again; HEAL_ATTEMPTS tries, then failed."""
        delays = backoff_delays(BACKOFF_FIRST, BACKOFF_CAP)
        for attempt in range(1, HEAL_ATTEMPTS + 1):
            with self._lock:
                at = self._next_attempt or time.monotonic()
            time.sleep(max(0.0, at - time.monotonic()))
            if self.state.status is Status.DRAINING:
                return
            if self.reload(keep_status=True):
                log.info("recovered from repeated out-of-memory failures (reload %d)", attempt)
                return
            with self._lock:
                self._next_attempt = time.monotonic() + next(delays) if attempt < HEAL_ATTEMPTS else None
        log.error("the models did not load again after %d out-of-memory failures", streak)
        self._set(
            ModelState(
                Status.FAILED,
                reason=f"the worker ran out of memory {streak} times in a row and could not load its "
                f"models again ({self._last_failure.rstrip('.')}); "
                f"{self.remedy}.",
                attempts=self.state.attempts,
            )
        )

    def reload(self, *, keep_status: bool = False) -> bool:
        """Drop the loaded models, hand their memory back and load them again (blocking); True when ready.

        `keep_status` leaves the state as it is (recovering) until the load ends.
        """
        with self._lock:
            self._engine = None
            self._oom_streak = 0
        if not keep_status:
            self._set(ModelState(Status.LOADING))
        clear_model_cache()
        gc.collect()
        release_free_heap()
        return self.try_load(keep_status=keep_status)

    def ready_engine(self) -> Engine | None:
        """The engine when ready, else None."""
        with self._lock:
            return self._engine if self._state.status is Status.READY else None

    def drain(self) -> None:
        """Mark the worker as shutting down: no new work is accepted."""
        with self._lock:
            self._state = ModelState(Status.DRAINING, reason="shutting down", attempts=self._state.attempts)

    def try_load(self, *, keep_status: bool = False) -> bool:
        """One load attempt (blocking); True when ready. A failure sets failed unless `keep_status`."""
        attempts = self.state.attempts + 1
        started = time.monotonic()
        try:
            if self.failpoints.hit("load_fail"):
                raise ModelLoadError("injected load failure (failpoint load_fail).")
            models = self._loader(self.settings)
            provenance = Provenance.from_settings(self.settings, tuple(models.providers))
            engine = Engine(
                models, self.settings, self.failpoints, self._cpu_fallback(models), provenance=provenance
            )
            engine.swapper(self.settings.swapper)
        except ModelError as exc:
            reason = self._without_paths(exc.reason)
        except SwapError as exc:
            reason = self._without_paths(exc.message)
        except Exception as exc:
            log.exception("model loading failed")
            reason = f"unexpected error while loading the models ({type(exc).__name__}); see the worker log."
        else:
            elapsed = time.monotonic() - started
            with self._lock:
                self._engine = engine
                self._next_attempt = None
            self._set(
                ModelState(
                    Status.READY,
                    attempts=attempts,
                    load_seconds=elapsed,
                    providers=engine.providers,
                    precision=engine.models.precision,
                    synthetic=engine.models.synthetic,
                )
            )
            notice = f" ({SYNTHETIC_NOTICE})" if engine.models.synthetic else ""
            log.info("models ready in %.2f s on %s%s", elapsed, ", ".join(engine.providers), notice)
            return True
        log.error("model loading failed (attempt %d): %s", attempts, reason)
        self._last_failure = reason
        if not keep_status:
            self._set(ModelState(Status.FAILED, reason=reason, attempts=attempts))
        return False

    def keep_trying(self) -> None:
        """After a failed reload, retry and watch the files as after a failed start (on the event loop)."""
        if not self.retrying:
            self._retry_task = asyncio.get_running_loop().create_task(self.run(), name="model-loader")

    def _without_paths(self, reason: str) -> str:
        """`reason` with the model dir (as set, and absolute) shown as $FACESWAP_MODEL_DIR: clients see it."""
        model_dir = self.settings.model_dir
        for shown in sorted({str(model_dir.absolute()), str(model_dir)}, key=len, reverse=True):
            as_path = rf"(?<![\w.~/-])(?:\./)?{re.escape(shown)}(?=/)"
            as_argument = rf"(?<=--dir ){re.escape(shlex.quote(shown))}(?![\w/-])"
            reason = re.sub(f"{as_path}|{as_argument}", "$FACESWAP_MODEL_DIR", reason)
        return reason

    async def run(self) -> None:
        """Load in a thread; on failure retry with backoff, then retry whenever the files change."""
        self.retrying = True
        try:
            delays = backoff_delays(BACKOFF_FIRST, BACKOFF_CAP)
            retries = 0
            while not await asyncio.to_thread(self.try_load):
                if self.state.status is Status.DRAINING:
                    return
                if retries >= self.settings.model_load_retries:
                    await self._wait_for_file_change()
                else:
                    retries += 1
                    delay = next(delays)
                    with self._lock:
                        self._next_attempt = time.monotonic() + delay
                    await asyncio.sleep(delay)
                    with self._lock:
                        self._next_attempt = None
        finally:
            self.retrying = False

    async def _wait_for_file_change(self) -> None:
        before = _files_signature(self.settings.model_dir, self.settings.swapper)
        while _files_signature(self.settings.model_dir, self.settings.swapper) == before:
            await asyncio.sleep(WATCH_INTERVAL)
        log.info("model files changed on disk; loading again")
