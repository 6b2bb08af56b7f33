"""upload_result: a job's result PUT to output_url over real HTTP on 127.0.0.1, retried, bounded, guarded."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from pathlib import Path

import pytest

from faceswap.config import Settings
from faceswap.errors import DeliveryError, ErrorCode
from faceswap.jobs.delivery import upload_result
from tests.conftest import derive
from tests.receivers import Answer, Receiver, Receivers

GiB = 1024**3
S3_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Loopback allowed, short pauses and per-operation timeouts, so that retries run at once."""
    return derive(settings, delivery_backoff=0.01, fetch_timeout=2.0, upload_attempts=4, upload_timeout=60.0)


@pytest.fixture
def result_file(tmp_path: Path) -> Path:
    path = tmp_path / "result.mp4"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return path


def upload(path: Path, url: str, settings: Settings) -> None:
    asyncio.run(upload_result(path, url, "video/mp4", settings))


def failure(path: Path, url: str, settings: Settings) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        upload(path, url, settings)
    return caught.value


def test_a_put_answered_500_once_is_retried_and_delivered(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(500), Answer(200))
    upload(result_file, bucket.url("/out.mp4?X-Amz-Signature=abc"), quick)
    assert [r.method for r in bucket.received] == ["PUT", "PUT"]
    last = bucket.received[-1]
    assert last.path == "/out.mp4?X-Amz-Signature=abc"
    assert last.body == result_file.read_bytes()
    assert (last.headers["content-type"], last.headers["content-length"]) == ("video/mp4", str(1024 * 1024))


def test_a_put_always_answered_500_fails_after_the_attempts_naming_the_upload(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(500))
    error = failure(result_file, bucket.url(), derive(quick, upload_attempts=3))
    assert len(bucket.received) == 3
    assert error.code is ErrorCode.DELIVERY_FAILED and error.status == 502
    assert error.message == "Result upload to 127.0.0.1 failed: HTTP 500 after 3 attempts."
    assert "download" not in error.message


def test_the_total_time_allowed_ends_the_retries_before_the_attempts_do(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(503))
    # The first pause (5-10 s with jitter) cannot fit in the 5 s allowed, however slow the machine.
    settings = derive(quick, upload_attempts=100, upload_timeout=5.0, delivery_backoff=10.0)
    error = failure(result_file, bucket.url(), settings)
    assert len(bucket.received) == 1
    assert "HTTP 503 after 1 attempt" in error.message and "the 5 s allowed ran out" in error.message


def test_a_retry_after_beyond_the_time_allowed_gives_up_at_once(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(503, headers={"Retry-After": "3600"}))
    error = failure(result_file, bucket.url(), quick)
    assert len(bucket.received) == 1
    assert (
        error.message
        == "Result upload to 127.0.0.1 failed: HTTP 503 after 1 attempt; the 60 s allowed ran out."
    )


@pytest.mark.parametrize("status", [408, 429, 502, 504])
def test_request_timeout_too_many_requests_and_gateway_errors_are_retried(
    quick: Settings, result_file: Path, receivers: Receivers, status: int
) -> None:
    bucket = receivers.serve(Answer(status, headers={"Retry-After": "0"}), Answer(200))
    upload(result_file, bucket.url(), quick)
    assert len(bucket.received) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 410, 413])
def test_other_client_errors_are_final_and_say_the_bucket_s_reason(
    quick: Settings, result_file: Path, receivers: Receivers, status: int
) -> None:
    bucket = receivers.serve(Answer(status, S3_EXPIRED, {"Content-Type": "application/xml"}))
    error = failure(result_file, bucket.url(), quick)
    assert len(bucket.received) == 1
    assert error.message == (
        f"Result upload to 127.0.0.1 failed: HTTP {status} (AccessDenied: Request has expired) "
        "after 1 attempt."
    )


