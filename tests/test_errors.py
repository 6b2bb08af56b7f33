import faceswap.errors
from faceswap.errors import ERROR_STATUS, ErrorCode, SwapError

CONTRACT = {
    "INVALID_INPUT": 422,
    "UNAUTHORIZED": 401,
    "URL_NOT_ALLOWED": 400,
    "FETCH_FAILED": 502,
    "FETCH_TIMEOUT": 504,
    "IMAGE_TOO_LARGE": 413,
    "INVALID_IMAGE": 400,
    "NO_FACE": 422,
    "FACE_INDEX_OUT_OF_RANGE": 422,
    "MODEL_NOT_INSTALLED": 422,
    "OUT_OF_MEMORY": 503,
    "BUSY": 503,
    "NOT_READY": 503,
    "TIMEOUT": 504,
    "INTERNAL": 500,
    "JOB_NOT_FOUND": 404,  # the jobs routes (README, "Jobs and video")
    "DELIVERY_FAILED": 502,  # a job's result upload or webhook (README, "Webhooks")
    "CONTENT_REFUSED": 422,  # the content guard (contract, "Content guard and provenance")
    "COST_LIMIT_EXCEEDED": 422,  # FACESWAP_MAX_REQUEST_COST (README)
    "STORAGE_FULL": 507,  # the jobs routes: no room for the job's files
}


def test_every_contract_code_has_its_status() -> None:
    assert {code.value: status for code, status in ERROR_STATUS.items()} == CONTRACT
    assert set(ErrorCode) == set(ERROR_STATUS)


def test_swap_error_carries_code_message_and_status() -> None:
    error = SwapError(ErrorCode.BUSY, "Busy.", retry_after=2)
    assert (error.status, error.message, error.retry_after, str(error)) == (503, "Busy.", 2, "Busy.")


def test_public_names_are_pinned() -> None:
    # In ruff's RUF022 order (constants first), which `ruff check` keeps.
    assert faceswap.errors.__all__ == [
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


def test_sizes_read_as_a_person_writes_them() -> None:
    from faceswap.constants import describe_size
    from faceswap.errors import image_too_large

    assert [describe_size(n) for n in (20 * 1024 * 1024, 2048, 500_000)] == [
        "20 MiB",
        "2 KiB",
        "500000 bytes",
    ]
    assert image_too_large("source image", 500_000).message == "The source image is larger than 500000 bytes."
