"""Serving memory alone: ``python -m bench.memory [--scenario KEY] [--requests N] [--providers cpu]``.

Starts one worker per pipeline (bench.worker, as the full comparison does), sends each the same N
requests of one scenario (default: the 1024px headline), alternating which goes first, and prints one
JSON line per pipeline: resident memory after load, after the first request, after the last, the
highest peak during a request, and the median request time. Minutes where the full run takes an hour.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import OURS, REFERENCE, Worker, _request, scenarios
from bench.standins import default_cache_dir, write_pack

__all__ = ["main", "measure"]


def measure(worker: Worker, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The memory and time figures of one worker's answers."""
    return {
        "pipeline": worker.pipeline,
        "after_load_mb": worker.ready["rss_mb"],
        "after_first_mb": answers[0]["rss_mb"],
        "after_last_mb": answers[-1]["rss_mb"],
        "anon_after_last_mb": answers[-1]["anon_mb"],
        "peak_during_request_mb": max(answer["hwm_mb"] for answer in answers),
        "median_ms": round(statistics.median(answer["total_ms"] for answer in answers), 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scenario on both pipelines and print their serving memory."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    plan = {scenario.key: (index, scenario) for index, scenario in enumerate(scenarios())}
    parser.add_argument("--scenario", choices=sorted(plan), default=next(iter(plan)))
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--providers", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--pipelines", default=f"{OURS},{REFERENCE}")
    args = parser.parse_args(argv)
    pack = write_pack(args.cache_dir)
    index, scenario = plan[args.scenario]
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-memory-") as scratch:
        folder = Path(scratch)
        workers = [
            Worker(name, pack, args.providers, folder / "workers.log") for name in args.pipelines.split(",")
        ]
        answers: dict[str, list[dict[str, Any]]] = {worker.pipeline: [] for worker in workers}
        try:
            for rep in range(args.requests):
                request = _request(folder, scenario, index, rep)
                for worker in workers[rep % len(workers) :] + workers[: rep % len(workers)]:
                    answers[worker.pipeline].append(worker.swap(request))
        finally:
            for worker in workers:
                worker.close()
    for worker in workers:
        sys.stdout.write(json.dumps(measure(worker, answers[worker.pipeline])) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
