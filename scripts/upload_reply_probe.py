"""What a hostile bucket costs: a result upload answered with a huge body, and the memory it took.

    .venv/bin/python scripts/upload_reply_probe.py [--reply-mib 2048] [--status 500]

Serves a receiver on 127.0.0.1 that answers every PUT with `--status` and `--reply-mib` MiB of zeros,
uploads a 1 MB file to it with ``upload_result`` (one attempt), and prints how far this process's peak
resident memory grew and how much of the reply the receiver managed to write before the client left.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceswap.config import Settings
from faceswap.errors import DeliveryError
from faceswap.jobs.delivery import upload_result
from tests.receivers import Answer, Receiver


def peak_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply-mib", type=int, default=2048)
    parser.add_argument("--status", type=int, default=500)
    options = parser.parse_args()
    settings = Settings(allow_private_urls=True, upload_attempts=1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.mp4"
        path.write_bytes(bytes(1_000_000))
        receiver = Receiver(Answer(options.status, zeros=options.reply_mib * 1024 * 1024))
        before = peak_mib()
        try:
            asyncio.run(upload_result(path, receiver.url(), "video/mp4", settings))
            outcome = "delivered"
        except DeliveryError as exc:
            outcome = exc.message
        finally:
            receiver.close()
    sent = receiver.received[0].sent / 1024 / 1024
    sys.stdout.write(
        f"reply: HTTP {options.status} with {options.reply_mib} MiB; outcome: {outcome}\n"
        f"peak resident memory grew {peak_mib() - before:.0f} MiB; the receiver wrote {sent:.1f} MiB\n"
    )


if __name__ == "__main__":
    main()
