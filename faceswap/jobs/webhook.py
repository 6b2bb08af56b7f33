"""A job's webhook: its status POSTed as JSON to the caller's ``webhook_url``, signed by Standard Webhooks.

Headers: ``webhook-id`` (the same for every try of one event: derived from the body, so a consumer can drop
repeats), ``webhook-timestamp`` (Unix seconds of this try) and, when ``FACESWAP_WEBHOOK_SECRET`` is set,
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` keyed with the secret
(``whsec_`` + base64), by the ``standardwebhooks`` library. Retries and the URL policy are
``outbound.deliver``'s, within ``FACESWAP_WEBHOOK_ATTEMPTS`` and ``FACESWAP_WEBHOOK_TIMEOUT``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from faceswap.config import Settings
from faceswap.jobs.outbound import Bounds, deliver

__all__ = ["send_webhook", "sign_webhook", "webhook_body", "webhook_id"]


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The payload as compact JSON, the exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def webhook_id(body: bytes) -> str:
    """The event's id: the same for the same body, so a retried or re-sent event keeps its id."""
    digest = hashlib.sha256(body).digest()
    return "msg_" + base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one try: id, timestamp and the v1 (HMAC-SHA256) signature."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=moment, data=body.decode("utf-8"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


async def send_webhook(url: str, payload: dict[str, Any], settings: Settings) -> None:
    """POST `payload` to `url` until a 2xx answer, signed when a secret is set; else DeliveryError."""
    body = webhook_body(payload)
    msg_id = webhook_id(body)
    secret = settings.webhook_secret

    def request(client: httpx.AsyncClient, target: httpx.URL) -> httpx.Request:
        now = int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(now)}
        if secret is not None:
            headers |= sign_webhook(secret.get_secret_value(), msg_id, now, body)
        return client.build_request("POST", target, content=body, headers=headers)

    bounds = Bounds(settings.webhook_attempts, settings.webhook_timeout, settings.delivery_backoff)
    await deliver(url, "Webhook", request, bounds, settings)
