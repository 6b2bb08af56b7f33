"""Small synthetic clips for tests and benches: faces that move, one that leaves and comes back, audio.

``python -m faceswap.testing.clips OUT.mp4 --faces 2 --frames 64 --size 256x256 --fps 25`` writes one; the
container follows OUT's suffix (.mp4, .mov, .webm, .gif).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from faceswap.testing.synthetic import BACKGROUND_BGR, Box, layout_faces, place_faces

__all__ = ["clip_boxes", "main", "write_clip"]

_VIDEO: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "mp4": ("mp4", "libx264", "yuv420p", {"crf": "10", "preset": "ultrafast"}),
    "mov": ("mov", "libx264", "yuv420p", {"crf": "10", "preset": "ultrafast"}),
    "webm": (
        "webm",
        "libvpx-vp9",
        "yuv420p",
        {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    ),
    "gif": ("gif", "gif", "rgb8", {}),
    "webp": ("webp", "libwebp_anim", "yuv420p", {"quality": "95"}),
}
_AUDIO: dict[str, tuple[str, int]] = {
    "mp4": ("aac", 44100),
    "mov": ("aac", 44100),
    "webm": ("libopus", 48000),
}


def clip_boxes(width: int, height: int, faces: int, frame: int, frames: int) -> list[Box | None]:
    """Each face's box in `frame`: faces drift sideways; the first leaves for the middle fifth of the clip."""
    shift = int(np.round(6 * np.sin(2 * np.pi * frame / max(frames, 1))))
    boxes: list[Box | None] = [
        (x1 + shift, y1, x2 + shift, y2) for x1, y1, x2, y2 in layout_faces(width, height, faces)
    ]
    if faces > 1 and 2 * frames // 5 <= frame < 3 * frames // 5:
        boxes[0] = None
    return boxes


def _frame(width: int, height: int, boxes: list[Box | None], seed: int) -> np.ndarray:
    canvas = np.full((height, width, 3), BACKGROUND_BGR, dtype=np.uint8)
    present = [(box, seed * 1000 + number) for number, box in enumerate(boxes) if box is not None]
    return place_faces(canvas, [box for box, _ in present], [identity for _, identity in present])


def _write_audio(
    output: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    rate = stream.codec_context.sample_rate
    size = 960 if rate == 48000 else 1024
    total = int(seconds * rate)
    for start in range(0, total, size):
        samples = 0.2 * np.sin(2 * np.pi * 440 * (np.arange(start, start + size) / rate))
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def write_clip(
    path: Path,
    kind: str = "mp4",
    *,
    frames: int = 64,
    size: tuple[int, int] = (256, 256),
    fps: int = 25,
    faces: int = 2,
    audio: bool = True,
    seed: int = 0,
) -> None:
    """A clip of `frames` frames of `faces` moving synthetic faces (identities seed * 1000 + i)."""
    container_format, codec, pixel_format, options = _VIDEO[kind]
    width, height = size
    with av.open(str(path), "w", format=container_format) as output:
        stream = output.add_stream(codec, rate=fps, options=dict(options))
        if pixel_format == "yuv420p" and (width % 2 or height % 2):
            pixel_format = "yuv444p"
        stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
        sound = None
        if audio and kind in _AUDIO:
            name, rate = _AUDIO[kind]
            sound = output.add_stream(name, rate=rate, layout="mono")
        for number in range(frames):
            pixels = _frame(width, height, clip_boxes(width, height, faces, number, frames), seed)
            frame = av.VideoFrame.from_ndarray(pixels, format="bgr24")
            frame.pts, frame.time_base = number, Fraction(1, fps)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
        if sound is not None:
            _write_audio(output, sound, frames / fps)


def main(argv: Sequence[str] | None = None) -> int:
    """Write one clip; the container from the output's suffix."""
    parser = argparse.ArgumentParser(prog="python -m faceswap.testing.clips", description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--faces", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", default="256x256", help="WxH")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--no-audio", action="store_true")
    args = parser.parse_args(argv)
    kind = args.output.suffix.lower().lstrip(".")
    if kind not in _VIDEO:
        parser.error(f"the output must end in one of: {', '.join('.' + name for name in _VIDEO)}")
    width, height = (int(part) for part in args.size.lower().split("x"))
    write_clip(
        args.output,
        kind,
        frames=args.frames,
        size=(width, height),
        fps=args.fps,
        faces=args.faces,
        audio=not args.no_audio,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
