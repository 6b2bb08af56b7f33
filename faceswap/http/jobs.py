"""The job routes: POST /jobs starts a swap in the background, GET polls it or serves its result file,
DELETE cancels it. The job manager does the rest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from faceswap.config import Settings
from faceswap.http.errors import ERROR_RESPONSES
from faceswap.http.jsonbody import Base64Fields, ParsedJSONRoute
from faceswap.http.routes import FIELDS_BYTES, ImageJSONResponse, base64_size
from faceswap.jobs import JobInput, JobManager, JobStatus

__all__ = ["job_body_limits", "job_field_limits", "job_router"]


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs  # type: ignore[no-any-return]


Jobs = Annotated[JobManager, Depends(_jobs)]

job_router = APIRouter(responses=ERROR_RESPONSES, tags=["jobs"], route_class=ParsedJSONRoute)


def job_body_limits(settings: Settings) -> dict[str, int]:
    """POST /jobs carries two images and a clip in base64 at most (never over `max_body_bytes`)."""
    largest = 2 * base64_size(settings.max_download_bytes) + base64_size(settings.max_video_bytes)
    return {"/jobs": min(largest + FIELDS_BYTES, settings.max_body_bytes)}


def job_field_limits(settings: Settings) -> dict[str, Base64Fields]:
    """POST /jobs: images, and a clip as target_video."""
    clip = {"target_video": settings.max_video_bytes}
    return {"/jobs": Base64Fields(settings.max_download_bytes, clip)}


@job_router.post("/jobs", response_model=JobStatus, status_code=202)
async def start_job(body: JobInput, jobs: Jobs) -> Response:
    """Start a swap (a photo, or a clip frame by frame) in the background; poll GET /jobs/{id}.

    Jobs are kept in the job store (SQLite in FACESWAP_DATA_DIR, or Redis): a restart or another replica
    carries them on. `webhook_url` receives the final status by POST.
    """
    status = await jobs.submit(body)
    return JSONResponse(status.model_dump(), status_code=202, headers={"Location": f"/jobs/{status.id}"})


@job_router.get("/jobs/{job_id}", response_model=JobStatus)
async def job_status(job_id: str, jobs: Jobs) -> Response:
    """Status, progress (frames done / total, ETA) and, once done, the result or the error."""
    return ImageJSONResponse((await jobs.get(job_id)).model_dump())


@job_router.get(
    "/jobs/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"content": {"video/*": {}, "image/*": {}}, "description": "The result file."}},
)
async def job_result(job_id: str, jobs: Jobs) -> Response:
    """The finished job's result file, streamed from disk (also when its upload to output_url failed)."""
    path, media_type = await jobs.result_file(job_id)
    return FileResponse(path, media_type=media_type, filename=f"{job_id}{path.suffix}")


@job_router.delete("/jobs/{job_id}", response_model=JobStatus)
async def cancel_job(job_id: str, jobs: Jobs) -> Response:
    """Stop the job at its next frame and forget it, its files and its result."""
    return JSONResponse((await jobs.cancel(job_id)).model_dump())
