import asyncio

import pytest

from faceswap.errors import ErrorCode, SwapError
from faceswap.limiter import JOB_TURN_EVERY, Limiter


async def _a_request_gets_the_slot_a_job_lends_it() -> None:
    limiter = Limiter(1, 4)
    job = await limiter.acquire("job")
    request = asyncio.create_task(limiter.acquire("request"))
    await asyncio.sleep(0)
    lent = asyncio.create_task(limiter.yield_to_requests(job))
    slot = await request
    assert slot.share == "request" and not lent.done()
    limiter.release(slot)
    back = await lent
    assert back.share == "job" and limiter.running == 1


async def _a_job_with_no_request_waiting_keeps_its_slot() -> None:
    limiter = Limiter(1, 4)
    job = await limiter.acquire("job")
    assert await limiter.yield_to_requests(job) is job


async def _a_freed_slot_goes_to_a_request_before_a_job() -> None:
    limiter = Limiter(1, 4)
    first = await limiter.acquire("request")
    job = asyncio.create_task(limiter.acquire("job"))
    await asyncio.sleep(0)
    request = asyncio.create_task(limiter.acquire("request"))
    await asyncio.sleep(0)
    limiter.release(first)
    slot = await request
    assert not job.done()
    limiter.release(slot)
    limiter.release(await job)


async def _a_waiting_job_gets_a_turn_after_a_run_of_requests() -> None:
    limiter = Limiter(1, 100)
    held = await limiter.acquire("request")
    job = asyncio.create_task(limiter.acquire("job"))
    requests = [asyncio.create_task(limiter.acquire("request")) for _ in range(JOB_TURN_EVERY + 2)]
    await asyncio.sleep(0)
    served = 0
    while not job.done():
        limiter.release(held)
        await asyncio.sleep(0)
        if job.done():
            break
        held = next(task.result() for task in requests if task.done() and task.result() in limiter._held)
        served += 1
    assert served == JOB_TURN_EVERY
    for task in requests:
        task.cancel()


async def _busy_says_the_expected_wait_not_a_jobs_length() -> None:
    limiter = Limiter(1, 1)
    await limiter.acquire("job")
    waiting = asyncio.create_task(limiter.acquire("request"))
    await asyncio.sleep(0)
    with pytest.raises(SwapError) as caught:
        await limiter.acquire("request")
    assert caught.value.code is ErrorCode.BUSY
    assert caught.value.retry_after is not None and caught.value.retry_after <= 1 + limiter.mean_hold + 1
    waiting.cancel()


def test_a_request_gets_the_slot_a_job_lends_it() -> None:
    asyncio.run(_a_request_gets_the_slot_a_job_lends_it())


def test_a_job_with_no_request_waiting_keeps_its_slot() -> None:
    asyncio.run(_a_job_with_no_request_waiting_keeps_its_slot())


def test_a_freed_slot_goes_to_a_request_before_a_job() -> None:
    asyncio.run(_a_freed_slot_goes_to_a_request_before_a_job())


def test_a_waiting_job_gets_a_turn_after_a_run_of_requests() -> None:
    asyncio.run(_a_waiting_job_gets_a_turn_after_a_run_of_requests())


def test_busy_says_the_expected_wait_not_a_jobs_length() -> None:
    asyncio.run(_busy_says_the_expected_wait_not_a_jobs_length())
