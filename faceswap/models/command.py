"""``python -m faceswap.models download|verify``: fetch the model files atomically, resumably, checked.

Default sources (``--manifest FILE`` replaces them, e.g. with a mirror or a local server):

- the official insightface v0.7 ``buffalo_l.zip``, of which only det_10g.onnx and w600k_r50.onnx are kept;
- ``inswapper_128.onnx`` from the Hugging Face mirror ezioruan/inswapper_128.onnx, else facefusion-assets;
- with ``--with NAME[,NAME]`` or ``--with all``, the quality options' models (faceswap.models.extras)
  from FaceFusion's releases, unless the manifest lists their files.

Sizes and SHA-256 digests are the published ones. Each download goes to ``<name>.part`` beside its
destination and resumes from there with an HTTP Range request (or restarts when the server ignores
it); the result is checked (size, SHA-256, then the same structural check as at load), fsync'ed and
renamed into place, so an interrupted run never leaves a half file under the final name. Files that
already pass the checks are skipped unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from faceswap.config import Settings
from faceswap.errors import DownloadError, ModelFileError
from faceswap.models.check import check_model_file, verify_model_dir
from faceswap.models.extras import OPTIONAL_NAMES, optional_sources, parse_names
from faceswap.models.install import download_models
from faceswap.models.registry import SWAPPER, optional_spec
from faceswap.models.sources import DEFAULT_SOURCES, load_manifest

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m faceswap.models", description="Fetch or check the model files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    download = commands.add_parser(
        "download", help="fetch the model files that are missing or fail their checks"
    )
    verify = commands.add_parser("verify", help="check each model file; exit 1 on any fault")
    prepare = commands.add_parser(
        "prepare", help="write the FP16 swapper the CUDA provider uses, so a cold start need not convert it"
    )
    for command in (download, verify, prepare):
        command.add_argument(
            "--dir", type=Path, help="the model dir (default: FACESWAP_MODEL_DIR or ./models)"
        )
    download.add_argument(
        "--force", action="store_true", help="download even the files that pass their checks"
    )
    download.add_argument("--manifest", type=Path, help="JSON list of sources to use instead of the defaults")
    download.add_argument(
        "--with",
        dest="optional",
        type=_names,
        default=(),
        metavar="NAME[,NAME]",
        help=f"also fetch optional models: {', '.join(OPTIONAL_NAMES)}, or all",
    )
    verify.add_argument("--checksums", action="store_true", help="also compare each file's SHA-256 (slow)")
    return parser


def _names(text: str) -> tuple[str, ...]:
    try:
        return parse_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _prepare(model_dir: Path) -> int:
    """Convert the swapper to FP16 into the model dir's cache; 1 when the swapper has a fault."""
    from faceswap.models.loader import cache_dir
    from faceswap.models.precision import fp16_model_file

    check = next(check for check in verify_model_dir(model_dir) if check.spec is SWAPPER)
    if check.fault is not None:
        sys.stderr.write(f"error: {check.fault.reason}\n")
        return 1
    converted = fp16_model_file(model_dir / SWAPPER.path, cache_dir(model_dir))
    sys.stdout.write(f"{converted}\n")
    return 0


def _report(model_dir: Path, checksums: bool) -> int:
    """Write each file's state to stdout; 1 when any file has a fault."""
    checks = verify_model_dir(model_dir, checksums=checksums)
    for check in checks:
        size = "-" if check.size is None else f"{check.size:,} bytes"
        state = "ok" if check.ok else f"FAULT ({check.fault.kind})" if check.fault else "FAULT"
        origin = {None: "", True: ", official file", False: ", not the official file"}[check.official]
        sys.stdout.write(f"{state:<24} {check.spec.path:<26} {size}{origin}\n")
        if check.fault is not None:
            sys.stdout.write(f"{'':<24} {check.fault.reason}\n")
    return 0 if all(check.ok for check in checks) else 1


def main(argv: list[str] | None = None) -> int:
    """Run `download` or `verify`; 0 on success, 1 with a one-line reason on stderr on failure."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    model_dir = args.dir if args.dir is not None else Settings().model_dir
    if args.command == "verify":
        return _report(model_dir, args.checksums)
    if args.command == "prepare":
        return _prepare(model_dir)
    try:
        sources = load_manifest(args.manifest) if args.manifest else DEFAULT_SOURCES
        download_models(model_dir, (*sources, *optional_sources(args.optional, sources)), force=args.force)
    except DownloadError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; run the command again to resume the download.\n")
        return 130
    faults = [check.fault for check in verify_model_dir(model_dir) if check.fault is not None]
    for name in args.optional:
        spec = optional_spec(name)
        try:
            check_model_file(model_dir / spec.path, spec, model_dir)
        except ModelFileError as exc:
            faults.append(exc)
    if faults:
        sys.stderr.write(f"error: {faults[0].reason}\n")
        return 1
    return 0
