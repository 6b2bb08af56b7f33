"""``python -m faceswap provenance check FILE [--trust CA.pem] [--json]`` and ``... make-test-cert DIR``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from faceswap.config import Settings
from faceswap.provenance.report import ProvenanceReport, check_file
from faceswap.provenance.testcert import make_test_certificate

__all__ = ["add_commands", "run"]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `provenance check` and `provenance make-test-cert` to the command line."""
    provenance = commands.add_parser(
        "provenance", help="check a file's provenance, or make a test certificate"
    )
    actions = provenance.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="read a file's C2PA manifest, watermark and XMP label")
    check.add_argument("file", type=Path, help="the image or clip to check")
    check.add_argument(
        "--trust", type=Path, action="append", default=[], help="a PEM CA to validate the manifest against"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    make = actions.add_parser("make-test-cert", help="make a test CA and a signing certificate in DIR")
    make.add_argument("directory", type=Path, help="where the PEM files go")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; 0 when done (a check reports, it does not judge)."""
    if args.action == "make-test-cert":
        made = make_test_certificate(args.directory)
        sys.stdout.write(
            f"export FACESWAP_C2PA_CERT={shlex.quote(str(made.chain.resolve()))}\n"
            f"export FACESWAP_C2PA_KEY={shlex.quote(str(made.key.resolve()))}\n"
            f"# trust this CA when checking (test only): --trust {shlex.quote(str(made.ca.resolve()))}\n"
        )
        return 0
    trust = [path.read_text() for path in args.trust]
    settings = Settings()  # the service's caps: FACESWAP_MAX_PIXELS, FACESWAP_MAX_VIDEO_PIXELS
    report = check_file(
        args.file, trust, max_pixels=settings.max_pixels, max_frame_pixels=settings.max_video_pixels
    )
    sys.stdout.write(report.model_dump_json(indent=2) + "\n" if args.json else describe(report, args.trust))
    return 0


def describe(report: ProvenanceReport, anchors: list[Path]) -> str:
    """The report as a few lines of text."""
    manifest = report.c2pa
    if manifest.present:
        against = ", ".join(path.name for path in anchors) or "the SDK's built-in trust list only"
        line = f"C2PA manifest: {manifest.state} (trust anchors: {against})"
        if manifest.signer:
            line += f"; signed by {manifest.signer}"
        if manifest.failures:
            line += f"; failures: {', '.join(manifest.failures)}"
    else:
        line = "C2PA manifest: none"
    mark = report.watermark
    if mark is None:
        watermark = "watermark: the pixels could not be read"
    elif mark.ours:
        watermark = f"watermark: present, output id {mark.output_id} (score {mark.score})"
    else:
        watermark = f"watermark: {'present but unreadable' if mark.present else 'none'} (score {mark.score})"
    label = f"XMP label: {report.label or 'none'}"
    verdict = f"made or changed by AI: {'yes' if report.made_by_ai else 'not that the file says'}"
    return "\n".join((f"file type: {report.media_type or 'unknown'}", line, watermark, label, verdict)) + "\n"
