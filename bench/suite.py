"""The sections `python -m bench` measures after the comparison, each through its own module, at the run's
sizes: serving memory (bench.memory), clips (bench.video), quality options (bench.quality), swappers
(bench.swappers), provenance and the content guard (bench.guard, bench.watermark)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from bench import guard, memory, quality, swappers, video
from bench.harness import OURS, REFERENCE, scenarios
from bench.standins import Pack
from bench.video import Clip

__all__ = ["FULL", "NAMES", "QUICK", "Sizes", "measure_sections", "render_section"]

log = logging.getLogger(__name__)

NAMES = (memory.NAME, video.NAME, quality.NAME, swappers.NAME, guard.NAME)
"""Every section `python -m bench` measures, in the order it runs them."""


@dataclass(frozen=True)
class Sizes:
    """How much each section measures."""

    memory_requests: int
    clips: tuple[Clip, ...]
    quality_rounds: int
    swapper_rounds: int
    swapper_names: tuple[str, ...] | None
    """None: every swapper (swappers.default_swappers)."""
    guard_rounds: int
    watermark_images: int | None
    """None: the whole test set."""


FULL = Sizes(
    memory_requests=5,
    clips=(
        Clip(synthetic=False, frames=8, size=(640, 360), warmup_frames=4),
        Clip(synthetic=True, frames=32, size=(640, 360)),
        Clip(synthetic=True, frames=250, size=(1920, 1080)),
    ),
    quality_rounds=3,
    swapper_rounds=3,
    swapper_names=None,
    guard_rounds=5,
    watermark_images=None,
)
"""The default run's sizes. Measured at smaller counts on a loaded 2-core machine (load average 3 to 4) and
scaled, the sections take about 5 minutes on a quiet one (memory 35 s, video 60 s, quality 50 s, swappers
100 s, provenance 70 s), the comparison before them about 4: some 9 minutes in all."""
QUICK = Sizes(
    memory_requests=2,
    clips=(
        Clip(synthetic=False, frames=3, size=(320, 180), warmup_frames=2),
        Clip(synthetic=True, frames=8, size=(320, 180), warmup_frames=2),
    ),
    quality_rounds=1,
    swapper_rounds=1,
    swapper_names=("inswapper_128", "simswap_256"),
    guard_rounds=1,
    watermark_images=2,
)


def _memory(pack: Pack, providers: str, sizes: Sizes, quick: bool) -> dict[str, Any]:
    index, scenario = 0, scenarios(quick)[0]
    figures = memory.serving_memory(
        pack, scenario, index, sizes.memory_requests, providers, (OURS, REFERENCE)
    )
    return {
        "scenario": scenario.key,
        "title": scenario.title,
        "requests": sizes.memory_requests,
        "pipelines": figures,
    }


def _video(pack: Pack, providers: str, sizes: Sizes, quick: bool) -> dict[str, Any]:
    return video.video_runs(pack.directory, providers, sizes.clips)


def _quality(pack: Pack, providers: str, sizes: Sizes, quick: bool) -> dict[str, Any]:
    return quality.quality_forwards(pack, providers, sizes.quality_rounds)


def _swappers(pack: Pack, providers: str, sizes: Sizes, quick: bool) -> dict[str, Any]:
    names = list(sizes.swapper_names or swappers.default_swappers())
    directory = pack.directory.parent / f"swappers-w{pack.width}"
    return swappers.swapper_forwards(directory, names, pack.width, providers, sizes.swapper_rounds)


def _provenance(pack: Pack, providers: str, sizes: Sizes, quick: bool) -> dict[str, Any]:
    return guard.provenance_runs(pack, providers, sizes.guard_rounds, sizes.watermark_images)


MEASURE: dict[str, Callable[[Pack, str, Sizes, bool], dict[str, Any]]] = {
    memory.NAME: _memory,
    video.NAME: _video,
    quality.NAME: _quality,
    swappers.NAME: _swappers,
    guard.NAME: _provenance,
}
RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    memory.NAME: memory.section,
    video.NAME: video.section,
    quality.NAME: quality.forwards_section,
    swappers.NAME: swappers.section,
    guard.NAME: guard.section,
}


def measure_sections(
    pack: Pack, providers: str, sizes: Sizes, quick: bool, skip: Collection[str] = ()
) -> dict[str, dict[str, Any]]:
    """Each section not skipped, measured in turn on `pack`'s stand-ins: name → what it measured, with the
    seconds it took as "wall_s"."""
    measured = {}
    for name in NAMES:
        if name in skip:
            log.info("section %s: skipped", name)
            continue
        log.info("section %s", name)
        started = time.perf_counter()
        data = MEASURE[name](pack, providers, sizes, quick)
        data["wall_s"] = round(time.perf_counter() - started, 1)
        log.info("section %s: %.0f s", name, data["wall_s"])
        measured[name] = data
    return measured


def render_section(name: str, data: dict[str, Any]) -> str:
    """Section `name` of docs/benchmarks.md, markers included, from what it measured."""
    return RENDER[name](data)