def test_a_plain_text_reason_is_quoted_short_and_printable(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    reason = b"quota \x00exceeded\r\n" + b"x" * 10_000
    bucket = receivers.serve(Answer(403, reason, {"Content-Type": "text/plain"}))
    error = failure(result_file, bucket.url(), quick)
    assert "HTTP 403 (quota exceeded xxx" in error.message
    assert len(error.message) < 300


@pytest.mark.parametrize(
    "answers",
    [
        (Answer(500, zeros=2 * GiB), Answer(200, zeros=2 * GiB)),
        (Answer(500, endless=True), Answer(201, endless=True)),
    ],
    ids=["2-GiB-bodies", "endless-bodies"],
)
def test_a_huge_or_endless_reply_is_not_read(
    quick: Settings, result_file: Path, receivers: Receivers, answers: tuple[Answer, ...]
) -> None:
    bucket = receivers.serve(*answers)
    tracemalloc.start()
    try:
        upload(result_file, bucket.url(), quick)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(bucket.received) == 2
    assert peak < 8 * 1024 * 1024, peak  # the 1 MiB file streamed plus a few KB of the reply
    assert all(record.sent < 256 * 1024 * 1024 for record in bucket.received)  # what the socket buffers took


def test_a_large_result_streams_from_disk_never_whole_in_memory(
    quick: Settings, tmp_path: Path, receivers: Receivers
) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(hashlib.sha256(b"seed").digest() * (1024 * 1024))  # 32 MiB
    bucket = receivers.serve(Answer(200))
    tracemalloc.start()
    try:
        upload(path, bucket.url(), quick)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bucket.received[0].size == 32 * 1024 * 1024
    assert bucket.received[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert peak < 8 * 1024 * 1024, peak


def test_an_answer_that_never_comes_times_out_and_is_retried(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(hang=True), Answer(200))
    upload(result_file, bucket.url(), derive(quick, fetch_timeout=0.5))
    assert len(bucket.received) == 2


def test_a_host_that_never_answers_fails_within_the_time_allowed(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(hang=True))
    error = failure(result_file, bucket.url(), derive(quick, fetch_timeout=30.0, upload_timeout=1.0))
    assert error.code is ErrorCode.DELIVERY_FAILED
    assert error.message == (
        "Result upload to 127.0.0.1 failed: it did not finish within the 1 s allowed "
        "(1 attempt; the last answer: no attempt finished)."
    )


def test_each_try_that_times_out_counts_as_an_attempt(
    quick: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(hang=True))
    error = failure(result_file, bucket.url(), derive(quick, fetch_timeout=0.2, upload_attempts=2))
    assert len(bucket.received) == 2
    assert error.message == "Result upload to 127.0.0.1 failed: no answer in time after 2 attempts."


def test_a_broken_connection_is_retried(quick: Settings, result_file: Path, receivers: Receivers) -> None:
    bucket = receivers.serve(Answer(drop=True), Answer(200))
    upload(result_file, bucket.url(), quick)
    assert len(bucket.received) == 2 and bucket.received[1].body == result_file.read_bytes()


def test_a_refused_connection_is_retried_then_reported(quick: Settings, result_file: Path) -> None:
    closed = Receiver()
    url = closed.url()
    closed.close()
    error = failure(result_file, url, derive(quick, upload_attempts=2))
    assert (
        error.message == "Result upload to 127.0.0.1 failed: the host could not be reached after 2 attempts."
    )


def test_redirects_are_not_followed(quick: Settings, result_file: Path, receivers: Receivers) -> None:
    bucket = receivers.serve(Answer(307, headers={"Location": "/elsewhere"}), Answer(200))
    error = failure(result_file, bucket.url(), quick)
    assert [record.path for record in bucket.received] == ["/out"]
    assert error.message == (
        "Result upload to 127.0.0.1 failed: HTTP 307 (a redirect, which deliveries do not follow) "
        "after 1 attempt."
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/out", "points to a private or reserved network address"),
        ("ftp://example.com/out", "must start with http:// or https://"),
        ("http://user:pw@example.com/out", "must not contain a user name or password"),
    ],
)
def test_the_url_policy_refuses_before_any_connection(
    settings: Settings, result_file: Path, receivers: Receivers, url: str, reason: str
) -> None:
    bucket = receivers.serve(Answer(200))
    error = failure(result_file, url.format(port=bucket.port), derive(settings, allow_private_urls=False))
    assert error.code is ErrorCode.URL_NOT_ALLOWED and error.status == 400
    assert error.message == f"The result upload URL {reason}."
    assert bucket.received == []


def test_a_name_resolving_to_a_private_address_is_refused_at_connect_and_not_retried(
    settings: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(200))
    url = f"http://localhost:{bucket.port}/out"
    error = failure(result_file, url, derive(settings, allow_private_urls=False, delivery_backoff=0.01))
    assert error.code is ErrorCode.URL_NOT_ALLOWED
    assert error.message == (
        "Result upload to localhost failed: the host resolves to a private or reserved network address "
        "after 1 attempt."
    )
    assert bucket.received == []


def test_an_allow_listed_host_and_port_is_delivered_to(
    settings: Settings, result_file: Path, receivers: Receivers
) -> None:
    bucket = receivers.serve(Answer(200))
    allowed = derive(settings, allow_private_urls=False, url_allowlist=f"127.0.0.1:{bucket.port}")
    upload(result_file, bucket.url(), allowed)
    assert len(bucket.received) == 1


def test_a_missing_result_file_is_a_delivery_error(quick: Settings, tmp_path: Path) -> None:
    error = failure(tmp_path / "gone.mp4", "http://127.0.0.1:9/out", quick)
    assert error.message == "Result upload failed: the result file is no longer on disk."
