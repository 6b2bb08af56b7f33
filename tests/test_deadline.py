"""A job's deadline: the ceiling until its cost is charged, then twice its runs, within [floor, ceiling]."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from faceswap.config import Settings
from faceswap.constants import CPU_PROVIDER, CUDA_PROVIDER
from faceswap.errors import ErrorCode
from faceswap.jobs import JobInput, JobManager
from faceswap.pipeline.deadline import CPU_SECONDS_PER_RUN, CUDA_SECONDS_PER_RUN, Deadline, seconds_per_run
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.test_job_manager import manager

SOURCE = base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode()
TARGET = base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=4)[0])).decode()
SLOW_SWAP = "slow_swap:0.4"
"""Each face's swap sleeps this long first: past the tiny deadlines below, far within the defaults."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clips") / "in.mp4"
    write_clip(path, "mp4", frames=6, size=(256, 256), faces=1)
    return base64.b64encode(path.read_bytes()).decode()


def tight(settings: Settings) -> Settings:
    """A machine assumed a thousand times faster than this one, and a floor of a fifth of a second."""
    return derive(settings, seconds_per_run=0.0001, request_timeout=0.2, failpoints=SLOW_SWAP)


def test_a_deadline_is_its_ceiling_until_charged() -> None:
    deadline = Deadline(100.0, per_run=1.0, floor=5.0)
    assert deadline.estimate_seconds is None
    assert deadline.due == pytest.approx(time.monotonic() + 100.0, abs=5.0)
    assert not deadline.passed


def test_a_charged_deadline_is_twice_its_runs_within_floor_and_ceiling() -> None:
    deadline = Deadline(100.0, per_run=1.0, floor=5.0)
    deadline.charge(10)
    assert deadline.estimate_seconds == 20.0
    assert deadline.due < time.monotonic() + 21.0
    deadline.charge(1)
    assert deadline.estimate_seconds == 20.0, "a smaller charge leaves the estimate"
    deadline.charge(1000)
    assert deadline.estimate_seconds == 100.0, "never past the ceiling"
    small = Deadline(100.0, per_run=1.0, floor=5.0)
    small.charge(1)
    assert small.estimate_seconds == 5.0, "never under the floor"


def test_a_deadline_passes_and_names_the_setting_to_raise() -> None:
    deadline = Deadline(100.0, per_run=0.001, floor=0.0)
    deadline.charge(1)
    time.sleep(0.01)
    assert deadline.passed
    error = deadline.timeout()
    assert error.code is ErrorCode.TIMEOUT and "FACESWAP_SECONDS_PER_RUN" in error.message
    ceiling = Deadline(0.001, per_run=1.0)
    time.sleep(0.01)
    assert ceiling.passed and "FACESWAP_JOB_TIMEOUT" in ceiling.timeout().message


def test_time_lent_to_requests_is_not_counted_against_the_estimate() -> None:
    deadline = Deadline(100.0, per_run=1.0, floor=0.0)
    before = time.monotonic()
    deadline.charge(1)
    with deadline.lent():
        time.sleep(0.05)
    assert deadline.due >= before + 2.0 + 0.05, "the estimate moved on by the time lent"


def test_time_lent_before_the_charge_does_not_extend_the_estimate() -> None:
    deadline = Deadline(1000.0, per_run=1.0, floor=0.0)
    with deadline.lent():
        time.sleep(0.05)  # the estimate starts at the charge: this time is already behind it
    before = time.monotonic()
    deadline.charge(50)
    after = time.monotonic()
    assert before + 100.0 <= deadline.due <= after + 100.0


def test_a_requests_deadline_is_not_moved_by_a_charge() -> None:
    deadline = Deadline(100.0)
    deadline.charge(10**6)
    assert deadline.estimate_seconds is None and not deadline.passed
    assert "request" in deadline.timeout().message


def test_the_default_pace_follows_the_provider(settings: Settings) -> None:
    assert settings.seconds_per_run is None
    assert seconds_per_run(settings, (CPU_PROVIDER,)) == CPU_SECONDS_PER_RUN
    assert seconds_per_run(settings, (CUDA_PROVIDER, CPU_PROVIDER)) == CUDA_SECONDS_PER_RUN
    assert seconds_per_run(derive(settings, seconds_per_run=0.5), (CUDA_PROVIDER,)) == 0.5
    assert Settings(seconds_per_run="").seconds_per_run is None  # type: ignore[arg-type]


async def _timed_out_then_next_runs(jobs: JobManager, request: JobInput, relaxed: Settings) -> None:
    """`request` ends TIMEOUT naming FACESWAP_SECONDS_PER_RUN with its slot free; the next job succeeds."""
    status = await jobs.submit(request)
    done = await jobs.wait(status.id)
    assert (done.status, done.error and done.error.error_code) == ("failed", "TIMEOUT")
    assert done.error is not None and "FACESWAP_SECONDS_PER_RUN" in done.error.message
    assert jobs.service.limiter.running == 0, "the slot is given back"
    jobs.service.settings = relaxed
    status = await jobs.submit(request)
    assert (await jobs.wait(status.id)).status == "succeeded"


def _run(settings: Settings, request: JobInput, relaxed: Settings) -> None:
    async def main() -> None:
        async with manager(settings) as jobs:
            await asyncio.wait_for(_timed_out_then_next_runs(jobs, request, relaxed), 120)

    asyncio.run(main())


def test_a_photo_job_over_its_estimate_times_out_and_frees_its_slot(settings: Settings) -> None:
    slow = derive(settings, failpoints=SLOW_SWAP)
    _run(tight(settings), JobInput(source_image=SOURCE, target_image=TARGET), slow)


def test_a_clip_job_over_its_estimate_times_out_and_frees_its_slot(settings: Settings, clip: str) -> None:
    slow = derive(settings, failpoints=SLOW_SWAP)
    _run(tight(settings), JobInput(source_image=SOURCE, target_video=clip), slow)


def test_jobs_under_the_default_pace_succeed(settings: Settings, clip: str) -> None:
    async def main() -> None:
        async with manager(derive(settings, failpoints=SLOW_SWAP)) as jobs:
            for request in (
                JobInput(source_image=SOURCE, target_image=TARGET),
                JobInput(source_image=SOURCE, target_video=clip),
            ):
                status = await jobs.submit(request)
                assert (await jobs.wait(status.id)).status == "succeeded"

    asyncio.run(main())
