"""The watermark's robustness: `python -m bench.watermark` prints bit accuracy per attack as a Markdown table.

Images: every scikit-image sample photograph of at least 256 px a side (real photographs and textures)
and synthetic face images of the test pack at several sizes. Each is marked with its own output id, then
attacked: metadata stripped (the pixels re-saved as PNG), JPEG at quality 75, resized to half, 10 % cropped
(5 % off each edge, at an offset that is no multiple of the tile), and JPEG 75 after halving.
"""

from __future__ import annotations

import secrets
import statistics
import sys
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from skimage import data as samples

from faceswap.provenance.watermark import embed_watermark, payload_bits, read_watermark
from faceswap.testing.synthetic import draw_faces

__all__ = ["ATTACKS", "images", "main", "report_lines", "robustness"]

Image = np.ndarray


def _jpeg(image: Image) -> Image:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_COLOR)


def _half(image: Image) -> Image:
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _crop(image: Image) -> Image:
    height, width = image.shape[:2]
    return image[height // 20 + 1 : height - height // 20, width // 20 + 3 : width - width // 20]


def _strip(image: Image) -> Image:
    return cv2.imdecode(cv2.imencode(".png", image)[1], cv2.IMREAD_COLOR)


ATTACKS: dict[str, Callable[[Image], Image]] = {
    "metadata stripped": _strip,
    "JPEG q75": _jpeg,
    "resized to half": _half,
    "10 % crop": _crop,
    "half, then JPEG q75": lambda image: _jpeg(_half(image)),
}


def images() -> dict[str, Image]:
    """The test set: sample photographs and synthetic face images, BGR."""
    found: dict[str, Image] = {}
    for name in sorted(samples.__all__):
        loader = getattr(samples, name)
        if name in ("download_all", "data_dir", "lbp_frontal_face", "file_hash") or not callable(loader):
            continue
        try:
            image = loader()
        except Exception:  # samples that need a download or an optional package
            continue
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            continue
        if image.ndim == 3 and image.shape[2] not in (3, 4):
            continue
        if min(image.shape[:2]) < 256:
            continue
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, 2::-1]
        found[f"skimage {name}"] = np.ascontiguousarray(bgr)
    for width, height, faces in ((640, 480, 1), (1024, 768, 2), (512, 512, 1), (800, 600, 3), (1280, 720, 2)):
        found[f"synthetic {width}x{height}"] = draw_faces(width, height, faces, seed=width)[0]
    return found


def robustness(limit: int | None = None) -> dict[str, Any]:
    """Mark, attack and read every image of the test set (the first `limit`): what `report_lines` shows."""
    rows: dict[str, list[tuple[float, bool]]] = {name: [] for name in ATTACKS}
    psnrs, false_reads = [], 0
    test_set = list(images().values())[:limit]
    for image in test_set:
        output_id = secrets.token_hex(4)
        truth = np.array(payload_bits(output_id))
        marked = embed_watermark(image, output_id)
        psnrs.append(float(cv2.PSNR(image, marked)))
        false_reads += read_watermark(image).output_id is not None
        for name, attack in ATTACKS.items():
            reading = read_watermark(attack(marked))
            accuracy = float((np.array(reading.bits) == truth).mean()) if reading.bits else 0.5
            rows[name].append((accuracy, reading.output_id == output_id))
    return {"images": len(test_set), "psnr_db": psnrs, "false_reads": false_reads, "attacks": rows}


def report_lines(data: dict[str, Any]) -> list[str]:
    """The robustness summary and its Markdown table."""
    psnrs = data["psnr_db"]
    lines = [
        f"{data['images']} images; PSNR marked vs unmarked: min {min(psnrs):.1f} dB, median "
        f"{statistics.median(psnrs):.1f} dB; unmarked images read as marked: {data['false_reads']}",
        "",
        "| attack | mean bit accuracy | worst image | payload read back whole |",
        "|---|---:|---:|---:|",
    ]
    for name, results in data["attacks"].items():
        accuracies = [accuracy for accuracy, _ in results]
        whole = sum(ok for _, ok in results)
        lines.append(
            f"| {name} | {100 * statistics.mean(accuracies):.1f} % | {100 * min(accuracies):.1f} % "
            f"| {whole} of {len(results)} |"
        )
    return lines


def main() -> int:
    """Mark, attack, read; print the table."""
    sys.stdout.write("\n".join(report_lines(robustness())) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
