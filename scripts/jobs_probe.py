"""The job reliability table, replayed against a running service: what the client saw, what the server did.

    .venv/bin/python scripts/jobs_probe.py [--root DIR]

Starts ``python main_fixed.py`` from DIR (default: this checkout) on 127.0.0.1 with the synthetic pack
(swaps prove plumbing, not speed: every figure here is the synthetic pack's on this machine's CPU), its jobs
in a temporary FACESWAP_DATA_DIR, and replays each row of docs/reliability.md: a deploy's SIGTERM, POST
/jobs during the drain, kill -9, an upload answered 500 once, 16 finished jobs, 8 cancelled and 6 timed-out
1080p clip jobs, a disk that fills up mid-clip. Prints a Markdown table. Run it with ``--root`` on an older
checkout to get the "before" column (rows it cannot replay there say so).
tests/test_job_durability.py, tests/test_job_manager.py and tests/test_job_leaks.py replay the same rows.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces, write_models

Row = tuple[str, str, str]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> tuple[int, int]:
    """(resident MiB, threads) of `pid`, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["Threads"])


@dataclass
class Setup:
    """What every row shares: the checkout probed, the synthetic pack, the inputs."""

    root: Path
    folder: Path
    source: str
    clip: str
    hd_clip: str
    photo: str

    def env(self, data: Path, **extra: str) -> dict[str, str]:
        return {
            "FACESWAP_MODEL_DIR": str(self.folder / "models"),
            "FACESWAP_PROVIDERS": "cpu",
            "FACESWAP_ALLOW_PRIVATE_URLS": "true",
            "FACESWAP_DATA_DIR": str(data),
            "FACESWAP_LOG_LEVEL": "WARNING",
            **extra,
        }


