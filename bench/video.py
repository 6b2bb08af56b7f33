"""Frames per second of the clip pipeline: `python -m bench.video [--models DIR] [--frames N] [--size WxH]`.

Without --models it runs on the cost-faithful stand-ins (full width, from the bench cache); `--synthetic`
runs on the synthetic pack instead. The clip is a synthetic one (two moving faces, one leaving, audio).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from bench.standins import default_cache_dir, write_pack
from bench.worker import memory_mb, reset_peak
from faceswap.config import Settings
from faceswap.models.loader import load_models
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.video import VideoLimits, swap_video
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces, write_models

__all__ = ["main", "measure"]

WARMUP_FRAMES = 8


def measure(
    model_dir: Path, providers: str, frames: int, size: tuple[int, int], kind: str
) -> dict[str, object]:
    """Swap one synthetic clip, timed, with this process's resident memory along the way (models loaded and
    warmed first on a short clip of the same size; the peak is reset before the measured run)."""
    settings = Settings(model_dir=model_dir, providers=providers)  # type: ignore[arg-type]
    engine = Engine(load_models(settings), settings)
    limits = VideoLimits(settings.max_video_seconds, settings.max_video_frames, settings.max_video_pixels)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip, out = work / f"in.{kind}", work / f"out.{kind}"
        ok, source = cv2.imencode(".png", draw_faces(640, 480, 1, seed=9)[0])
        assert ok
        identity = engine.source_identity(source.tobytes(), 1)
        write_clip(clip, kind, frames=WARMUP_FRAMES, size=size)
        swap_video(engine, identity, clip, out, limits)  # warm-up: sessions, allocators
        write_clip(clip, kind, frames=frames, size=size)
        memory_before = memory_mb()["rss_mb"]
        reset_peak()
        samples: dict[int, float] = {}

        def progress(done: int, total: int) -> None:
            tenth = done * 10 // max(total, 1)
            if tenth not in samples:
                samples[tenth] = memory_mb()["rss_mb"]

        started = time.perf_counter()
        result = swap_video(engine, identity, clip, out, limits, progress=progress)
        seconds = time.perf_counter() - started
        peak = memory_mb()["hwm_mb"]
    return {
        "models": str(model_dir),
        "providers": list(engine.providers),
        "container": kind,
        "size": f"{size[0]}x{size[1]}",
        "frames": result.frames,
        "swapped_frames": result.swapped_frames,
        "seconds": round(seconds, 2),
        "frames_per_second": round(result.frames / seconds, 2),
        "rss_before_mb": memory_before,
        "rss_by_tenth_mb": [samples[tenth] for tenth in sorted(samples)],
        "peak_rss_mb": peak,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__)
    parser.add_argument("--models", type=Path, help="a model folder (default: the full-width stand-ins)")
    parser.add_argument(
        "--synthetic", action="store_true", help="the synthetic pack instead of the stand-ins"
    )
    parser.add_argument("--providers", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="640x360", help="WxH of the clip")
    parser.add_argument("--container", default="mp4", choices=("mp4", "webm", "gif"))
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as folder:
        if args.models is not None:
            models = args.models
        elif args.synthetic:
            models = Path(folder)
            write_models(models)
        else:
            models = write_pack(default_cache_dir()).directory
        report = measure(models, args.providers, args.frames, (width, height), args.container)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
