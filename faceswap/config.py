"""One Settings object, read from the environment (prefix ``FACESWAP_``) once and passed down."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from faceswap.models.extras import parse_names
from faceswap.pipeline.swappers import SWAPPER_NAMES

__all__ = ["Settings", "get_settings"]

MiB = 1024 * 1024
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (the format marker, not a secret)
WEBHOOK_SECRET_MIN_BYTES = 24  # the Standard Webhooks floor for HMAC keys


def _check_webhook_secret(secret: str) -> None:
    """Refuse a webhook secret that is not base64 (optionally ``whsec_``-prefixed) of enough random bytes."""
    text = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            "the webhook secret must be whsec_ followed by base64 (README, Webhooks, says how to make one)"
        ) from exc
    if len(key) < WEBHOOK_SECRET_MIN_BYTES:
        raise ValueError(
            f"the webhook secret must hold at least {WEBHOOK_SECRET_MIN_BYTES} bytes once base64-decoded"
        )


class Settings(BaseSettings):
    """Every operator-facing knob of the service; the README documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="FACESWAP_",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # never echo a secret
    )

    # Models and providers
    model_dir: Path = Field(Path("./models"), description="Folder holding buffalo_l/ and inswapper_128.onnx.")
    providers: Literal["auto", "cuda", "cpu"] = Field(
        "auto", description="auto: CUDA when ONNX Runtime offers it, else CPU."
    )
    det_size: int = Field(640, ge=160, le=1280, multiple_of=32, description="Largest detector input side.")
    det_thresh: float = Field(0.5, gt=0.0, lt=1.0, description="Detector score threshold.")
    fp16: bool = Field(True, description="On CUDA, run the swapper in FP16 (checked against FP32 at load).")
    gpu_mem_limit: int | None = Field(
        None, ge=256 * MiB, description="Bytes the CUDA arena may hold; unset: no cap."
    )
    cpu_fallback: bool = Field(False, description="After a CUDA out-of-memory, retry the request on the CPU.")
    intra_op_threads: int = Field(
        0, ge=0, le=256, description="ONNX Runtime CPU threads; 0: per core (or CPU quota)."
    )
    model_load_retries: int = Field(
        5, ge=0, le=100, description="Load attempts after the first before giving up."
    )
    swapper: str = Field(
        "inswapper_128",
        description="The swapper a request gets when it names none; loaded at start, required for readiness.",
    )
    preload: str = Field(
        "",
        description="Optional models to load at start, in the background (comma-separated names, or all).",
    )

    # Input limits
    max_dimension: int = Field(1024, ge=64, le=8192, description="Longer side images are downscaled to.")
    max_download_bytes: int = Field(20 * MiB, ge=1024, description="Largest image file accepted, in bytes.")
    max_pixels: int = Field(50_000_000, ge=4096, description="Largest decoded image accepted, in pixels.")
    max_body_bytes: int = Field(
        64 * MiB,
        ge=1024,
        description="Ceiling on any request body; each route's cap is sized from its images.",
    )
    max_pending_body_bytes: int = Field(
        256 * MiB, ge=1024, description="Bytes all bodies being received may hold at once; beyond: BUSY."
    )
    max_decode_bytes: int = Field(
        256 * MiB, ge=MiB, description="Memory one decode may use, estimated from the header first."
    )
    max_large_decodes: int = Field(
        2, ge=1, le=64, description="Decodes over max_decode_bytes/8 running at once, per process."
    )

    # Fetching
    allow_private_urls: bool = Field(
        False, description="Allow URLs on loopback/private networks (tests only)."
    )
    url_allowlist: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated hosts always allowed (e.g. your bucket); host:port for one port only.",
    )
    fetch_connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to connect to an image host.")
    fetch_timeout: float = Field(20.0, gt=0, le=300, description="Seconds for a whole image download.")
    max_redirects: int = Field(3, ge=0, le=10, description="Redirects followed per download.")

    # Serving
    max_connections: int = Field(
        64, ge=2, le=100_000, description="Open connections; a request beyond them is answered 503."
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=4096, le=MiB, description="Largest request line and headers, in bytes."
    )
    header_timeout: float = Field(10.0, gt=0, le=300, description="Seconds a client has to send its headers.")
    body_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds a client has to send its body.")
    keep_alive_timeout: float = Field(5.0, gt=0, le=300, description="Seconds an idle connection is kept.")
    api_key: SecretStr | None = Field(None, description="When set, requests need Bearer or X-API-Key.")
    request_timeout: float = Field(90.0, gt=0, le=3600, description="Seconds a request may take in all.")
    max_concurrency: int = Field(1, ge=1, le=64, description="Swaps run at once (per accelerator).")
    max_queue: int = Field(8, ge=0, le=10_000, description="Requests that may wait; beyond it: BUSY.")
    max_request_cost: int = Field(
        256,
        ge=0,
        le=10_000_000,
        description="Most model runs one photo swap may take (faces x pixel-boost tiles, masks, "
        "restoration); over it: COST_LIMIT_EXCEEDED. 0: no limit.",
    )
    seconds_per_run: float | None = Field(
        None,
        gt=0,
        le=60,
        description="Seconds one model run is expected to take here, for a job's deadline "
        "proportional to its cost; unset: 3 on the CPU, 0.25 on CUDA.",
    )
    drain_timeout: float = Field(
        30.0, ge=0, le=600, description="Seconds in-flight requests get on shutdown."
    )
    oom_cooldown: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="Seconds after the third out-of-memory answer in a row before the models reload.",
    )
    embedding_cache_size: int = Field(
        256, ge=0, le=100_000, description="Source embeddings kept (by content)."
    )
    detection_cache_size: int = Field(64, ge=0, le=10_000, description="Target detections kept (by content).")

    # Output
    png_compression: int = Field(
        2,
        ge=0,
        le=9,
        description="PNG level: 0-3 fast (ISA-L), 4-9 zlib (about 10% smaller, 20x slower).",
    )
    jpeg_quality: int = Field(92, ge=1, le=100, description="JPEG quality.")
    webp_quality: int = Field(90, ge=1, le=100, description="WebP quality.")
    label_outputs: bool = Field(True, description="Mark outputs as AI-altered in XMP metadata.")

    # Provenance and content safety
    content_guard: Literal["auto", "on", "off"] = Field(
        "auto",
        description="NSFW guard before every swap: auto (on when its models are installed), on, off.",
    )
    watermark: bool = Field(True, description="Embed the invisible watermark (on/off) in every output.")
    c2pa_cert: str | None = Field(
        None, description="C2PA signing certificate chain (PEM, leaf first): a file path or the PEM itself."
    )
    c2pa_key: SecretStr | None = Field(
        None, description="The signing certificate's private key (PEM): a file path or the PEM itself."
    )
    c2pa_tsa_url: str | None = Field(None, description="RFC 3161 timestamp authority URL for the signatures.")

    # Operations
    log_format: Literal["json", "text"] = Field("text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    metrics_public: bool = Field(False, description="Serve /metrics without the API key.")
    playground: bool = Field(
        True, description="Serve the playground page at / and /playground (its API calls need the key)."
    )
    failpoints: str = Field("", description="Fault injection for tests, e.g. swap_oom:2,slow_swap:3.")

    # Video and jobs
    max_video_seconds: float = Field(60.0, gt=0, le=3600, description="Longest video accepted, in seconds.")
    max_video_frames: int = Field(3600, ge=1, le=1_000_000, description="Most frames a video may have.")
    max_video_pixels: int = Field(
        1920 * 1080, ge=4096, le=50_000_000, description="Largest video frame accepted, in pixels."
    )
    max_video_total_pixels: int = Field(
        1800 * 1920 * 1080,
        ge=4096,
        le=10**12,
        description="Most pixels a clip may decode in all (frames x frame size); the default is a minute of "
        "1080p at 30 fps.",
    )
    max_video_bytes: int = Field(200 * MiB, ge=1024, description="Largest video file accepted, in bytes.")
    job_timeout: float = Field(
        1800.0, gt=0, le=86_400, description="Seconds a job may swap for, at most (see seconds_per_run)."
    )
    max_jobs: int = Field(16, ge=1, le=10_000, description="Jobs queued or running at once; beyond: BUSY.")
    job_ttl: float = Field(3600.0, gt=0, le=86_400, description="Seconds a finished job's result is kept.")
    data_dir: Path = Field(
        Path("./data"), description="Where jobs, their requests and results are kept (SQLite and files)."
    )
    jobs_url: SecretStr | None = Field(
        None, description="redis://... to keep jobs in Redis, shared by every replica; unset: SQLite."
    )
    job_max_attempts: int = Field(
        3, ge=1, le=100, description="Starts a job gets when its worker stops mid-job (restart, crash)."
    )
    job_lease_seconds: float = Field(
        30.0, ge=1, le=3600, description="Seconds a dead worker's job stays claimed before another takes it."
    )
    max_results_bytes: int = Field(
        10 * 1024 * MiB, ge=1024, description="Bytes of finished jobs' results kept; beyond: oldest removed."
    )
    min_free_bytes: int = Field(
        256 * MiB, ge=0, description="Free space kept in the data folder; results are removed to keep it."
    )
    max_inline_result_bytes: int = Field(
        16 * MiB, ge=1024, description="Largest result returned as base64; larger ones need output_url."
    )

    # Delivery: a job's result upload to output_url and its webhook
    upload_attempts: int = Field(
        4,
        ge=1,
        le=100,
        description="Tries of a result's PUT to output_url (retried on 5xx, 408, 429, timeouts).",
    )
    upload_timeout: float = Field(
        600.0, gt=0, le=86_400, description="Seconds a result's upload may take in all, retries included."
    )
    webhook_attempts: int = Field(6, ge=1, le=100, description="Tries of each webhook POST.")
    webhook_timeout: float = Field(
        300.0, gt=0, le=86_400, description="Seconds each webhook may take in all, retries included."
    )
    delivery_backoff: float = Field(
        1.0, ge=0, le=60, description="Seconds before the first retry of an upload or webhook; then doubled."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Signs webhooks (Standard Webhooks, HMAC-SHA256): whsec_ + base64 of 24+ random bytes.",
    )

    @field_validator("url_allowlist", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(entry.strip().lower() for entry in value.split(",") if entry.strip())
        return value

    @field_validator("swapper")
    @classmethod
    def _known_swapper(cls, value: str) -> str:
        if value not in SWAPPER_NAMES:
            raise ValueError(f"must be one of {', '.join(SWAPPER_NAMES)}")
        return value

    @field_validator("preload")
    @classmethod
    def _known_models(cls, value: str) -> str:
        if value.replace(",", "").strip():
            parse_names(value)
        return value

    @model_validator(mode="after")
    def _certificate_with_its_key(self) -> Settings:
        if (self.c2pa_cert is None) != (self.c2pa_key is None):
            raise ValueError("FACESWAP_C2PA_CERT and FACESWAP_C2PA_KEY go together: set both or neither")
        return self

    @field_validator("c2pa_cert", "c2pa_key", "c2pa_tsa_url", "seconds_per_run", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_key", "jobs_url", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _usable_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_webhook_secret(value.get_secret_value())
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
