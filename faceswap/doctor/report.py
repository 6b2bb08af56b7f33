"""The doctor: what a worker needs, checked where it runs (``python runpod_debug.py [--json]``).

Checks, each ok, warn, fail or info: Python and package versions (exactly one ONNX Runtime, OpenCV
headless), whether CUDA really runs (a tiny session on the CUDA provider, not only the provider list:
a silent fall back to the CPU is the classic failure), the GPU and its free memory (nvidia-smi), each
model file (missing, Git LFS pointer, truncated, wrong model), free memory and disk. The report ends
with what an exit code 3 from uvicorn means for this service and what the checks found. Exit status:
1 when a check failed, else 0; warnings do not fail.

``python runpod_debug.py smoke --endpoint URL`` sends a real swap to a running endpoint
(faceswap.doctor.smoke).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from faceswap import __version__
from faceswap.config import Settings
from faceswap.doctor.checks import (
    Check,
    check_cpus,
    check_cuda,
    check_disk,
    check_gpu,
    check_licences,
    check_memory,
    check_models,
    check_packages,
    check_python,
)
from faceswap.doctor.facts import Facts, gather_facts
from faceswap.models.catalog import catalog

__all__ = [
    "Report",
    "diagnose",
    "explain_exit_code_3",
    "main",
    "render_text",
]


@dataclass(frozen=True)
class Report:
    """The checks and what they mean for an exit code 3."""

    checks: tuple[Check, ...]
    exit_code_3: str
    version: str = __version__

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return all(check.status != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"ok": self.ok, "version": self.version, **asdict(self)}


def explain_exit_code_3(checks: Sequence[Check]) -> str:
    """What a uvicorn exit code 3 means here, and the likely cause among the findings."""
    meaning = (
        "uvicorn exits with code 3 when the application's startup fails. This service never exits because a "
        "model failed to load: it starts, answers /health and /ping with 503 and the reason, and keeps "
        "retrying. An exit code 3 therefore means the container ran other code than this version (check "
        "the image tag and the start command: `python main_fixed.py` or `uvicorn main_fixed:app`), as in "
        "the old main_fixed.py that loaded the models at startup and died on a bad file."
    )
    failed = [check for check in checks if check.status == "fail"]
    lfs = [check for check in failed if "Git LFS pointer" in check.summary]
    if lfs:
        found = (
            f" Likely cause found: {lfs[0].name.removeprefix('model ')} is a Git LFS pointer, the kind of "
            "file that made the old code exit with 3; this version reports it on /health instead."
        )
    elif failed:
        found = " These checks failed: " + "; ".join(f"{check.name}: {check.summary}" for check in failed)
    else:
        found = " These checks found nothing that would stop the service."
    return meaning + found


def diagnose(facts: Facts) -> Report:
    """The report for `facts`."""
    checks = [check_python(facts.python)]
    if facts.settings_error:
        checks.append(Check("settings", "fail", facts.settings_error))
    checks += [
        check_packages(facts.packages),
        check_cuda(facts.cuda, facts.providers_setting, facts.gpus),
        check_gpu(facts.gpus, facts.gpu_error),
        *check_models(facts.model_dir, facts.models),
        check_licences(catalog(facts.model_dir, ())),
        check_cpus(facts.cpus, facts.cpu_quota, facts.visible_cpus),
        check_memory(facts.memory),
        check_disk(facts.disk_free, facts.models, facts.model_dir),
    ]
    return Report(tuple(checks), explain_exit_code_3(checks))


MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info"}


def render_text(report: Report) -> str:
    """The report as readable text."""
    lines = [f"faceswap doctor {report.version}", ""]
    for check in report.checks:
        lines.append(f"[{MARKS[check.status]:>4}] {check.name:<34} {check.summary}")
        lines.extend(f"{'':<7}{'':<35}{detail}" for detail in check.details)
    failed = sum(check.status == "fail" for check in report.checks)
    warned = sum(check.status == "warn" for check in report.checks)
    verdict = "all checks passed" if not failed else f"{failed} check(s) failed"
    lines += ["", f"Result: {verdict}, {warned} warning(s).", "", "About exit code 3:", report.exit_code_3]
    return "\n".join(lines) + "\n"


def _settings(environ: Mapping[str, str]) -> tuple[Settings, str | None]:
    """The service's settings; when they are not valid, the defaults with the model folder, and why."""
    try:
        return Settings(), None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "FACESWAP_" + ".".join(str(part) for part in first["loc"]).upper()
        error = f"{name} is not valid ({first['msg']}): the service would not start; fix the variable."
        fallback = Settings.model_construct(model_dir=Path(environ.get("FACESWAP_MODEL_DIR") or "models"))
        return fallback, error


def _parser() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    parser = argparse.ArgumentParser(
        prog="python runpod_debug.py",
        description="Check this machine for the face swap service, or smoke-test a running endpoint.",
        parents=[output],
    )
    commands = parser.add_subparsers(dest="command")
    smoke = commands.add_parser(
        "smoke", parents=[output], help="send a small real swap to a running endpoint and report the answer"
    )
    smoke.add_argument(
        "--endpoint",
        required=True,
        help="the endpoint: this service's base URL, its /runsync or /swap, or RunPod's .../v2/<id>/runsync",
    )
    smoke.add_argument("--api-key", help="sent as Authorization: Bearer (default: $RUNPOD_API_KEY)")
    smoke.add_argument("--source", help="source image: a file or an http(s) URL (default: synthetic)")
    smoke.add_argument("--target", help="target image: a file or an http(s) URL (default: synthetic)")
    smoke.add_argument("--target-index", type=int, default=1, help="which target face to replace (from 1)")
    smoke.add_argument("--timeout", type=float, default=120.0, help="seconds to wait in all (default 120)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the local checks, or ``smoke``; 0 when everything passed, 1 otherwise."""
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.command == "smoke":
        from faceswap.doctor.smoke import run_from_args

        return run_from_args(args, environ)
    settings, error = _settings(environ)
    report = diagnose(gather_facts(settings, error))
    if args.json:
        sys.stdout.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return 0 if report.ok else 1
