"""``python -m bench.cold``: only the cold starts of ``python -m bench``, ours (first and usual) and the
reference's, taking turns on the same cost-faithful stand-ins; prints each start and the medians."""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.harness import FIRST, Results, cold_starts
from bench.pipelines import OURS, REFERENCE
from bench.standins import default_cache_dir, write_pack

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m bench.cold", description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="cold starts per pipeline (default 3)")
    parser.add_argument("--providers", choices=("cpu", "cuda", "auto"), default="cpu", help="default: cpu")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="where stand-ins go")
    args = parser.parse_args(argv)
    pack = write_pack(args.cache_dir)
    results = Results(config={}, stats=[], scenarios=[], conditions={})
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as scratch:
        for turn in range(args.reps):
            cold_starts(results, pack, args.providers, Path(scratch) / "workers.log", turn)
    for start in results.cold:
        timing = f"import {start.import_s:.2f}, load {start.load_s:.2f}"
        print(f"{start.pipeline:<12} {start.seconds:6.2f} s  ({timing})")
    medians = {
        label: statistics.median(c.seconds for c in results.cold if c.pipeline == label)
        for label in (FIRST, OURS, REFERENCE)
    }
    print(
        f"median: ours first {medians[FIRST]:.2f} s, ours usual {medians[OURS]:.2f} s, reference "
        f"{medians[REFERENCE]:.2f} s; usual/reference {medians[OURS] / medians[REFERENCE]:.2f}, "
        f"first/reference {medians[FIRST] / medians[REFERENCE]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
