"""``python -m bench``: run the comparison and every section, print the summary, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import sections, suite
from bench.harness import REPO, Config, WorkerError, load_results, run, save_results
from bench.http import ServiceError
from bench.report import render, summary_lines
from bench.standins import default_cache_dir, write_pack

__all__ = ["QUICK_WIDTH", "main"]

QUICK_WIDTH = 32
"""Channel divisor of the --quick stand-ins (same graphs, a few MB in all)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare our engine with the reference face-swap pipeline on cost-faithful stand-ins, "
        "then measure each section of docs/benchmarks.md (" + ", ".join(suite.NAMES) + ").",
    )
    parser.add_argument("--quick", action="store_true", help="tiny stand-ins, one round: checks the harness")
    parser.add_argument("--providers", choices=("cpu", "cuda", "auto"), default="cpu", help="default: cpu")
    parser.add_argument("--reps", type=int, help="timed rounds per scenario (default 3, quick 1)")
    parser.add_argument("--cold-reps", type=int, help="cold starts per pipeline (default 3, quick 1)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="where stand-ins go")
    parser.add_argument("--doc", type=Path, help="report to write (default docs/benchmarks.md; quick: none)")
    parser.add_argument("--results", type=Path, help="raw results JSON (default: in the cache dir)")
    parser.add_argument("--render", type=Path, metavar="RESULTS", help="only write the report from a JSON")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=suite.NAMES,
        metavar="SECTION",
        help="a section not to measure, its text kept from the previous report (repeatable; one of "
        + ", ".join(suite.NAMES)
        + ")",
    )
    return parser


def _command(argv: Sequence[str] | None) -> str:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python -m bench", *(shlex.quote(argument) for argument in arguments)])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    doc = args.doc or (None if args.quick else REPO / "docs" / "benchmarks.md")
    if args.render:
        results = load_results(args.render)
    else:
        reps = args.reps or (1 if args.quick else 3)
        cold_reps = args.cold_reps or (1 if args.quick else 3)
        if reps < 1 or cold_reps < 1:
            _parser().error("--reps and --cold-reps must be at least 1")
        width = QUICK_WIDTH if args.quick else 1
        config = Config(
            cache_dir=args.cache_dir,
            width=width,
            reps=reps,
            cold_reps=cold_reps,
            providers=args.providers,
            quick=args.quick,
        )
        started = time.perf_counter()
        try:
            results = run(config)
            results.sections = suite.measure_sections(
                write_pack(args.cache_dir, width),
                args.providers,
                suite.QUICK if args.quick else suite.FULL,
                args.quick,
                skip=args.skip,
            )
        except (WorkerError, ServiceError) as exc:
            logging.getLogger(__name__).error("%s", exc)
            return 1
        results.conditions["command"] = _command(argv)
        results.conditions["total_wall_s"] = round(time.perf_counter() - started, 1)
        save_results(
            results, args.results or args.cache_dir / ("results-quick.json" if args.quick else "results.json")
        )
    if doc is not None:
        doc.parent.mkdir(parents=True, exist_ok=True)
        previous = doc.read_text() if doc.is_file() else ""
        doc.write_text(sections.keep_previous(render(results), previous))
    for line in summary_lines(results):
        print(line)
    return 0
