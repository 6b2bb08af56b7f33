"""One pipeline in its own process, driven over a pipe: one JSON line per request, one per answer.

``python -m bench.worker PIPELINE --models DIR [--providers cpu|cuda|auto] [--once]``

It answers first with a ``ready`` line (import and load seconds, resident memory after load), then one line
per swap request (``source``, ``target``, ``target_index``, ``max_dimension``): total milliseconds, the
milliseconds inside ONNX Runtime's ``InferenceSession.run`` (per model file), the pipeline's own stage
times and the resident-memory peak during the request. ``--once`` (cold start) answers ready, then releases
the C heap's free memory (faceswap.runtime.memory.release_free_heap, which our loader already calls; for the
reference it shows how much of its memory is the allocator's slack), answers again with the memory after
that, and exits.
Library output on stdout (INSwapper prints) is sent to stderr so that it cannot corrupt the protocol.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from faceswap.runtime.memory import release_free_heap

__all__ = ["ForwardClock", "main", "memory_mb", "reset_peak"]

STARTED = time.perf_counter()


class ForwardClock:
    """Times every InferenceSession.run and run_with_iobinding in this process, per model file.

    A session is named by the file it was created from, unless it was given a name (a session made from
    a derived copy, such as our swapper's optimized copy, is named after the model it stands for).
    """

    def __init__(self) -> None:
        self.ms: defaultdict[str, float] = defaultdict(float)
        self.names: dict[int, str] = {}

    def name(self, session: Any, name: str) -> None:
        """Report `session`'s time under `name`."""
        self.names[id(session)] = name

    def install(self, session_class: Any) -> None:
        """Wrap the class's run methods (every session, subclasses included, is timed from now on)."""
        for method in ("run", "run_with_iobinding"):
            setattr(session_class, method, self._timed(getattr(session_class, method)))

    def _timed(self, original: Callable[..., Any]) -> Callable[..., Any]:
        ms, names = self.ms, self.names

        def timed_run(session: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(session, *args, **kwargs)
            finally:
                name = (
                    names.get(id(session)) or Path(getattr(session, "_model_path", None) or "in-memory").name
                )
                ms[name] += (time.perf_counter() - started) * 1000.0

        return timed_run

    def reset(self) -> None:
        """Forget the times so far."""
        self.ms.clear()

    def by_model(self) -> dict[str, float]:
        """Milliseconds per model file since the last reset."""
        return {name: round(value, 2) for name, value in sorted(self.ms.items())}


_STATUS_KEYS = {"VmRSS": "rss_mb", "VmHWM": "hwm_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}


def memory_mb() -> dict[str, float]:
    """This process's resident memory from /proc/self/status: now (rss_mb: anon_mb + file_mb + shared
    memory) and its peak (hwm_mb); zeros where that file is missing."""
    values = dict.fromkeys(_STATUS_KEYS.values(), 0.0)
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        key, _, rest = line.partition(":")
        if key in _STATUS_KEYS:
            values[_STATUS_KEYS[key]] = round(int(rest.split()[0]) / 1024.0, 1)
    return values


def reset_peak() -> bool:
    """Reset the resident-memory peak to the current size (Linux clear_refs 5); False where refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _serve(pipeline: Any, clock: ForwardClock, requests: TextIO, channel: TextIO) -> None:
    for line in requests:
        request = json.loads(line)
        source = Path(request["source"]).read_bytes()
        target = Path(request["target"]).read_bytes()
        reset_peak()
        clock.reset()
        started = time.perf_counter()
        try:
            outcome = pipeline.swap(source, target, request["target_index"], request["max_dimension"])
        except Exception as exc:  # reported to the harness, which stops the run
            _send(channel, {"error": f"{type(exc).__name__}: {exc}"})
            continue
        total = (time.perf_counter() - started) * 1000.0
        forwards = clock.by_model()
        _send(
            channel,
            {
                "total_ms": round(total, 2),
                "forward_ms": round(sum(forwards.values()), 2),
                "forward_by_model": forwards,
                "stages_ms": outcome.stages_ms,
                "target_faces": outcome.target_faces,
                "payload_chars": len(outcome.payload),
                **memory_mb(),
            },
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="ours or reference")
    parser.add_argument("--models", type=Path, required=True, help="stand-in (or real) model folder")
    parser.add_argument("--providers", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--once", action="store_true", help="exit after the ready line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Load the pipeline, report ready, then serve requests from stdin until it closes."""
    args = _parser().parse_args(argv)
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("ignore", FutureWarning)  # scikit-image, on every insightface alignment
    pipelines = importlib.import_module("bench.pipelines")
    pipelines.import_libraries(args.pipeline)
    clock = ForwardClock()
    clock.install(importlib.import_module("onnxruntime").InferenceSession)
    imported = time.perf_counter()
    pipeline = pipelines.load_pipeline(args.pipeline, args.models, args.providers)
    loaded = time.perf_counter()
    for session, name in pipeline.session_names():
        clock.name(session, name)
    _send(
        channel,
        {
            "event": "ready",
            "import_s": round(imported - STARTED, 3),
            "load_s": round(loaded - imported, 3),
            **memory_mb(),
        },
    )
    if args.once:
        _send(channel, {"event": "trimmed", "trimmed": release_free_heap(), **memory_mb()})
    else:
        _serve(pipeline, clock, sys.stdin, channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
