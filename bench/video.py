"""Frames per second of the clip pipeline: `python -m bench.video [--models DIR] [--frames N] [--size WxH]`.

Without --models it runs on the cost-faithful stand-ins (full width, from the bench cache); `--synthetic`
runs on the synthetic pack instead. The clip is a synthetic one (two moving faces, one leaving, audio).
`python -m bench` runs the clips of its video section through `video_runs` and renders them with `section`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from bench import sections
from bench.standins import default_cache_dir, write_pack
from bench.worker import memory_mb, reset_peak
from faceswap.config import Settings
from faceswap.models.loader import load_models
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.video import VideoLimits, swap_video
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces, write_models

__all__ = ["NAME", "Clip", "main", "measure", "section", "video_runs"]

NAME = "video"
"""The section's name in docs/benchmarks.md."""
WARMUP_FRAMES = 8


def measure(
    model_dir: Path,
    providers: str,
    frames: int,
    size: tuple[int, int],
    kind: str,
    warmup_frames: int = WARMUP_FRAMES,
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
        write_clip(clip, kind, frames=warmup_frames, size=size)
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


@dataclass(frozen=True)
class Clip:
    """One clip the video section swaps: on the stand-ins or on the synthetic pack."""

    synthetic: bool
    frames: int
    size: tuple[int, int]
    warmup_frames: int = WARMUP_FRAMES

    def command(self) -> str:
        """The `python -m bench.video` command that measures this clip alone."""
        width, height = self.size
        return (
            f"python -m bench.video{' --synthetic' if self.synthetic else ''} --frames {self.frames} "
            f"--size {width}x{height} --warmup {self.warmup_frames}"
        )


def video_runs(standins: Path, providers: str, clips: Sequence[Clip]) -> dict[str, Any]:
    """Each clip measured (`measure`), MP4, on the stand-ins in `standins` or a synthetic pack."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-video-") as folder:
        synthetic = Path(folder)
        write_models(synthetic)
        for clip in clips:
            models = synthetic if clip.synthetic else standins
            report = measure(models, providers, clip.frames, clip.size, "mp4", clip.warmup_frames)
            runs.append({"synthetic": clip.synthetic, "command": clip.command(), **report})
    return {"runs": runs}


def _row(run: dict[str, Any]) -> str:
    models = (
        "synthetic pack (costs next to nothing: the pipeline's own overhead)"
        if run["synthetic"]
        else "stand-ins (SCRFD-10G, ArcFace R50, inswapper_128 costs)"
    )
    return (
        f"| {models} | {run['size']}, {run['frames']} frames ({run['swapped_frames']} swapped), MP4 | "
        f"`{run['command']}` | {run['frames_per_second']:.2f} | {run['seconds']:.1f} s | "
        f"{run['peak_rss_mb']:,.0f} MB |"
    )


def section(data: dict[str, Any]) -> str:
    """The video section of docs/benchmarks.md from what `video_runs` measured."""
    runs = data["runs"]
    longest = max(runs, key=lambda run: run["frames"])
    tenths = longest["rss_by_tenth_mb"]
    per_frame = [
        f"{1000.0 / run['frames_per_second']:,.0f} ms per frame at {run['size']}"
        for run in runs
        if run["synthetic"]
    ]
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Video (clips, frames per second)",
                "",
                "Each clip is a synthetic one (`faceswap.testing.clips`: two faces drifting sideways, the "
                "first leaving for the middle fifth, AAC audio), swapped through "
                "`faceswap.pipeline.video.swap_video` after a warm-up pass on a short clip of the same size, "
                "in this run's process: demux and decode, detection on every frame, the tracked face's swap, "
                "encode (H.264, `libx264` veryfast, CRF 16) and mux, the three stages overlapping through "
                "bounded queues. Frames per second over the whole pipeline; the peak is the process's "
                "resident memory (VmHWM), reset before the measured clip.",
                "",
                "| models | clip | command | frames/s | wall | peak resident |",
                "|---|---|---|---|---|---|",
                *(_row(run) for run in runs),
                "",
                "On the stand-ins a frame costs what one image swap's forwards cost (detector and swapper; "
                "the recognizer only when box overlap cannot tell the tracked face), so on the CPU video is "
                "bound by the swapper's forward. The synthetic pack's figures bound what the "
                "decode/encode/queue machinery adds per frame: "
                + (", ".join(per_frame) or "not measured in this run")
                + ". The stand-ins' recognizer has random weights, so its embeddings do not tell identities "
                "apart and every frame may be swapped, the frames without the chosen face included; with "
                "trained weights (and with the synthetic pack) those frames pass through.",
                "",
                f"Memory along the longest clip ({longest['size']}, {longest['frames']} frames): resident "
                f"{longest['rss_before_mb']:,.0f} MB before it, then at each tenth "
                + ", ".join(f"{value:,.0f}" for value in tenths)
                + f" MB; peak {longest['peak_rss_mb']:,.0f} MB"
                + (
                    f"; from the second tenth on between {min(tenths[2:]):,.0f} and "
                    f"{max(tenths[2:]):,.0f} MB."
                    if len(tenths) > 2
                    else "."
                )
                + " The queues hold at most 8 decoded and 8 swapped frames, so once they are full memory "
                "stays flat however long the clip.",
            ]
        ),
    )


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
    parser.add_argument("--warmup", type=int, default=WARMUP_FRAMES, help="frames of the warm-up clip")
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
        report = measure(models, args.providers, args.frames, (width, height), args.container, args.warmup)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
