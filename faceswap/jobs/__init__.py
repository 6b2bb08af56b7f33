"""Jobs: swaps run in the background, kept in a store that outlives the process (see manager)."""

from faceswap.jobs.manager import JobManager, not_found
from faceswap.jobs.models import JobInput, JobResult, JobStatus
from faceswap.jobs.run import limits_of, run_job

__all__ = ["JobInput", "JobManager", "JobResult", "JobStatus", "limits_of", "not_found", "run_job"]
