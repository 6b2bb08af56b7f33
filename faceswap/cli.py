"""Command line: ``python -m faceswap swap SOURCE TARGET -o OUT``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceswap.config import Settings
from faceswap.errors import SwapError
from faceswap.models.loader import load_models
from faceswap.pipeline.engine import Engine

__all__ = ["main"]

FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


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
        "--target-index", type=int, default=1, help="target face, numbered from 1 left to right"
    )
    return parser


def _swap(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    output_format = FORMATS.get(args.output.suffix.lower())
    if output_format is None:
        raise SystemExit(f"error: {args.output.name}: the output must end in .png, .jpg, .jpeg or .webp")
    engine = Engine(load_models(settings), settings)
    result = engine.swap(
        args.source.read_bytes(),
        args.target.read_bytes(),
        source_index=args.source_index,
        target_index=args.target_index,
        output_format=output_format,
    )
    args.output.write_bytes(result.image)
    return {
        "output": str(args.output),
        "width": result.width,
        "height": result.height,
        "source_faces": result.source_faces,
        "target_faces": result.target_faces,
        "timings_ms": result.timings_ms,
    }


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 with a one-line reason on failure."""
    args = _parser().parse_args(argv)
    try:
        summary = _swap(args, Settings())
    except SwapError as exc:
        sys.stderr.write(f"error: {exc.code.value}: {exc.message}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"error: cannot read or write {exc.filename}: {exc.strerror}\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0
