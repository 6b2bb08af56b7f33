"""Soak test: thousands of mixed requests on loopback against a real server, resident memory sampled.

    .venv/bin/python scripts/soak.py [--requests 2000] [--concurrency 8]

Starts `uvicorn main_fixed:app` on the synthetic pack and an image host on 127.0.0.1, sends good
and bad requests (each bad one with the error code it must get), samples the server's RSS, and
prints a summary: any answer other than the expected code is a failure (exit code 1), and so is
memory growing by 5 % or more between request 200 and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceswap.testing.synthetic import draw_faces, write_models
from tests.conftest import encode_png
from tests.servers import ImageHost, service_process, wait_ready

WARMUP = 200
GROWTH_LIMIT = 0.05


def _cases(host: ImageHost) -> list[tuple[str, str, dict[str, object], str]]:
    """(name, path, body, expected code: "ok" or an error code)."""
    one = encode_png(draw_faces(640, 480, 1, seed=1)[0])
    group = encode_png(draw_faces(1600, 900, 4, seed=2)[0])
    empty = encode_png(draw_faces(640, 480, 0)[0])
    one_url = host.serve("/one.png", one)
    group_url = host.serve("/group.png", group)
    text_url = host.serve("/text.png", b"<html>no</html>")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return [
        (
            "swap base64",
            "/swap",
            {"source_image": b64(one), "target_image": b64(group), "target_index": 3},
            "ok",
        ),
        (
            "runsync urls",
            "/runsync",
            {"input": {"source_url": one_url, "target_url": group_url, "source_index": 1, "target_index": 2}},
            "ok",
        ),
        (
            "swap all jpeg",
            "/swap",
            {"source_url": one_url, "target_url": group_url, "target_index": "all", "output_format": "jpeg"},
            "ok",
        ),
        ("faces", "/faces", {"image_url": group_url}, "ok"),
        ("no face", "/swap", {"source_image": b64(one), "target_image": b64(empty)}, "NO_FACE"),
        (
            "index out of range",
            "/swap",
            {"source_image": b64(one), "target_image": b64(group), "target_index": 9},
            "FACE_INDEX_OUT_OF_RANGE",
        ),
        ("bad base64", "/swap", {"source_image": "%%%", "target_image": b64(one)}, "INVALID_INPUT"),
        ("not an image", "/swap", {"source_url": text_url, "target_url": one_url}, "INVALID_IMAGE"),
        ("missing", "/swap", {"source_url": host.url("/gone.png"), "target_url": one_url}, "FETCH_FAILED"),
        ("file url", "/swap", {"source_url": "file:///etc/passwd", "target_url": one_url}, "URL_NOT_ALLOWED"),
    ]


def _outcome(response: httpx.Response) -> str:
    body = response.json()
    output = body.get("output", body)
    return "ok" if output.get("success") else str(output.get("error_code"))


async def _run(base_url: str, cases: list, total: int, concurrency: int, pid: int) -> dict[str, object]:
    process = psutil.Process(pid)
    samples: list[tuple[int, float]] = []
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    done = 0
    latencies: list[float] = []
    rng = random.Random(7)
    plan = [rng.choice(cases) for _ in range(total)]
    queue: asyncio.Queue[tuple] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while not queue.empty():
            name, path, body, expected = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(f"{base_url}{path}", json=body)
            latencies.append(time.perf_counter() - started)
            outcome = _outcome(response)
            outcomes[f"{name}: {outcome}"] += 1
            if outcome != expected:
                unexpected.append(f"{name}: expected {expected}, got {outcome} ({response.status_code})")
            done += 1

    async def sampler() -> None:
        while True:
            samples.append((done, process.memory_info().rss / 2**20))
            await asyncio.sleep(0.25)

    started = time.perf_counter()
    watcher = asyncio.create_task(sampler())
    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    watcher.cancel()
    samples.append((done, process.memory_info().rss / 2**20))
    elapsed = time.perf_counter() - started
    warmup = min(WARMUP, total // 2)
    after_warmup = next(rss for count, rss in samples if count >= warmup)
    final = samples[-1][1]
    latencies.sort()
    return {
        "requests": done,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(done / elapsed, 1),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "rss_start_mib": round(samples[0][1], 1),
        "warmup_requests": warmup,
        "rss_after_warmup_mib": round(after_warmup, 1),
        "rss_peak_mib": round(max(rss for _, rss in samples), 1),
        "rss_end_mib": round(final, 1),
        "growth_after_warmup": round(final / after_warmup - 1, 4),
        "unexpected": unexpected[:20],
        "unexpected_count": len(unexpected),
        "outcomes": dict(sorted(outcomes.items())),
    }


def main() -> int:
    """Run the soak and print its summary as JSON; exit 1 on any unexpected answer or memory growth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    host = ImageHost()
    with tempfile.TemporaryDirectory() as models:
        write_models(Path(models))
        env = {
            "FACESWAP_MODEL_DIR": models,
            "FACESWAP_PROVIDERS": "cpu",
            "FACESWAP_ALLOW_PRIVATE_URLS": "true",
            "FACESWAP_MAX_QUEUE": str(args.concurrency),
            "FACESWAP_LOG_LEVEL": "WARNING",
        }
        with service_process(env) as (base_url, process):
            wait_ready(base_url)
            summary = asyncio.run(_run(base_url, _cases(host), args.requests, args.concurrency, process.pid))
    host.close()
    summary["machine"] = f"{os.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB"
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    failed = summary["unexpected_count"] or summary["growth_after_warmup"] >= GROWTH_LIMIT
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
