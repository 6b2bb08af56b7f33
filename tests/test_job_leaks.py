"""A cancelled or failed 1080p clip job gives back its decoder, encoder, threads and memory at once."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import multiprocessing
import statistics
from pathlib import Path

import pytest

from faceswap.config import Settings
from faceswap.jobs import JobInput, JobManager
from faceswap.testing.clips import write_clip
from tests.conftest import derive
from tests.test_job_manager import SOURCE, manager

JOBS_EACH = 10
TOLERANCE = 0.10


def process_status() -> tuple[int, int]:
    """(resident bytes, threads) of this process, native threads (FFmpeg's, x264's) included."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"])


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clips") / "hd.mp4"
    write_clip(path, "mp4", frames=16, size=(1920, 1080), faces=1)
    return base64.b64encode(path.read_bytes()).decode()


async def cancelled_mid_clip(jobs: JobManager, request: JobInput) -> None:
    status = await jobs.submit(request)
    while (await jobs.get(status.id)).progress.frames_done < 2:
        await asyncio.sleep(0.02)
    assert (await jobs.cancel(status.id)).status == "cancelled"


async def failed_mid_clip(jobs: JobManager, request: JobInput) -> None:
    await settled(jobs)  # the cancelled job's last frames must not take the injected failure
    jobs.service.lifecycle.failpoints.configure("disk_full:1,slow_swap:0.05")
    status = await jobs.submit(request)
    done = await jobs.wait(status.id)
    assert (done.status, done.error and done.error.error_code) == ("failed", "STORAGE_FULL")
    jobs.service.lifecycle.failpoints.configure("slow_swap:0.05")


async def settled(jobs: JobManager) -> tuple[int, int]:
    """The process once every swap thread has ended (a stopped job's thread ends at its next frame)."""
    while jobs.service.limiter.running or jobs._running:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return process_status()


def run_jobs(settings: Settings, clip: str) -> list[tuple[int, int]]:
    """In a fresh process, as the service runs them: JOBS_EACH cancelled and failed jobs after two of each
    to warm up; the process's (resident bytes, threads) after each job."""
    request = JobInput(source_image=SOURCE, target_video=clip)

    async def main() -> list[tuple[int, int]]:
        samples: list[tuple[int, int]] = []
        async with manager(settings) as jobs:
            for _ in range(2 + JOBS_EACH):
                await cancelled_mid_clip(jobs, request)
                samples.append(await settled(jobs))
                await failed_mid_clip(jobs, request)
                samples.append(await settled(jobs))
            assert not any(jobs.files.work.iterdir()), "every work folder is removed"
        return samples

    return asyncio.run(main())


def test_cancelled_and_failed_hd_clip_jobs_leave_no_memory_or_threads(
    settings: Settings, hd_clip: str
) -> None:
    """Resident memory moves by a few MB between jobs, so the start and the end are each the median of four
    samples taken after a job, every swap thread ended. The jobs run in a fresh process, whose allocator
    is set up as the service's is (before anything large is allocated)."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        samples = pool.submit(run_jobs, derive(settings, failpoints="slow_swap:0.05"), hd_clip).result()
    start, end = samples[:4], samples[-4:]
    rss_before, rss_after = (statistics.median(rss for rss, _ in part) for part in (start, end))
    threads_before, threads_after = (max(threads for _, threads in part) for part in (start, end))
    assert threads_after <= threads_before * (1 + TOLERANCE), (threads_before, threads_after)
    assert rss_after <= rss_before * (1 + TOLERANCE), [rss >> 20 for rss, _ in samples]
