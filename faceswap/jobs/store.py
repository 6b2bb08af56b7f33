"""The job store: where jobs outlive the process that took them, behind one small interface.

Two stores implement it and pass one test suite (tests/test_job_store.py):

- SQLiteJobStore (the default): one SQLite database in ``FACESWAP_DATA_DIR``, for one process (one
  machine, one replica); a restart finds every job it had.
- RedisJobStore (``FACESWAP_JOBS_URL=redis://...``): shared by every replica, which take queued jobs
  from one queue and answer for any job.

A job is queued, then claimed by one worker under a lease that the worker renews while it runs; a lease
that runs out (its worker died) puts the job back in the queue for another worker, up to
``max_attempts`` starts, then the job fails. A worker that stops on purpose gives its job back at once.
"""

from __future__ import annotations

from typing import Protocol

from faceswap.jobs.models import JobRecord

__all__ = ["JobStore"]


class JobStore(Protocol):
    """Jobs, their requests and their queue; every method is safe to call from any replica."""

    exclusive: bool
    """Whether this process alone uses the store: jobs claimed when it starts were its own dead process's."""

    async def add(self, record: JobRecord, request: bytes) -> None:
        """Keep a new queued job and its request (the JSON body), last in the queue."""

    async def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when it is not kept."""

    async def request(self, job_id: str) -> bytes | None:
        """The job's request, or None once it finished (a finished job keeps its result only)."""

    async def save(self, record: JobRecord) -> None:
        """Write a job's progress or state as its worker sees it (no effect when the job was deleted)."""

    async def finish(self, record: JobRecord) -> None:
        """Write the final state, end the lease and drop the request."""

    async def claim(self, owner: str, lease_seconds: float) -> JobRecord | None:
        """Take the first queued job for `owner` under a lease, its start counted; None when none waits."""

    async def renew(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend `owner`'s lease; False when the job was deleted or is no longer `owner`'s."""

    async def give_back(self, job_id: str, owner: str) -> None:
        """Put `owner`'s job first in the queue again, this start not counted (it stops on purpose)."""

    async def requeue_expired(self, max_attempts: int, *, everyone: bool = False) -> list[JobRecord]:
        """Jobs whose lease ran out (with `everyone`, every claimed job) back to the queue, or failed when
        they were started `max_attempts` times already; returns them as they are now."""

    async def delete(self, job_id: str) -> None:
        """Forget the job, its request and its place in the queue."""

    async def active(self) -> int:
        """Jobs queued or running."""

    async def finished(self) -> list[tuple[str, float]]:
        """(id, finished time) of every finished job, oldest first."""

    async def close(self) -> None:
        """Release connections."""
