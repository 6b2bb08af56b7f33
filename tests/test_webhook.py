"""send_webhook and sign_webhook: Standard Webhooks signatures, checked against the spec's own vector and an
independent verifier, and POSTs over real HTTP on 127.0.0.1, retried, bounded and guarded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook

from faceswap.config import Settings
from faceswap.errors import DeliveryError, ErrorCode
from faceswap.jobs.webhook import send_webhook, sign_webhook, webhook_body, webhook_id
from tests.conftest import derive
from tests.receivers import Answer, Received, Receivers

# The test vector of the Standard Webhooks reference libraries (libraries/python/tests/test_webhooks.py,
# test_sign_function): this secret, id, timestamp and body sign to this signature.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PAYLOAD: dict[str, Any] = {
    "id": "3f2c9a",
    "status": "succeeded",
    "result": {"kind": "video", "uploaded": True, "size_bytes": 1234},
    "note": "café ✓",
}


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's scheme written out with the standard library alone: v1, base64 HMAC-SHA256 of id.ts.body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verifies(secret: str, received: Received) -> bool:
    """Whether the request's signature is the one the secret gives its id, timestamp and body."""
    headers = received.headers
    expected = independent_signature(
        secret, headers["webhook-id"], headers["webhook-timestamp"], received.body
    )
    return any(hmac.compare_digest(expected, sent) for sent in headers["webhook-signature"].split(" "))


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return derive(settings, delivery_backoff=0.01, fetch_timeout=2.0, webhook_secret=SECRET)


def send(url: str, settings: Settings, payload: dict[str, Any] = PAYLOAD) -> None:
    asyncio.run(send_webhook(url, payload, settings))


