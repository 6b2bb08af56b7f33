"""A smoke test of a running endpoint: ``python runpod_debug.py smoke --endpoint URL``.

Sends one small real swap and reports the latency and the answer. The endpoint may be this service
(its base URL, ``/runsync`` or ``/swap``, directly or behind RunPod's load balancer) or RunPod's
cloud ``/v2/<id>/runsync``, whose ``IN_QUEUE``/``IN_PROGRESS`` replies are followed by polling
``/status/<id>``. By default both images are synthetic (faceswap.testing.synthetic), sent as base64: a service
on the synthetic pack swaps them, and one on the real models answers NO_FACE, which is the correct
answer for a drawing and counts as a pass. ``--source``/``--target`` take files or URLs for a real check.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import httpx

from faceswap.testing.synthetic import draw_faces

__all__ = [
    "PENDING",
    "SmokeResult",
    "build_input",
    "image_field",
    "render_text",
    "request_url",
    "run_from_args",
    "run_smoke",
    "synthetic_input",
]

PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
RUNPOD_TIMINGS = ("delayTime", "executionTime")
"""RunPod cloud's milliseconds in its queue and in the worker, reported beside the answer."""
KEPT_FIELDS = (
    "success",
    "error_code",
    "message",
    "format",
    "width",
    "height",
    "source_faces",
    "target_faces",
)


@dataclass(frozen=True)
class SmokeResult:
    """What the endpoint answered, judged."""

    ok: bool
    verdict: str
    url: str
    latency_ms: float
    http_status: int | None = None
    job_status: str | None = None
    polls: int = 0
    answer: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The result as plain data."""
        return asdict(self)


def request_url(endpoint: str) -> tuple[str, bool]:
    """The URL to POST to and whether it takes RunPod's envelope: a bare base URL means its /runsync."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the endpoint must be an http(s) URL, not {endpoint!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/swap"):
        return urlunsplit(parts._replace(path=path)), False
    if not path.endswith("/runsync"):
        path += "/runsync"
    return urlunsplit(parts._replace(path=path)), True


def _status_url(runsync_url: str, job_id: str) -> str:
    return runsync_url.removesuffix("/runsync") + f"/status/{job_id}"


def _png_base64(width: int, height: int, faces: int, seed: int) -> str:
    ok, data = cv2.imencode(".png", draw_faces(width, height, faces, seed=seed)[0])
    if not ok:
        raise ValueError("the synthetic image could not be encoded")
    return base64.b64encode(data.tobytes()).decode()


def synthetic_input() -> dict[str, Any]:
    """A small swap request with synthetic images: one face each, 256x256 and 384x256."""
    return {
        "source_image": _png_base64(256, 256, 1, seed=1),
        "target_image": _png_base64(384, 256, 1, seed=2),
        "source_index": 1,
        "target_index": 1,
    }


def image_field(role: str, value: str) -> dict[str, str]:
    """The request field for an image given as an http(s) URL or as a file (sent as base64)."""
    if urlsplit(value).scheme in ("http", "https"):
        return {f"{role}_url": value}
    return {f"{role}_image": base64.b64encode(Path(value).read_bytes()).decode()}


def _summary(output: Mapping[str, Any]) -> dict[str, Any]:
    """The answer without the image: its fields, the timings and the image's size in base64 characters."""
    kept: dict[str, Any] = {name: output[name] for name in KEPT_FIELDS if name in output}
    if "timings_ms" in output:
        kept["timings_ms"] = output["timings_ms"]
    if isinstance(output.get("image_base64"), str):
        kept["image_base64_chars"] = len(output["image_base64"])
    return kept


def _judge(output: Mapping[str, Any], synthetic: frozenset[str]) -> tuple[bool, str]:
    if output.get("success") is True:
        if not output.get("image_base64"):
            return False, "the endpoint said success but returned no image."
        size = f"{output.get('width')}x{output.get('height')} {output.get('format')}"
        return True, f"the endpoint swapped the face and returned a {size} image."
    code, message = output.get("error_code"), output.get("message")
    if code == "NO_FACE" and any(f"{role} image" in str(message) for role in synthetic):
        return True, (
            "the endpoint answered correctly: NO_FACE is expected for the synthetic image on the real "
            "models; pass --source and --target photos for a full check."
        )
    return False, f"the endpoint answered {code or 'an unknown error'}: {message or 'no message'}"


def _http_failure(response: httpx.Response) -> str:
    hints = {
        401: "the endpoint refused the API key: pass --api-key or set RUNPOD_API_KEY",
        404: "there is no such endpoint: check the URL (and the endpoint id)",
        413: "the request was too large for the endpoint",
    }
    try:
        body = response.json()
    except ValueError:
        body = None
    output = body.get("output") if isinstance(body, dict) else None
    if isinstance(output, dict) and output.get("message"):
        return f"HTTP {response.status_code}, {output.get('error_code')}: {output['message']}"
    if isinstance(body, dict) and body.get("message"):
        return f"HTTP {response.status_code}, {body.get('error_code')}: {body['message']}"
    return hints.get(response.status_code, f"the endpoint answered HTTP {response.status_code}")


