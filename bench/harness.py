"""The comparison: both pipelines on the same images, stand-ins and machine, runs alternated.

Each pipeline runs in its own worker process (bench.worker), so memory is measured per pipeline and
neither one's allocations disturb the other's. Order of work:

1. stand-ins generated (or found in the cache), images written as JPEG to a scratch folder;
2. cold starts, from spawn to "models loaded", taking turns: the reference; ours' very first start, with
   the derived files our loader keeps in ``faceswap.models.loader.cache_dir`` removed first (it writes the
   swapper's optimized CPU copy); and ours' usual start, that copy present;
3. one untimed warm-up swap per scenario and pipeline (it also fills our caches where a scenario repeats
   its source or target, and checks that every pipeline finds every face);
4. `reps` rounds over the scenarios, ours and the reference alternating which goes first;
5. ours over real HTTP (bench.http): the service on loopback, the same images, one warm-up round and
   `reps` rounds of the two image sizes;
6. the re-parse INSwapper does to read emap, timed against our loader's read of only that tensor.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx

from bench.http import HttpRun, http_runs
from bench.images import face_boxes, jpeg, photo_like
from bench.pipelines import OURS, REFERENCE
from bench.processes import finish, tail
from bench.standins import ModelStats, Pack, write_pack
from faceswap.constants import CUDA_PROVIDER
from faceswap.models.check import last_initializer
from faceswap.models.loader import cache_dir

__all__ = [
    "FIRST",
    "HEADLINE",
    "HTTP_SCENARIOS",
    "OURS",
    "REFERENCE",
    "ColdStart",
    "Config",
    "Results",
    "Run",
    "Scenario",
    "cold_starts",
    "forget_derived_files",
    "load_results",
    "pack_stats",
    "run",
    "save_results",
    "scenarios",
]

log = logging.getLogger(__name__)

FIRST = "ours-first"
"""Cold starts of ours with no derived files yet (the swapper's optimized copy is written)."""
HEADLINE = "one_face"
HTTP_SCENARIOS = (HEADLINE, "large")
"""The scenarios also sent over HTTP: the two target sizes."""
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scenario:
    """One kind of request: the target's size and faces, and what repeats between requests."""

    key: str
    title: str
    target_size: tuple[int, int]
    target_faces: int
    target_index: int
    max_dimension: int
    face_fraction: float | None = None
    source_size: tuple[int, int] = (1024, 768)
    same_source: bool = False
    same_target: bool = False


def scenarios(quick: bool = False) -> tuple[Scenario, ...]:
    """The five scenarios; quick halves the 1024px images and makes the large one 1280x960."""
    side, large = (512, 1280) if quick else (1024, 4000)
    small = (side, side * 3 // 4)
    group = (768, 576) if quick else small
    large_size = (large, large * 3 // 4)
    return (
        Scenario(HEADLINE, f"{side}px target, 1 face, cold caches", small, 1, 1, side, source_size=small),
        Scenario("group", "group photo, 6 faces, swap the 3rd", group, 6, 3, max(group), source_size=small),
        Scenario(
            "large",
            f"{large_size[0]}x{large_size[1]} target at full resolution",
            large_size,
            1,
            1,
            large,
            face_fraction=0.25,
            source_size=small,
        ),
        Scenario(
            "same_source", "same source repeated", small, 1, 1, side, source_size=small, same_source=True
        ),
        Scenario(
            "same_both",
            "same source and target repeated",
            small,
            1,
            1,
            side,
            source_size=small,
            same_source=True,
            same_target=True,
        ),
    )


@dataclass(frozen=True)
class Config:
    """What one harness run does."""

    cache_dir: Path
    width: int = 1
    reps: int = 3
    cold_reps: int = 3
    providers: str = "cpu"
    quick: bool = False


@dataclass(frozen=True)
class Run:
    """One swap; rep -1 is the untimed warm-up."""

    pipeline: str
    scenario: str
    rep: int
    total_ms: float
    forward_ms: float
    forward_by_model: dict[str, float]
    stages_ms: dict[str, float]
    hwm_mb: float
    rss_mb: float
    anon_mb: float
    payload_chars: int


@dataclass(frozen=True)
class ColdStart:
    """One process start to models loaded; pipeline is FIRST for ours' very first start."""

    pipeline: str
    seconds: float
    import_s: float
    load_s: float
    rss_mb: float
    anon_mb: float
    hwm_mb: float
    trimmed_rss_mb: float


@dataclass
class Results:
    """Everything one harness run measured."""

    config: dict[str, Any]
    stats: list[dict[str, Any]]
    scenarios: list[dict[str, Any]]
    runs: list[Run] = field(default_factory=list)
    cold: list[ColdStart] = field(default_factory=list)
    loaded: dict[str, dict[str, float]] = field(default_factory=dict)
    levers: dict[str, float] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    http: list[HttpRun] = field(default_factory=list)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What each section beyond the comparison measured (bench.suite), by section name."""

    def timed(self, pipeline: str, scenario: str) -> list[Run]:
        """The timed runs (the warm-up left out) of one pipeline in one scenario."""
        return [r for r in self.runs if r.pipeline == pipeline and r.scenario == scenario and r.rep >= 0]

    def totals(self, pipeline: str, scenario: str, attribute: str = "total_ms") -> list[float]:
        """The values of one attribute over the timed runs of one pipeline in one scenario."""
        return [getattr(run, attribute) for run in self.timed(pipeline, scenario)]

    def median(self, pipeline: str, scenario: str, attribute: str = "total_ms") -> float:
        """Median of one attribute over the timed runs of one pipeline in one scenario."""
        return statistics.median(self.totals(pipeline, scenario, attribute))

    def ratio(self, scenario: str) -> float:
        """Ours / reference, medians."""
        return self.median(OURS, scenario) / self.median(REFERENCE, scenario)

    def http_median(self, scenario: str, attribute: str) -> float:
        """Median of one attribute over the timed HTTP runs of one scenario."""
        timed = [run for run in self.http if run.scenario == scenario and run.rep >= 0]
        return statistics.median(getattr(run, attribute) for run in timed)

    def cold_median(self, pipeline: str, attribute: str = "seconds") -> float:
        """Median of one cold-start attribute of one pipeline."""
        return statistics.median(getattr(c, attribute) for c in self.cold if c.pipeline == pipeline)

    def median_by_key(self, pipeline: str, scenario: str, attribute: str) -> dict[str, float]:
        """Per-key medians of a dict attribute (forward_by_model, stages_ms)."""
        dicts = [getattr(run, attribute) for run in self.timed(pipeline, scenario)]
        keys = sorted({key for d in dicts for key in d})
        return {key: statistics.median(d.get(key, 0.0) for d in dicts) for key in keys}


class WorkerError(RuntimeError):
    """A worker process failed; the message carries the tail of its log."""


def _worker_env() -> dict[str, str]:
    """This environment without FACESWAP_ settings (the harness sets what matters), bench importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACESWAP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def _worker_command(pipeline: str, pack: Pack, providers: str, once: bool) -> list[str]:
    command = [sys.executable, "-m", "bench.worker", pipeline, "--models", str(pack.directory)]
    return [*command, "--providers", providers, *(["--once"] if once else [])]


class Worker:
    """A long-lived worker process and its pipe."""

    def __init__(self, pipeline: str, pack: Pack, providers: str, log_path: Path) -> None:
        self.pipeline = pipeline
        self.log_path = log_path
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            _worker_command(pipeline, pack, providers, once=False),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=_worker_env(),
            cwd=REPO,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"the {self.pipeline} worker exited:\n{tail(self.log_path)}")
        message: dict[str, Any] = json.loads(line)
        if "error" in message:
            raise WorkerError(f"the {self.pipeline} worker failed: {message['error']}")
        return message

    def swap(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one swap request and wait for its answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Close the pipe and wait for the process to end."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        finish(self.process, terminate=False)
        self._log.close()


def forget_derived_files(model_dir: Path) -> None:
    """Remove what our loader derives from the model files and keeps (its cache_dir), as on a new install."""
    shutil.rmtree(cache_dir(model_dir), ignore_errors=True)


def cold_start(
    pipeline: str, pack: Pack, providers: str, log_path: Path, label: str | None = None
) -> ColdStart:
    """Spawn a fresh worker and time it from spawn to its ready line; then read its memory after a trim."""
    with log_path.open("a") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            _worker_command(pipeline, pack, providers, once=True),
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=_worker_env(),
            cwd=REPO,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        seconds = time.perf_counter() - started
        trimmed_line = process.stdout.readline()
        process.stdout.close()
        if process.wait(timeout=120) != 0 or not line or not trimmed_line:
            raise WorkerError(f"the {pipeline} cold start failed:\n{tail(log_path)}")
    ready, trimmed = json.loads(line), json.loads(trimmed_line)
    return ColdStart(
        label or pipeline,
        round(seconds, 3),
        ready["import_s"],
        ready["load_s"],
        ready["rss_mb"],
        ready["anon_mb"],
        ready["hwm_mb"],
        trimmed["rss_mb"],
    )


def _seed(scenario_index: int, rep: int, role: str) -> int:
    return 1 + scenario_index * 1000 + (rep + 1) * 10 + (1 if role == "target" else 0)


def _image_path(folder: Path, scenario: Scenario, index: int, rep: int, role: str) -> Path:
    """Write (once) and return the image one request uses; repeated roles reuse the warm-up's image."""
    repeats = scenario.same_source if role == "source" else scenario.same_target
    rep = -1 if repeats else rep
    path = folder / f"{scenario.key}-{rep}-{role}.jpg"
    if not path.exists():
        width, height = scenario.source_size if role == "source" else scenario.target_size
        count = 1 if role == "source" else scenario.target_faces
        fraction = None if role == "source" else scenario.face_fraction
        image = photo_like(width, height, face_boxes(width, height, count, fraction), _seed(index, rep, role))
        path.write_bytes(jpeg(image))
    return path


def _request(folder: Path, scenario: Scenario, index: int, rep: int) -> dict[str, Any]:
    return {
        "source": str(_image_path(folder, scenario, index, rep, "source")),
        "target": str(_image_path(folder, scenario, index, rep, "target")),
        "target_index": scenario.target_index,
        "max_dimension": scenario.max_dimension,
    }


def _checked(answer: dict[str, Any], worker: Worker, scenario: Scenario) -> dict[str, Any]:
    if answer["target_faces"] != scenario.target_faces:
        raise WorkerError(
            f"{worker.pipeline} found {answer['target_faces']} faces in the {scenario.key} target, "
            f"not {scenario.target_faces}: the stand-in detector and the images disagree"
        )
    return answer


def _alternating(workers: list[Worker], turn: int) -> Iterator[Worker]:
    """Both workers, the first one changing every turn."""
    yield from workers if turn % 2 == 0 else reversed(workers)


def _warm_up(results: Results, workers: list[Worker], plan: Sequence[Scenario], folder: Path) -> None:
    """One untimed request per scenario and worker, kept as rep -1 (the first is the process's first)."""
    for index, scenario in enumerate(plan):
        log.info("warm-up: %s", scenario.title)
        for worker in workers:
            answer = _checked(worker.swap(_request(folder, scenario, index, -1)), worker, scenario)
            results.runs.append(_run(worker.pipeline, scenario.key, -1, answer))


def _levers(pack: Pack) -> dict[str, float]:
    """INSwapper's full parse of the swapper file (for emap) against our loader's read of emap alone."""
    started = time.perf_counter()
    model = onnx.load(str(pack.swapper))
    parse_s = time.perf_counter() - started
    del model
    started = time.perf_counter()
    last_initializer(pack.swapper)
    read_s = time.perf_counter() - started
    return {"emap_full_parse_s": round(parse_s, 3), "emap_direct_read_s": round(read_s, 4)}


def _conditions() -> dict[str, Any]:
    import insightface
    import numpy
    import onnxruntime

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "cuda_available": CUDA_PROVIDER in onnxruntime.get_available_providers(),
        "insightface": insightface.__version__,
        "numpy": numpy.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _run(pipeline: str, scenario: str, rep: int, answer: dict[str, Any]) -> Run:
    return Run(
        pipeline,
        scenario,
        rep,
        answer["total_ms"],
        answer["forward_ms"],
        answer["forward_by_model"],
        answer["stages_ms"],
        answer["hwm_mb"],
        answer["rss_mb"],
        answer["anon_mb"],
        answer["payload_chars"],
    )


def cold_starts(results: Results, pack: Pack, providers: str, log_path: Path, turn: int) -> None:
    """One cold start each: ours' first (derived files removed just before), ours' usual, the reference.

    The reference goes first on even turns and last on odd ones; ours' first start always precedes its
    usual one, which then finds the copy the first one wrote.
    """
    order = [REFERENCE, FIRST, OURS] if turn % 2 == 0 else [FIRST, OURS, REFERENCE]
    for label in order:
        if label == FIRST:
            forget_derived_files(pack.directory)
        pipeline = OURS if label == FIRST else label
        results.cold.append(cold_start(pipeline, pack, providers, log_path, label))


def run(config: Config) -> Results:
    """Run the whole comparison and return what it measured."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    pack = write_pack(config.cache_dir, config.width)
    plan = scenarios(config.quick)
    results = Results(
        config={**asdict(config), "cache_dir": str(config.cache_dir)},
        stats=[asdict(stat) for stat in pack.stats],
        scenarios=[asdict(scenario) for scenario in plan],
        conditions=_conditions(),
    )
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as scratch:
        folder = Path(scratch)
        log_path = folder / "workers.log"
        for turn in range(config.cold_reps):
            cold_starts(results, pack, config.providers, log_path, turn)
            log.info("cold starts %d/%d done", turn + 1, config.cold_reps)
        workers = [Worker(name, pack, config.providers, log_path) for name in (OURS, REFERENCE)]
        try:
            _warm_up(results, workers, plan, folder)
            for rep in range(config.reps):
                for index, scenario in enumerate(plan):
                    request = _request(folder, scenario, index, rep)
                    round_ms = {}
                    for worker in _alternating(workers, rep + index):
                        answer = _checked(worker.swap(request), worker, scenario)
                        results.runs.append(_run(worker.pipeline, scenario.key, rep, answer))
                        round_ms[worker.pipeline] = answer["total_ms"]
                    log.info(
                        "round %d/%d, %s: ours %.0f ms, reference %.0f ms",
                        rep + 1,
                        config.reps,
                        scenario.key,
                        round_ms[OURS],
                        round_ms[REFERENCE],
                    )
        finally:
            for worker in workers:
                worker.close()
        indices = {scenario.key: index for index, scenario in enumerate(plan)}
        log.info("over HTTP: %s", ", ".join(HTTP_SCENARIOS))
        results.http = http_runs(
            [scenario for scenario in plan if scenario.key in HTTP_SCENARIOS],
            lambda scenario, rep, role: _image_path(folder, scenario, indices[scenario.key], rep, role),
            model_dir=pack.directory,
            providers=config.providers,
            reps=config.reps,
            env=_worker_env(),
            cwd=REPO,
            log_path=log_path,
        )
    results.levers.update(_levers(pack))
    results.conditions.update(
        load_before=[round(v, 2) for v in load_before],
        load_after=[round(v, 2) for v in os.getloadavg()],
        wall_s=round(time.perf_counter() - started, 1),
    )
    return results


def save_results(results: Results, path: Path) -> None:
    """Write the raw results as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(results), indent=1))


def load_results(path: Path) -> Results:
    """Read results written by save_results."""
    data = json.loads(path.read_text())
    data["runs"] = [Run(**entry) for entry in data["runs"]]
    data["cold"] = [ColdStart(**entry) for entry in data["cold"]]
    data["http"] = [HttpRun(**entry) for entry in data.get("http", [])]
    return Results(**data)


def pack_stats(results: Results) -> list[ModelStats]:
    """The stand-ins' statistics as recorded."""
    return [ModelStats(**entry) for entry in results.stats]
