"""What a job is: the request it runs, the status clients read, and the record a store keeps."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faceswap.schemas import BASE64_MAX, URL_MAX, MultiSource, SwapOptions, check_sources

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JobError",
    "JobInput",
    "JobProgress",
    "JobRecord",
    "JobResult",
    "JobState",
    "JobStatus",
    "give_up",
]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class JobInput(SwapOptions, MultiSource):
    """A swap to run in the background: the /swap fields, or a clip as the target, and where to put it."""

    model_config = ConfigDict(extra="forbid")

    source_url: str | None = Field(None, max_length=URL_MAX, description="Source photo URL.")
    source_image: str | None = Field(None, max_length=BASE64_MAX, description="Source photo in base64.")
    target_url: str | None = Field(
        None, max_length=URL_MAX, description="Target photo or clip URL (MP4/MOV, WebM, animated GIF)."
    )
    target_image: str | None = Field(None, max_length=BASE64_MAX, description="Target photo in base64.")
    target_video: str | None = Field(None, max_length=BASE64_MAX, description="Target clip in base64.")
    target_reference_url: str | None = Field(None, max_length=URL_MAX, description="Swap the face like this.")
    target_reference_image: str | None = Field(None, max_length=BASE64_MAX, description="As base64.")
    output_url: str | None = Field(
        None, max_length=URL_MAX, description="Where the result is uploaded by HTTP PUT (a presigned URL)."
    )
    webhook_url: str | None = Field(
        None,
        max_length=URL_MAX,
        description="Receives the job's final status (the GET /jobs/{id} body) by POST when the job ends.",
    )

    @model_validator(mode="after")
    def _each_input_once(self) -> JobInput:
        check_sources(self)
        targets = [self.target_url, self.target_image, self.target_video]
        if sum(value is not None for value in targets) != 1:
            raise ValueError("give the target exactly once, as target_url, target_image or target_video")
        if self.target_reference_url is not None and self.target_reference_image is not None:
            raise ValueError("give the target reference once, as a URL or as base64")
        if self.swaps:
            raise ValueError("a job swaps one source face: use source_index and target_index")
        if self.has_reference and self.target_index == "all":
            raise ValueError("a target reference picks one face: do not combine it with target_index all")
        return self

    @property
    def has_reference(self) -> bool:
        """Whether the target face is chosen by likeness to a reference photo."""
        return self.target_reference_url is not None or self.target_reference_image is not None


class JobProgress(BaseModel):
    """How far a job got."""

    frames_done: int = 0
    frames_total: int = 0
    eta_seconds: float | None = None


class JobResult(BaseModel):
    """A finished job's output: kept as a file (GET /jobs/{id}/result), inline base64, or uploaded."""

    kind: Literal["image", "video"]
    media_type: str
    size_bytes: int
    base64: str | None = Field(
        None, description="The result in base64, when it is at most FACESWAP_MAX_INLINE_RESULT_BYTES."
    )
    url: str | None = Field(None, description="Where the result file is served (GET /jobs/{id}/result).")
    uploaded: bool = Field(False, description="Whether the result was PUT to output_url.")
    width: int
    height: int
    frames: int = 1
    swapped_frames: int = 1
    fps: float | None = None
    similarity_after: dict[str, float] | list[float | None] | None = Field(
        None,
        description=(
            "With report_similarity: a photo's per swapped face (as /swap's swapped[i].similarity_after); "
            'a clip\'s mean and minimum over the swapped faces of every frame, {"mean": ..., "min": ...}.'
        ),
    )


class JobError(BaseModel):
    """Why a job failed: a contract code and a sentence."""

    error_code: str
    message: str


class JobStatus(BaseModel):
    """A job as GET /jobs/{id} shows it."""

    id: str
    status: JobState
    progress: JobProgress
    created_at: float
    finished_at: float | None = None
    attempts: int = Field(
        0, description="Times the job was started (a restart or a lost worker starts it again)."
    )
    result: JobResult | None = None
    error: JobError | None = None
    delivery_failed: bool = Field(False, description="The job succeeded but the upload to output_url failed.")
    delivery_error: str | None = Field(
        None, description="Why the upload failed; the result stays downloadable."
    )


@dataclass
class JobRecord:
    """One job as a store keeps it: small fields only (the request and the result are stored apart)."""

    id: str
    created: float
    state: JobState = "queued"
    attempts: int = 0
    owner: str | None = None
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=lambda: JobProgress().model_dump())
    result: dict[str, Any] | None = None
    result_file: str | None = None
    error: dict[str, Any] | None = None
    delivery_error: str | None = None
    webhook_url: str | None = None

    def to_json(self) -> str:
        """The record as one JSON text."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        """A record from `to_json`'s text."""
        return cls.from_fields(json.loads(text))

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> JobRecord:
        """A record from its fields; a field this version does not know (written by a newer replica during a
        rolling deploy, or before a rollback) is left out."""
        known = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})

    def status(self) -> JobStatus:
        """What GET /jobs/{id} shows (the inline base64 is added by the manager, from the file)."""
        return JobStatus(
            id=self.id,
            status=self.state,
            progress=JobProgress(**self.progress),
            created_at=self.created,
            finished_at=self.finished,
            attempts=self.attempts,
            result=None if self.result is None else JobResult(**self.result),
            error=None if self.error is None else JobError(**self.error),
            delivery_failed=self.delivery_error is not None,
            delivery_error=self.delivery_error,
        )


def give_up(record: JobRecord) -> None:
    """Fail a job that was started too often, each start cut short by its worker stopping."""
    record.state, record.owner, record.finished = "failed", None, time.time()
    record.error = {
        "error_code": "INTERNAL",
        "message": f"The job was started {record.attempts} times and each time its worker stopped before it "
        "ended (a restart or a lost worker); it was given up: send it again.",
    }
