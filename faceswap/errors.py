"""The one exception family of the service and the code → HTTP status table.

Exception tree::

    SwapError(code, message)          every failure a client can be told about
      │  carries an ErrorCode; ERROR_STATUS maps it to its HTTP status
      ├─ DeliveryError                DELIVERY_FAILED (or URL_NOT_ALLOWED): a result upload or a webhook
      │                                 failed for good; the message names which, the host and why
      └─ ModelError                   NOT_READY: the models cannot be used, ``reason`` says why and the fix
           ├─ ModelFileError            a file is missing, an LFS pointer, truncated, corrupt, the wrong model
           └─ ModelLoadError            ONNX Runtime could not load a checked file, or no such provider

    DownloadError                     a model download failed (the ``models`` command's, never a request's)
    BlockedAddressError               a host resolved to a refused address (fetch: URL_NOT_ALLOWED)
    ClientGoneError                   the client closed the connection before the answer was ready
    DeployError, ConfigError          `runpod_debug.py deploy`: RunPod refused a call; the config is unusable

Library errors (cv2, onnxruntime, httpx, PIL) are converted where each stage calls them,
``raise SwapError(...) from exc``, so nothing else ever reaches an adapter.
"""

from __future__ import annotations

import errno
from enum import StrEnum
from typing import Literal

from faceswap.constants import describe_size

__all__ = [
    "ERROR_STATUS",
    "BlockedAddressError",
    "ClientGoneError",
    "ConfigError",
    "DeliveryError",
    "DeployError",
    "DownloadError",
    "ErrorCode",
    "FaultKind",
    "ModelError",
    "ModelFileError",
    "ModelLoadError",
    "SwapError",
    "image_label",
    "image_too_large",
    "is_disk_full",
    "storage_full",
]

FaultKind = Literal["missing", "lfs_pointer", "truncated", "corrupt", "wrong_kind"]


class ErrorCode(StrEnum):
    """The contract's error codes."""

    INVALID_INPUT = "INVALID_INPUT"
    UNAUTHORIZED = "UNAUTHORIZED"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    FETCH_FAILED = "FETCH_FAILED"
    FETCH_TIMEOUT = "FETCH_TIMEOUT"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    INVALID_IMAGE = "INVALID_IMAGE"
    NO_FACE = "NO_FACE"
    MODEL_NOT_INSTALLED = "MODEL_NOT_INSTALLED"
    FACE_INDEX_OUT_OF_RANGE = "FACE_INDEX_OUT_OF_RANGE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BUSY = "BUSY"
    NOT_READY = "NOT_READY"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    CONTENT_REFUSED = "CONTENT_REFUSED"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    STORAGE_FULL = "STORAGE_FULL"


ERROR_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.URL_NOT_ALLOWED: 400,
    ErrorCode.FETCH_FAILED: 502,
    ErrorCode.FETCH_TIMEOUT: 504,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.INVALID_IMAGE: 400,
    ErrorCode.NO_FACE: 422,
    ErrorCode.MODEL_NOT_INSTALLED: 422,
    ErrorCode.FACE_INDEX_OUT_OF_RANGE: 422,
    ErrorCode.OUT_OF_MEMORY: 503,
    ErrorCode.BUSY: 503,
    ErrorCode.NOT_READY: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.DELIVERY_FAILED: 502,
    ErrorCode.CONTENT_REFUSED: 422,
    ErrorCode.COST_LIMIT_EXCEEDED: 422,
    ErrorCode.STORAGE_FULL: 507,
}


class SwapError(Exception):
    """A failure with a contract code and one plain sentence a user can act on."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def body(self, request_id: str) -> dict[str, object]:
        """The contract's failure object."""
        return {
            "success": False,
            "error_code": self.code.value,
            "message": self.message,
            "request_id": request_id,
        }

    @property
    def status(self) -> int:
        """The HTTP status the contract gives this error's code."""
        return ERROR_STATUS[self.code]

    def __repr__(self) -> str:
        return f"SwapError({self.code.value}, {self.message!r})"


class DeliveryError(SwapError):
    """A result upload or a webhook failed for good, after its retries; the message names what failed."""

    def __init__(self, message: str, *, code: ErrorCode = ErrorCode.DELIVERY_FAILED) -> None:
        super().__init__(code, message)


class ModelError(SwapError):
    """The models cannot be used; ``reason`` is one sentence with the cause and the fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.NOT_READY, reason)

    @property
    def reason(self) -> str:
        """The sentence /health shows."""
        return self.message


class ModelFileError(ModelError):
    """One model file is unusable; ``path`` is relative to the model dir, ``kind`` names the fault."""

    def __init__(self, path: str, kind: FaultKind, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.kind = kind


class ModelLoadError(ModelError):
    """ONNX Runtime could not load a checked file, or the execution provider asked for is not there."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.path = path


class DownloadError(Exception):
    """A download failed; the message is one sentence with the cause and what to do."""


class BlockedAddressError(Exception):
    """A host resolved to an address the policy refuses (the fetcher turns it into URL_NOT_ALLOWED)."""


class ClientGoneError(Exception):
    """The client closed the connection before the answer was ready."""


class DeployError(RuntimeError):
    """RunPod refused a call or could not be reached; the message says which and why (never the key)."""


class ConfigError(ValueError):
    """runpod-config.yaml cannot be deployed as written; the message says what to change."""


def image_label(role: str) -> str:
    """How messages name an image: "source image", or just "image" when the role is the image itself."""
    return "image" if role == "image" else f"{role} image"


def image_too_large(role: str, limit: int) -> SwapError:
    """IMAGE_TOO_LARGE for `role` (e.g. "source image", "request body") over `limit` bytes."""
    return SwapError(ErrorCode.IMAGE_TOO_LARGE, f"The {role} is larger than {describe_size(limit)}.")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a write that found no space left (ENOSPC, EDQUOT)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def storage_full(where: str = "the data folder") -> SwapError:
    """STORAGE_FULL: no room for a job's files."""
    return SwapError(
        ErrorCode.STORAGE_FULL,
        f"There is no room left in {where} for this job's files; try again once finished jobs expire.",
        retry_after=60,
    )
