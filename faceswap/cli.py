"""Command line: ``python -m faceswap swap SOURCE TARGET -o OUT``; TARGET may be a clip (``-o OUT.mp4``).

``python -m faceswap provenance check FILE`` and ``provenance make-test-cert DIR``: see faceswap.provenance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceswap.config import Settings
from faceswap.errors import SwapError
from faceswap.models.loader import load_models
from faceswap.pipeline.engine import Engine
from faceswap.pipeline.quality import Quality
from faceswap.pipeline.swappers import SWAPPER_NAMES
from faceswap.pipeline.video import VideoLimits, sniff_container, swap_video
from faceswap.provenance import command as provenance_command
from faceswap.schemas import SOURCES_MAX

__all__ = ["main"]

FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
CLIP_SUFFIXES = {
    "mp4": (".mp4", ".m4v", ".mov"),
    "mov": (".mov", ".mp4", ".m4v"),
    "webm": (".webm",),
    "matroska": (".mkv",),
    "gif": (".gif",),
}
BAR_WIDTH = 30


def _target_index(text: str) -> int | str:
    return "all" if text == "all" else int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faceswap", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    swap = commands.add_parser("swap", help="swap a source face into a target image")
    swap.add_argument("source", type=Path, help="image whose face identity is used")
    swap.add_argument("target", type=Path, help="image whose face is replaced")
    swap.add_argument("-o", "--output", type=Path, required=True, help="output file (.png, .jpg or .webp)")
    swap.add_argument(
        "--source-index", type=int, default=1, help="source face, numbered from 1 left to right"
    )
    swap.add_argument(
        "--target-index",
        type=_target_index,
        default=1,
        help='target face, numbered from 1 left to right; "all" (clips): every face',
    )
    swap.add_argument(
        "--source",
        dest="more_sources",
        type=Path,
        action="append",
        default=[],
        help=f"another photo of the source person, averaged into one identity (up to {SOURCES_MAX} in all)",
    )
    swap.add_argument("--swapper", choices=SWAPPER_NAMES, help="the face swapper (default: FACESWAP_SWAPPER)")
    swap.add_argument(
        "--swapper-weight", type=float, default=0.5, help="identity strength 0..1 (default 0.5)"
    )
    swap.add_argument("--pixel-boost", type=int, help="crop side, a multiple of the swapper's own")
    swap.add_argument(
        "--report-similarity", action="store_true", help="report each swapped face's similarity to the source"
    )
    provenance_command.add_commands(commands)
    return parser


def _quality(args: argparse.Namespace) -> Quality:
    if len(args.more_sources) + 1 > SOURCES_MAX:
        raise SystemExit(f"error: give at most {SOURCES_MAX} source photos")
    try:
        return Quality(
            pixel_boost=args.pixel_boost,
            swapper=args.swapper,
            swapper_weight=args.swapper_weight,
            report_similarity=args.report_similarity,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc


def _progress_bar(done: int, total: int) -> None:
    """A one-line progress bar on standard error, redrawn in place."""
    filled = BAR_WIDTH * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} frames")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _swap_clip(args: argparse.Namespace, settings: Settings, kind: str) -> dict[str, object]:
    if args.output.suffix.lower() not in CLIP_SUFFIXES.get(kind, ()):
        wanted = " or ".join(CLIP_SUFFIXES.get(kind, ("(none)",)))
        raise SystemExit(f"error: {args.output.name}: a {kind} clip is written as {wanted}")
    engine = Engine(load_models(settings), settings)
    quality = _quality(args)
    sources = [path.read_bytes() for path in (args.source, *args.more_sources)]
    engine.require_models(quality)
    identity = engine.source_identities(sources, args.source_index, quality)
    limits = VideoLimits(settings.max_video_seconds, settings.max_video_frames, settings.max_video_pixels)
    try:
        result = swap_video(
            engine,
            identity,
            args.target,
            args.output,
            limits,
            target_index=args.target_index,
            quality=quality,
            progress=_progress_bar,
        )
    except SwapError:
        args.output.unlink(missing_ok=True)  # an incomplete clip (or a refused one) is never left behind
        raise
    return {
        **({"similarity_after": result.similarity_after} if args.report_similarity else {}),
        "output": str(args.output),
        "width": result.width,
        "height": result.height,
        "frames": result.frames,
        "swapped_frames": result.swapped_frames,
        "fps": result.fps,
        "timings_ms": result.timings_ms,
        "output_id": result.output_id,
        "signed": result.signed,
    }


def _target_clip_kind(path: Path) -> str | None:
    """The container of a clip target (a GIF only when it has several frames is left to the pipeline)."""
    with path.open("rb") as handle:
        kind = sniff_container(handle.read(64))
    return None if kind == "webp" else kind


def _swap(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    kind = _target_clip_kind(args.target)
    if kind is not None and args.output.suffix.lower() not in FORMATS:
        return _swap_clip(args, settings, kind)
    output_format = FORMATS.get(args.output.suffix.lower())
    if output_format is None:
        raise SystemExit(f"error: {args.output.name}: the output must end in .png, .jpg, .jpeg or .webp")
    quality = _quality(args)
    engine = Engine(load_models(settings), settings)
    result = engine.swap(
        args.source.read_bytes(),
        args.target.read_bytes(),
        source_index=args.source_index,
        target_index=args.target_index,
        output_format=output_format,
        quality=quality,
        extra_sources=[path.read_bytes() for path in args.more_sources],
    )
    args.output.write_bytes(result.image)
    after = [assignment.similarity_after for assignment in result.swapped]
    return {
        **({"similarity_after": after} if args.report_similarity else {}),
        "output": str(args.output),
        "width": result.width,
        "height": result.height,
        "source_faces": result.source_faces,
        "target_faces": result.target_faces,
        "timings_ms": result.timings_ms,
        "output_id": result.output_id,
    }


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 with a one-line reason on failure."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "provenance":
            return provenance_command.run(args)
        summary = _swap(args, Settings())
    except SwapError as exc:
        sys.stderr.write(f"error: {exc.code.value}: {exc.message}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"error: cannot read or write {exc.filename}: {exc.strerror}\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
