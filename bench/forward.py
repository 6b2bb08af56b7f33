"""The swapper's forward alone, one session setting changed at a time: ``python -m bench.forward``.

``[--rounds N] [--threads T] [--only NAME,NAME]``. Every variant is a session over the cost-faithful
inswapper_128 stand-in (bench.standins) in this one process; each round runs every variant once, in an
order that rotates from round to round, so load from other work on the machine falls on all of them alike.
Prints, per variant, the median wall time of a forward, its median process CPU time (every thread of the
process, ONNX Runtime's included: what a busy machine cannot inflate, though threads that spin while they
wait add to it) and how far the resident-memory peak of its forwards rose above the memory before them.

Variants: ``shipped`` is the service's swapper (faceswap.models.loader: its optimized copy, in two sessions
cut at the decoder (faceswap.models.split), loaded with graph optimisations off, CPU arena and memory
patterns off, spinning stopped after each run, threads
from the CPU quota, IO binding, C allocations of 1 MiB or more mapped: faceswap.runtime.memory); each other
variant changes one thing of it; ``reference`` is a session as
insightface's INSwapper makes it (every default, ``session.run``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.standins import default_cache_dir, write_pack
from bench.worker import memory_mb, reset_peak
from faceswap.config import Settings
from faceswap.constants import CPU_PROVIDER
from faceswap.models.loader import optimized_swapper_copy, session_options
from faceswap.models.registry import SWAPPER
from faceswap.models.split import split_halves
from faceswap.pipeline.swap import swap_crop
from faceswap.runtime.memory import MAPPED_ALLOCATION_BYTES, map_large_allocations

__all__ = ["VARIANTS", "Variant", "main"]

HEAP_CEILING = 32 << 20
"""glibc's dynamic mmap threshold rises up to this as large blocks are freed."""

Tweak = Callable[[ort.SessionOptions], None]


def _arena_on(options: ort.SessionOptions) -> None:
    options.enable_cpu_mem_arena = True


def _patterns_on(options: ort.SessionOptions) -> None:
    options.enable_mem_pattern = True


def _spinning_kept(options: ort.SessionOptions) -> None:
    options.add_session_config_entry("session.force_spinning_stop", "0")


def _no_spinning(options: ort.SessionOptions) -> None:
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")


def _extended(options: ort.SessionOptions) -> None:
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED


def _all(options: ort.SessionOptions) -> None:
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def _no_reuse(options: ort.SessionOptions) -> None:
    options.enable_mem_reuse = False


@dataclass(frozen=True)
class Variant:
    """One session setting changed from the shipped one."""

    optimized_copy: bool = True
    halves: bool = True
    tweak: Tweak | None = None
    io_binding: bool = True
    mapped_from: int = MAPPED_ALLOCATION_BYTES
    reference: bool = False


VARIANTS = {
    "shipped": Variant(),
    "one session (the whole optimized copy)": Variant(halves=False),
    "one session with buffer reuse off": Variant(halves=False, tweak=_no_reuse),
    "arena on": Variant(tweak=_arena_on),
    "memory patterns on": Variant(tweak=_patterns_on),
    "spinning kept after runs": Variant(tweak=_spinning_kept),
    "no spinning at all": Variant(tweak=_no_spinning),
    "large buffers in the heap (glibc's 32 MiB threshold)": Variant(mapped_from=HEAP_CEILING),
    "original file, every optimisation": Variant(optimized_copy=False, tweak=_all),
    "original file, extended optimisations (no NCHWc layout)": Variant(optimized_copy=False, tweak=_extended),
    "session.run in place of IO binding": Variant(io_binding=False),
    "reference (INSwapper's session)": Variant(
        optimized_copy=False, io_binding=False, mapped_from=HEAP_CEILING, reference=True
    ),
}
"""What each variant changes (the reference keeps glibc's defaults: its threshold rises to 32 MiB)."""


Sessions = tuple[ort.InferenceSession, ort.InferenceSession | None]
"""A variant's session and, when the model runs in two halves, the second."""


def _sessions(model: Path, copy: Path | None, spec: Variant, threads: int) -> Sessions:
    use_copy, tweak = spec.optimized_copy, spec.tweak
    if copy is None and use_copy:
        raise SystemExit("no optimized copy of the swapper could be made")
    if spec.reference:
        return ort.InferenceSession(str(model), providers=[CPU_PROVIDER]), None
    options = session_options(threads)
    if use_copy:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if tweak is not None:
        tweak(options)
    halves = split_halves(copy) if copy is not None and use_copy and spec.halves else None
    if halves is not None:
        head, tail = (ort.InferenceSession(str(half), options, providers=[CPU_PROVIDER]) for half in halves)
        return head, tail
    return ort.InferenceSession(str(copy if use_copy else model), options, providers=[CPU_PROVIDER]), None


def _forward(sessions: Sessions, spec: Variant, crop: np.ndarray, latent: np.ndarray) -> None:
    map_large_allocations(spec.mapped_from)
    session, tail = sessions
    names = [value.name for value in session.get_inputs()]
    if spec.io_binding:
        swap_crop(session, names, crop, latent, tail=tail)
        return
    blob = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
    outputs = session.run(None, {names[0]: blob, names[1]: latent})
    if tail is not None:
        tail.run(None, {tail.get_inputs()[0].name: outputs[0]})


def _timed(run: Callable[[], None]) -> tuple[float, float, float]:
    before = memory_mb()["rss_mb"]
    reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0
    return wall, cpu, memory_mb()["hwm_mb"] - before


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: one JSON line per variant."""
    parser = argparse.ArgumentParser(prog="python -m bench.forward", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: the CPU quota)")
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args(argv)
    pack = write_pack(args.cache_dir)
    model = pack.directory / SWAPPER.path
    settings = Settings(model_dir=pack.directory, providers="cpu", intra_op_threads=args.threads)
    copy = optimized_swapper_copy(settings)
    chosen = {name: spec for name, spec in VARIANTS.items() if not args.only or name in args.only.split(",")}
    sessions = {name: _sessions(model, copy, spec, args.threads) for name, spec in chosen.items()}
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    latent = rng.standard_normal((1, 512)).astype(np.float32)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sessions}
    names = list(sessions)
    for name in names:  # warm-up: first runs allocate and page the weights in
        _forward(sessions[name], chosen[name], crop, latent)
    for turn in range(args.rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            runs[name].append(_timed(lambda n=name: _forward(sessions[n], chosen[n], crop, latent)))
    for name, timings in runs.items():
        wall, cpu, peak = zip(*timings, strict=True)
        line = {"variant": name, "wall_ms": round(statistics.median(wall), 1)}
        line |= {"cpu_ms": round(statistics.median(cpu), 1), "peak_above_before_mb": round(max(peak), 1)}
        sys.stdout.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
