"""Serving memory alone: ``python -m bench.memory [--scenario KEY] [--requests N] [--providers cpu]``.

Starts one worker per pipeline (bench.worker, as the full comparison does), sends each the same N
requests of one scenario (default: the 1024px headline), alternating which goes first, and prints one
JSON line per pipeline: resident memory after load, after the first request, after the last, the
highest peak during a request, and the median request time. `python -m bench` runs the same measurement
as its memory section (`serving_memory`, `section`).
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

from bench import sections
from bench.harness import OURS, REFERENCE, Scenario, Worker, _request, scenarios
from bench.standins import Pack, default_cache_dir, write_pack

__all__ = ["NAME", "main", "measure", "peak_ratio", "section", "serving_memory"]

NAME = "memory"
"""The section's name in docs/benchmarks.md."""

ROWS = {
    "after_load_mb": "resident after load",
    "after_first_mb": "resident after the first request",
    "after_last_mb": "resident after the last request",
    "anon_after_last_mb": "of which anonymous (not file-backed)",
    "peak_during_request_mb": "**peak during one request** (highest over the requests)",
}


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


def serving_memory(
    pack: Pack, scenario: Scenario, index: int, requests: int, providers: str, pipelines: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Fresh workers, `requests` requests of one scenario each, taking turns: pipeline → `measure`."""
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-memory-") as scratch:
        folder = Path(scratch)
        workers = [Worker(name, pack, providers, folder / "workers.log") for name in pipelines]
        answers: dict[str, list[dict[str, Any]]] = {worker.pipeline: [] for worker in workers}
        try:
            for rep in range(requests):
                request = _request(folder, scenario, index, rep)
                for worker in workers[rep % len(workers) :] + workers[: rep % len(workers)]:
                    answers[worker.pipeline].append(worker.swap(request))
        finally:
            for worker in workers:
                worker.close()
    return {worker.pipeline: measure(worker, answers[worker.pipeline]) for worker in workers}


def peak_ratio(data: dict[str, Any]) -> float:
    """Ours' peak during one request over the reference's, from the section's data."""
    figures = data["pipelines"]
    return float(figures[OURS]["peak_during_request_mb"] / figures[REFERENCE]["peak_during_request_mb"])


def section(data: dict[str, Any]) -> str:
    """The memory section of docs/benchmarks.md from what `serving_memory` measured (and how)."""
    ours, reference = data["pipelines"][OURS], data["pipelines"][REFERENCE]
    rows = [
        f"| {name} | {ours[key]:,.0f} MB | {reference[key]:,.0f} MB | {ours[key] / reference[key]:.2f} |"
        for key, name in ROWS.items()
    ]
    rows.append(
        f"| request time, median | {ours['median_ms']:,.0f} ms | {reference['median_ms']:,.0f} ms "
        f"| {ours['median_ms'] / reference['median_ms']:.2f} |"
    )
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Memory during a request",
                "",
                f"Measured in the same run (`python -m bench.memory --scenario {data['scenario']} "
                f"--requests {data['requests']}` alone): a fresh worker process per pipeline, as the "
                f"comparison's, each sent the same {data['requests']} requests ({data['title']}), taking "
                "turns which goes first; the peak is reset before each request (`clear_refs`), so *peak "
                "during one request* is the highest VmHWM a single request reached. Unlike the *Memory* "
                "section above, these workers have served nothing else (no 12-megapixel frame grew their "
                "heaps first): this is the figure of the goal above.",
                "",
                "|  | ours | reference | ours/reference |",
                "|---|---|---|---|",
                *rows,
            ]
        ),
    )


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
    figures = serving_memory(pack, scenario, index, args.requests, args.providers, args.pipelines.split(","))
    for figure in figures.values():
        sys.stdout.write(json.dumps(figure) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
