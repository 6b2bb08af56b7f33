"""Fuzz the JPEG decode path: mutated JPEGs of several encodings through `decode_image`, in this process.

Every input must give pixels or a SwapError; a crash of the process (the decoders are C) is the failure
this looks for, so run it as its own process: ``python scripts/fuzz_jpeg.py --seed 1 --count 50000``.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faceswap.errors import SwapError
from faceswap.pipeline.decode import decode_image

ENCODINGS = (
    {},
    {"progressive": True},
    {"subsampling": 0},
    {"subsampling": 2, "quality": 50},
    {"optimize": True},
    {"restart_marker_blocks": 2},
)


def bases() -> list[bytes]:
    """Small noisy JPEGs: colour in each encoding, and one grey."""
    pixels = np.random.default_rng(0).normal(128, 40, (96, 128, 3)).clip(0, 255).astype(np.uint8)
    images = [(Image.fromarray(pixels), options) for options in ENCODINGS]
    images.append((Image.fromarray(pixels[:, :, 0]), {}))
    encoded = []
    for image, options in images:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", **options)
        encoded.append(buffer.getvalue())
    return encoded


def mutate(data: bytes, chance: random.Random) -> bytes:
    """1 to 8 edits (a byte changed, bytes inserted or cut), the JPEG signature kept."""
    mutable = bytearray(data)
    for _ in range(chance.randint(1, 8)):
        kind, position = chance.random(), chance.randrange(len(mutable))
        if kind < 0.6:
            mutable[position] = chance.randrange(256)
        elif kind < 0.8:
            mutable[position:position] = chance.randbytes(chance.randint(1, 16))
        else:
            del mutable[position : position + chance.randint(1, 64)]
    mutable[:3] = b"\xff\xd8\xff"
    return bytes(mutable)


def main() -> int:
    """Command-line entry: prints the outcomes; exits 1 if anything but pixels or a SwapError came out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    chance, originals, outcomes = random.Random(args.seed), bases(), {}
    started = time.perf_counter()
    for _ in range(args.count):
        data = mutate(chance.choice(originals), chance)
        longest = chance.choice([None, 64, 32, 16])
        try:
            decoded = decode_image(data, max_pixels=10_000_000, max_dimension=longest)
        except SwapError as error:
            outcome = error.code.value
        else:
            if decoded.pixels.dtype != np.uint8 or decoded.pixels.ndim != 3:
                sys.stdout.write(f"bad pixels: {decoded.pixels.dtype} {decoded.pixels.shape}\n")
                return 1
            outcome = "pixels"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    sys.stdout.write(f"{args.count} inputs in {time.perf_counter() - started:.1f} s: {outcomes}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