def _poll(client: httpx.Client, url: str, job_id: str) -> httpx.Response:
    """One status request: GET as RunPod's cloud takes it, POST where the SDK's local server wants it."""
    response = client.get(_status_url(url, job_id))
    if response.status_code == 405:
        response = client.post(_status_url(url, job_id))
    return response


def run_smoke(
    endpoint: str,
    swap_input: Mapping[str, Any],
    *,
    synthetic: frozenset[str] = frozenset(),
    api_key: str | None = None,
    timeout: float = 120.0,
    poll_interval: float = 1.0,
    transport: httpx.BaseTransport | None = None,
) -> SmokeResult:
    """Send `swap_input` to `endpoint` and judge the answer, polling RunPod's queue while it is pending.

    `synthetic` names the roles ("source", "target") whose image is synthetic: NO_FACE for one of them
    is the right answer from the real models.
    """
    url, envelope = request_url(endpoint)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.perf_counter()
    deadline = time.monotonic() + timeout

    def result(ok: bool, verdict: str, **extra: Any) -> SmokeResult:
        latency = round((time.perf_counter() - started) * 1000.0, 1)
        return SmokeResult(ok, verdict, url, latency, **extra)

    with httpx.Client(headers=headers, timeout=timeout, transport=transport) as client:
        try:
            response = client.post(url, json={"input": dict(swap_input)} if envelope else dict(swap_input))
            polls, body = 0, _json(response)
            while envelope and response.is_success and body.get("status") in PENDING and body.get("id"):
                if time.monotonic() + poll_interval > deadline:
                    return result(
                        False,
                        f"no answer within {timeout:g} s (last status {body.get('status')}): the workers may "
                        "be starting or none can start; check the endpoint's workers and logs.",
                        http_status=response.status_code,
                        job_status=body.get("status"),
                        polls=polls,
                    )
                time.sleep(poll_interval)
                response, polls = _poll(client, url, str(body["id"])), polls + 1
                body = _json(response)
        except httpx.TimeoutException:
            return result(False, f"no answer within {timeout:g} s: the request timed out.")
        except httpx.HTTPError as exc:
            host = urlsplit(url).hostname
            return result(False, f"could not reach {host}: {type(exc).__name__}; check the URL and network.")
    status = response.status_code
    job_status = body.get("status") if envelope else None
    output = body.get("output") if envelope else body
    if envelope and job_status not in (None, "COMPLETED") and not isinstance(output, dict):
        error = str(body.get("error") or "no error given")[:300]
        return result(
            False, f"the job ended {job_status}: {error}", http_status=status, job_status=job_status
        )
    if not isinstance(output, dict):
        return result(False, _http_failure(response), http_status=status, job_status=job_status)
    ok, verdict = _judge(output, synthetic)
    answer = _summary(output) | {name: body[name] for name in RUNPOD_TIMINGS if envelope and name in body}
    return result(ok, verdict, http_status=status, job_status=job_status, polls=polls, answer=answer)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def render_text(result: SmokeResult) -> str:
    """The result as readable text."""
    lines = [
        f"endpoint   {result.url}",
        f"latency    {result.latency_ms:,.0f} ms"
        + (f" ({result.polls} status polls)" if result.polls else ""),
    ]
    if result.http_status is not None:
        job = f", job {result.job_status}" if result.job_status else ""
        lines.append(f"answer     HTTP {result.http_status}{job}")
    for name, value in (result.answer or {}).items():
        lines.append(f"  {name:<20} {value}")
    lines.append(f"{'PASS' if result.ok else 'FAIL'}: {result.verdict}")
    return "\n".join(lines) + "\n"


def build_input(
    source: str | None, target: str | None, target_index: int
) -> tuple[dict[str, Any], frozenset[str]]:
    """The swap request, with synthetic images where none is given, and the roles that got one."""
    synthetic = synthetic_input()
    fields: dict[str, Any] = {}
    for role, value in (("source", source), ("target", target)):
        fields |= image_field(role, value) if value else {f"{role}_image": synthetic[f"{role}_image"]}
    roles = frozenset(role for role, value in (("source", source), ("target", target)) if not value)
    return {**fields, "source_index": 1, "target_index": target_index}, roles


def run_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """The ``smoke`` command: 0 when the endpoint answered correctly, 1 otherwise, 2 on bad arguments."""
    try:
        swap_input, synthetic = build_input(args.source, args.target, args.target_index)
        api_key = args.api_key or environ.get("RUNPOD_API_KEY") or None
        result = run_smoke(
            args.endpoint, swap_input, synthetic=synthetic, api_key=api_key, timeout=args.timeout
        )
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n" if args.json else render_text(result))
    return 0 if result.ok else 1