class Service:
    """``python main_fixed.py`` from the probed checkout, on a free port."""

    def __init__(self, setup: Setup, env: dict[str, str]) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "main_fixed.py"],
            cwd=setup.root,
            env={**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the service did not become ready")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def submit(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/jobs", json=body, timeout=60)

    def status(self, job_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/jobs/{job_id}", timeout=30)
        return (
            {"status": f"{answer.status_code} {answer.json().get('error_code')}"}
            if answer.status_code != 200
            else answer.json()
        )

    def finished(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(job_id)
            if body["status"] not in ("queued", "running"):
                return body
            time.sleep(0.2)
        return {"status": "still running"}

    def wait_mid_clip(self, job_id: str, frames: int = 3) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = self.status(job_id)
            if body.get("progress", {}).get("frames_done", 0) >= frames:
                return
            time.sleep(0.1)
        raise RuntimeError("the job did not start")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `sig`; (exit code, seconds to exit)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=120)
        self.log.close()
        return code, time.monotonic() - started


@contextlib.contextmanager
def service(setup: Setup, env: dict[str, str]) -> Iterator[Service]:
    running = Service(setup, env)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop(signal.SIGKILL)


def outcome(body: dict[str, Any]) -> str:
    text = str(body["status"])
    if body.get("error"):
        text += f" {body['error']['error_code']}"
    if body.get("delivery_failed"):
        text += " (delivery_failed)"
    if body.get("attempts", 1) > 1:
        text += f", start {body['attempts']}"
    return text


PROBE_STARTED = time.time()


def leftovers(data: Path) -> int:
    """Work folders on disk: the data folder's, and temporary ones (older code) made since the probe began."""
    work = data / "work"
    mine = len(list(work.iterdir())) if work.is_dir() else 0
    temporary = Path(tempfile.gettempdir()).glob("faceswap-job-*")
    return mine + sum(1 for entry in temporary if entry.stat().st_mtime >= PROBE_STARTED)


def clip_job(setup: Setup) -> dict[str, Any]:
    return {"source_image": setup.source, "target_video": setup.clip}


def row_sigterm(setup: Setup) -> list[Row]:
    """A deploy: SIGTERM with a clip job running and one waiting; POST /jobs during the drain."""
    data = setup.folder / "sigterm"
    env = setup.env(data, FACESWAP_FAILPOINTS="slow_swap:0.15", FACESWAP_DRAIN_TIMEOUT="30")
    with service(setup, env) as first:
        ids = [first.submit(clip_job(setup)).json()["id"] for _ in range(2)]
        first.wait_mid_clip(ids[0])
        started = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            during = first.submit(clip_job(setup))
            body = during.json()
            during_text = f"{during.status_code} {body.get('error_code') or body.get('status')}"
        except httpx.HTTPError as exc:
            during_text = f"no answer ({type(exc).__name__}): the server had already stopped listening"
        code = first.process.wait(timeout=120)
        seconds = time.monotonic() - started
    with service(setup, env) as second:
        seen = [outcome(second.finished(job_id)) for job_id in ids]
    return [
        (
            "SIGTERM, 30 s drain, a clip job running and one waiting",
            f"after the restart: {'; '.join(seen)}",
            f"exited {code} after {seconds:.1f} s",
        ),
        ("POST /jobs during the drain", during_text, "-"),
    ]


def row_kill(setup: Setup) -> list[Row]:
    """kill -9 with a job running and one waiting."""
    data = setup.folder / "kill"
    env = setup.env(data, FACESWAP_FAILPOINTS="slow_swap:0.15")
    with service(setup, env) as first:
        ids = [first.submit(clip_job(setup)).json()["id"] for _ in range(2)]
        first.wait_mid_clip(ids[0])
        first.stop(signal.SIGKILL)
    left = leftovers(data)
    with service(setup, env) as second:
        seen = [outcome(second.finished(job_id)) for job_id in ids]
        after = leftovers(data)
    return [
        (
            "kill -9 with a job running and one waiting",
            f"after the restart: {'; '.join(seen)}",
            f"work folders: {left} left by the killed process, {after} after the restart",
        )
    ]


class FlakyBucket:
    """A PUT target that answers 500 to the first upload and 200 after."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 500 if not bucket.answers else 200
                bucket.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bucket/out.mp4"


def row_upload(setup: Setup) -> list[Row]:
    """The result's PUT to output_url answered 500 once."""
    bucket = FlakyBucket()
    with service(setup, setup.env(setup.folder / "upload")) as running:
        job_id = running.submit({**clip_job(setup), "output_url": bucket.url}).json()["id"]
        done = running.finished(job_id)
        kept = httpx.get(f"{running.url}/jobs/{job_id}/result", timeout=30).status_code
    bucket.server.shutdown()
    message = (done.get("delivery_error") or (done.get("error") or {}).get("message") or "").rstrip(".")
    server = f"PUT answers {bucket.answers}; GET /jobs/{{id}}/result: {kept}"
    return [
        (
            "the result's PUT to output_url answered 500 once",
            f"{outcome(done)}: {message or 'uploaded'}",
            server,
        )
    ]


def row_finished(setup: Setup) -> list[Row]:
    """16 finished jobs never deleted, then one more."""
    with service(setup, setup.env(setup.folder / "finished", FACESWAP_MAX_JOBS="16")) as running:
        for _ in range(16):
            job_id = running.submit({"source_image": setup.source, "target_image": setup.photo}).json()["id"]
            running.finished(job_id)
        answer = running.submit({"source_image": setup.source, "target_image": setup.photo})
        retry = answer.headers.get("retry-after")
    text = f"{answer.status_code} {answer.json().get('error_code') or answer.json().get('status')}"
    return [
        (
            "16 finished jobs never deleted, then POST /jobs",
            text + (f", Retry-After {retry}" if retry else ""),
            "the bound counts queued and running jobs"
            if answer.status_code == 202
            else "finished jobs fill the bound",
        )
    ]


def row_leak(setup: Setup) -> list[Row]:
    """8 cancelled and 6 timed-out 1080p clip jobs: the server's memory and threads."""
    env = setup.env(setup.folder / "leak", FACESWAP_FAILPOINTS="slow_swap:0.2", FACESWAP_JOB_TIMEOUT="2")
    body = {"source_image": setup.source, "target_video": setup.hd_clip}
    with service(setup, env) as running:
        warm = running.submit(body).json()["id"]
        running.finished(warm)
        before = proc_status(running.process.pid)
        for _ in range(8):
            job_id = running.submit(body).json()["id"]
            running.wait_mid_clip(job_id, frames=1)
            httpx.delete(f"{running.url}/jobs/{job_id}", timeout=30)
        timed_out = [outcome(running.finished(running.submit(body).json()["id"])) for _ in range(6)]
        time.sleep(3)
        after = proc_status(running.process.pid)
    return [
        (
            "8 cancelled, 6 timed-out 1080p clip jobs",
            f"timed-out jobs: {sorted(set(timed_out))}",
            f"resident {before[0]} -> {after[0]} MiB, threads {before[1]} -> {after[1]}",
        )
    ]


def row_disk(setup: Setup) -> list[Row]:
    """The work folder fills up mid-clip (failpoint disk_full: the next frame write gets ENOSPC)."""
    data = setup.folder / "disk"
    try:
        with service(setup, setup.env(data, FACESWAP_FAILPOINTS="disk_full:1")) as running:
            done = running.finished(running.submit(clip_job(setup)).json()["id"])
            left = leftovers(data)
    except RuntimeError:
        return [("the work folder fills up mid-clip", "n/a: this checkout has no disk_full failpoint", "-")]
    message = (done.get("error") or {}).get("message", "")
    return [
        ("the work folder fills up mid-clip", f"{outcome(done)}: {message}", f"work folders left: {left}")
    ]


ROWS: list[Callable[[Setup], list[Row]]] = [
    row_sigterm,
    row_kill,
    row_upload,
    row_finished,
    row_leak,
    row_disk,
]


def prepare(root: Path, folder: Path) -> Setup:
    write_models(folder / "models")
    write_clip(folder / "clip.mp4", "mp4", frames=40, size=(256, 256), faces=1)
    write_clip(folder / "hd.mp4", "mp4", frames=40, size=(1920, 1080), faces=1)
    photo = cv2.imencode(".png", draw_faces(640, 480, 1, seed=3)[0])[1].tobytes()
    source = cv2.imencode(".png", draw_faces(640, 480, 1, seed=9)[0])[1].tobytes()
    encoded = {
        name: base64.b64encode((folder / name).read_bytes()).decode() for name in ("clip.mp4", "hd.mp4")
    }
    return Setup(
        root,
        folder,
        base64.b64encode(source).decode(),
        encoded["clip.mp4"],
        encoded["hd.mp4"],
        base64.b64encode(photo).decode(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose service is probed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobs-probe-") as folder:
        setup = prepare(args.root.resolve(), Path(folder))
        print("| what happened | what the client saw | what the server did |")  # noqa: T201
        print("|---|---|---|")  # noqa: T201
        for replay in ROWS:
            try:
                rows = replay(setup)
            except Exception as exc:  # a row the probed checkout cannot replay
                rows = [
                    (replay.__doc__ or replay.__name__, f"probe failed: {type(exc).__name__}: {exc}", "-")
                ]
            for row in rows:
                print("| " + " | ".join(row) + " |", flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