@pytest.mark.parametrize("secret", [SPEC_SECRET, SPEC_SECRET.removeprefix("whsec_")])
def test_sign_webhook_gives_the_spec_s_test_vector(secret: str) -> None:
    assert sign_webhook(secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert independent_signature(secret, SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY) == SPEC_SIGNATURE


def test_a_signature_changes_with_the_body_the_id_the_time_and_the_secret() -> None:
    base = sign_webhook(SECRET, "msg_a", 1700000000, b"{}")["webhook-signature"]
    others = [
        sign_webhook(SECRET, "msg_a", 1700000000, b"{ }"),
        sign_webhook(SECRET, "msg_b", 1700000000, b"{}"),
        sign_webhook(SECRET, "msg_a", 1700000001, b"{}"),
        sign_webhook(SPEC_SECRET, "msg_a", 1700000000, b"{}"),
    ]
    assert base not in {headers["webhook-signature"] for headers in others}


def test_a_webhook_is_posted_as_compact_json_signed_so_that_an_independent_verifier_accepts_it(
    quick: Settings, receivers: Receivers
) -> None:
    hook = receivers.serve(Answer(204))
    before = int(time.time())
    send(hook.url("/hooks/faceswap?token=t"), quick)
    [received] = hook.received
    assert (received.method, received.path) == ("POST", "/hooks/faceswap?token=t")
    assert received.headers["content-type"] == "application/json"
    assert received.body == json.dumps(PAYLOAD, separators=(",", ":")).encode()
    assert json.loads(received.body) == PAYLOAD
    assert received.headers["webhook-id"] == webhook_id(received.body)
    assert before <= int(received.headers["webhook-timestamp"]) <= int(time.time())
    assert verifies(SECRET, received)
    assert not verifies("whsec_" + base64.b64encode(bytes(32)).decode(), received)
    assert Webhook(SECRET).verify(received.body, received.headers) == PAYLOAD  # a consumer's library


def test_without_a_secret_the_webhook_is_sent_unsigned_with_its_id_and_time(
    settings: Settings, receivers: Receivers
) -> None:
    hook = receivers.serve(Answer(200))
    send(hook.url(), derive(settings, webhook_secret=None))
    [received] = hook.received
    assert "webhook-signature" not in received.headers
    assert received.headers["webhook-id"].startswith("msg_")
    assert received.headers["webhook-timestamp"].isdigit()


def test_a_failed_webhook_is_retried_with_the_same_id_and_a_fresh_signature_each_time(
    quick: Settings, receivers: Receivers
) -> None:
    hook = receivers.serve(
        Answer(500), Answer(drop=True), Answer(429, headers={"Retry-After": "0"}), Answer(200)
    )
    send(hook.url(), quick)
    assert len(hook.received) == 4
    assert len({received.headers["webhook-id"] for received in hook.received}) == 1
    assert all(verifies(SECRET, received) for received in hook.received)


def test_a_webhook_that_keeps_failing_raises_after_its_attempts(
    quick: Settings, receivers: Receivers
) -> None:
    hook = receivers.serve(Answer(503))
    with pytest.raises(DeliveryError) as caught:
        send(hook.url(), derive(quick, webhook_attempts=3))
    assert len(hook.received) == 3
    assert caught.value.code is ErrorCode.DELIVERY_FAILED
    assert caught.value.message == "Webhook to 127.0.0.1 failed: HTTP 503 after 3 attempts."


def test_a_webhook_is_bounded_by_its_total_time(quick: Settings, receivers: Receivers) -> None:
    hook = receivers.serve(Answer(hang=True))
    with pytest.raises(DeliveryError) as caught:
        send(hook.url(), derive(quick, fetch_timeout=30.0, webhook_timeout=1.0))
    assert caught.value.message.startswith(
        "Webhook to 127.0.0.1 failed: it did not finish within the 1 s allowed"
    )


@pytest.mark.parametrize("answer", [Answer(410), Answer(400), Answer(308, headers={"Location": "/moved"})])
def test_gone_bad_request_and_redirects_are_final(
    quick: Settings, receivers: Receivers, answer: Answer
) -> None:
    hook = receivers.serve(answer, Answer(200))
    with pytest.raises(DeliveryError) as caught:
        send(hook.url(), quick)
    assert len(hook.received) == 1
    assert caught.value.message.startswith(f"Webhook to 127.0.0.1 failed: HTTP {answer.status}")


def test_a_huge_reply_to_a_webhook_is_not_read(quick: Settings, receivers: Receivers) -> None:
    hook = receivers.serve(Answer(500, endless=True), Answer(200, zeros=2 * 1024**3))
    send(hook.url(), quick)
    assert len(hook.received) == 2
    assert all(received.sent < 256 * 1024 * 1024 for received in hook.received)


def test_a_webhook_to_a_private_address_is_refused_before_any_connection(
    quick: Settings, receivers: Receivers
) -> None:
    hook = receivers.serve(Answer(200))
    public_only = derive(quick, allow_private_urls=False)
    for url in (hook.url(), f"http://localhost:{hook.port}/"):
        with pytest.raises(DeliveryError) as caught:
            send(url, public_only)
        assert caught.value.code is ErrorCode.URL_NOT_ALLOWED
    assert hook.received == []


def test_the_id_is_the_same_for_the_same_event_and_differs_between_events() -> None:
    body = webhook_body(PAYLOAD)
    assert webhook_id(body) == webhook_id(webhook_body(dict(PAYLOAD)))
    assert webhook_id(body) != webhook_id(webhook_body({**PAYLOAD, "status": "failed"}))
    assert "." not in webhook_id(body)  # the id is a field of the signed string, which dots delimit


@pytest.mark.parametrize(
    "secret", ["hunter2", "whsec_c2hvcnQ=", "not base64 at all!", "whsec_" + "A" * 31 + "$"]
)
def test_an_unusable_secret_is_refused_at_start_without_being_echoed(secret: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(webhook_secret=secret)
    assert "webhook secret must" in str(caught.value)
    assert secret not in str(caught.value)


def test_a_blank_secret_means_unsigned() -> None:
    assert Settings(webhook_secret="  ").webhook_secret is None
    assert Settings(webhook_secret=f" {SPEC_SECRET} ").webhook_secret.get_secret_value() == SPEC_SECRET  # type: ignore[union-attr]
