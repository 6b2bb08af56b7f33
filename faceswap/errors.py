"""The one exception family of the service and the code → HTTP status table.

Exception tree::

    SwapError(code, message)          every failure a client can be told about
      │  carries an ErrorCode; ERROR_STATUS maps it to its HTTP status
      └─ ModelError (faceswap.modelfiles): NOT_READY, the models cannot be used
           ├─ ModelFileError            a file is missing, an LFS pointer, truncated, the wrong model
           └─ ModelLoadError            ONNX Runtime could not load a checked file, or no such provider

Library errors (cv2, onnxruntime, httpx, PIL) are converted where each stage calls them,
``raise SwapError(...) from exc``, so nothing else ever reaches an adapter.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ERROR_STATUS", "ErrorCode", "SwapError", "describe_size", "image_too_large"]

_MiB = 1024 * 1024


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
    FACE_INDEX_OUT_OF_RANGE = "FACE_INDEX_OUT_OF_RANGE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BUSY = "BUSY"
    NOT_READY = "NOT_READY"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"


ERROR_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.URL_NOT_ALLOWED: 400,
    ErrorCode.FETCH_FAILED: 502,
    ErrorCode.FETCH_TIMEOUT: 504,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.INVALID_IMAGE: 400,
    ErrorCode.NO_FACE: 422,
    ErrorCode.FACE_INDEX_OUT_OF_RANGE: 422,
    ErrorCode.OUT_OF_MEMORY: 503,
    ErrorCode.BUSY: 503,
    ErrorCode.NOT_READY: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
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


def describe_size(size: int) -> str:
    """A byte count as a person would write it."""
    if size % _MiB == 0:
        return f"{size // _MiB} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def image_too_large(role: str, limit: int) -> SwapError:
    """IMAGE_TOO_LARGE for `role` (e.g. "source image", "request body") over `limit` bytes."""
    return SwapError(ErrorCode.IMAGE_TOO_LARGE, f"The {role} is larger than {describe_size(limit)}.")
