"""What the content guard and the provenance marks cost per request: `python -m bench.guard`.

Cost-faithful stand-ins of the guard's classifiers, random weights, each at its real input size with
its published architecture's layer layout and a parameter count close to the real file's size:

- nsfw_1 (EraX, YOLO11m at 640): a CSP backbone 640→20 (64…512 channels), the FPN/PAN neck and the
  three-level decoupled head, concatenated to [1, 9, 8400];
- nsfw_2 (Marqo, ViT-tiny/16 at 384): patch embedding, 12 transformer layers of width 192, 576 tokens;
- nsfw_3 (Freepik, EVA-02 base/14 at 448): patch embedding, 12 transformer layers of width 768 with a
  SwiGLU MLP (hidden 2048), 1024 tokens.

Norms and position embeddings are left out (a small share of the work); the last layer's weights are
zero, so the stand-ins never flag and a timed swap goes on (the work is the same).

Timings are medians over the real `ContentGuard` (letterbox, normalise, three forwards, the vote) on a
1024 px frame, the real watermark, encode and C2PA signing of a 1024 px output, and the whole Engine
swap (bench/'s core stand-ins) plain and with all three on, on this machine's CPU (or CUDA with
--providers).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx

from bench import sections
from bench.layers import Network, Tensor
from bench.standins import Pack, default_cache_dir, write_pack
from bench.watermark import report_lines, robustness
from faceswap.testing.graph import float_info

__all__ = ["NAME", "guard_models", "main", "provenance_runs", "section"]

NAME = "provenance"
"""The section's name in docs/benchmarks.md."""
STANDS_FOR = {
    "nsfw_1": "EraX YOLO11m at 640 (20.1 M, 34 GMACs; file 80.4 MB)",
    "nsfw_2": "Marqo ViT-tiny/16 at 384 (file 22.5 MB)",
    "nsfw_3": "Freepik EVA-02 base/14 at 448 (87 M, 107 GMACs; file 358 MB)",
}
AGREE = "guard, the first two agree (nsfw_2, nsfw_1)"
SPLIT = "guard, a split vote (all three forwards, summed)"
PLAIN = "swap, plain"
MARKED = "swap, guard + watermark + C2PA"


def _concat(b: Network, parts: Sequence[Tensor]) -> Tensor:
    n, _, h, w = parts[0].shape
    return b.apply("Concat", [part.name for part in parts], (n, sum(p.channels for p in parts), h, w), axis=1)


def _conv(b: Network, x: Tensor, out: int, kernel: int = 3, stride: int = 1) -> Tensor:
    return b.relu(b.conv(x, out, kernel, stride))


def _csp(b: Network, x: Tensor, out: int, blocks: int) -> Tensor:
    """A C3k2-like block: split, `blocks` residual pairs of 3×3 convs on half the channels, fuse."""
    half = out // 2
    left = _conv(b, x, half, 1)
    parts = [left, _conv(b, x, half, 1)]
    y = left
    for _ in range(blocks):
        y = b.add(y, _conv(b, _conv(b, y, half), half))
        parts.append(y)
    return _conv(b, _concat(b, parts), out, 1)


def _up(b: Network, x: Tensor) -> Tensor:
    return b.resize2x(x, mode="nearest")


def yolo_model(seed: int = 21, materialize: bool = True, width: int = 1) -> tuple[onnx.ModelProto, int, int]:
    """The nsfw_1 stand-in: a YOLO11m-like detector, [1,3,640,640] → [1,9,8400]; width divides its channel
    counts."""

    def ch(channels: int) -> int:
        return max(8, channels // width)

    b = Network(seed, materialize)
    image = Tensor("input", (1, 3, 640, 640))
    x = _conv(b, _conv(b, image, ch(64), 3, 2), ch(128), 3, 2)
    x = _csp(b, x, ch(128), 1)
    p3 = _csp(b, _conv(b, x, ch(256), 3, 2), ch(256), 1)
    p4 = _csp(b, _conv(b, p3, ch(512), 3, 2), ch(512), 2)
    p5 = _csp(b, _conv(b, p4, ch(512), 3, 2), ch(512), 2)
    n4 = _csp(b, _concat(b, [_up(b, p5), p4]), ch(512), 1)
    n3 = _csp(b, _concat(b, [_up(b, n4), p3]), ch(256), 1)
    m4 = _csp(b, _concat(b, [_conv(b, n3, ch(256), 3, 2), n4]), ch(512), 1)
    m5 = _csp(b, _concat(b, [_conv(b, m4, ch(512), 3, 2), p5]), ch(512), 1)
    outputs = []
    for level in (n3, m4, m5):
        box = b.conv(_conv(b, _conv(b, level, ch(64)), ch(64)), 4, 1)
        cls = b.conv(_conv(b, _conv(b, level, ch(128)), ch(128)), 5, 1, gain=0.0)  # scores 0: the vote passes
        joined = _concat(b, [box, cls])
        n, c, h, w = joined.shape
        outputs.append(b.apply("Reshape", [joined.name, b.const([n, c, h * w])], (n, c, h * w)))
    b.op("Concat", *(part.name for part in outputs), axis=2, output="output")
    model = b.model(
        "bench_nsfw_1", [float_info("input", [1, 3, 640, 640])], [float_info("output", [1, 9, 8400])]
    )
    return model, b.params, b.macs


def vit_model(
    name: str,
    side: int,
    patch: int,
    dim: int,
    depth: int,
    hidden: int,
    gated: bool,
    classes: int,
    seed: int,
    materialize: bool = True,
) -> tuple[onnx.ModelProto, int, int]:
    """A ViT-like classifier: patch embedding, `depth` attention + MLP layers, mean pool, linear head."""
    b = Network(seed, materialize)
    image = Tensor("input", (1, 3, side, side))
    x = b.conv(image, dim, patch, stride=patch, pad=0)
    _, c, h, w = x.shape
    tokens = b.apply(
        "Reshape",
        [b.apply("Transpose", [x.name], (1, h, w, c), perm=[0, 2, 3, 1]).name, b.const([h * w, c])],
        (h * w, c),
    )
    count = h * w
    for _ in range(depth):
        qkv = b.gemm(tokens, 3 * dim)
        q, k, v = (
            b.apply(
                "Slice", [qkv.name, b.const([i * dim]), b.const([(i + 1) * dim]), b.const([1])], (count, dim)
            )
            for i in range(3)
        )
        keys = b.apply("Transpose", [k.name], (dim, count), perm=[1, 0])
        scores = b.apply("MatMul", [q.name, keys.name], (count, count))
        b.macs += 2 * count * count * dim
        attended = b.apply(
            "MatMul", [b.apply("Softmax", [scores.name], scores.shape, axis=1).name, v.name], (count, dim)
        )
        tokens = b.add(tokens, b.gemm(attended, dim))
        inner = b.gemm(tokens, hidden)
        if gated:
            inner = b.apply(
                "Mul",
                [b.apply("Sigmoid", [b.gemm(tokens, hidden).name], inner.shape).name, inner.name],
                inner.shape,
            )
        tokens = b.add(tokens, b.gemm(b.relu(inner), dim))
    pooled = b.apply("ReduceMean", [tokens.name], (1, dim), axes=[0], keepdims=1)
    b.op("Identity", b.gemm(pooled, classes, gain=0.0).name, output="output")  # equal logits: the vote passes
    inputs = [float_info("input", [1, 3, side, side])]
    return b.model(f"bench_{name}", inputs, [float_info("output", [1, classes])]), b.params, b.macs


def guard_models(directory: Path, width: int = 1) -> dict[str, tuple[int, int, int]]:
    """Write the three stand-ins under directory/guard/, channel counts divided by `width`; name →
    (parameters, MACs, file bytes)."""
    builders: dict[str, Callable[[], tuple[onnx.ModelProto, int, int]]] = {
        "nsfw_1": lambda: yolo_model(width=width),
        "nsfw_2": lambda: vit_model("nsfw_2", 384, 16, 192 // width, 12, 768 // width, False, 2, 22),
        "nsfw_3": lambda: vit_model("nsfw_3", 448, 14, 768 // width, 12, 2048 // width, True, 4, 23),
    }
    stats = {}
    for name, build in builders.items():
        path = directory / "guard" / f"{name}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        model, params, macs = build()
        onnx.save_model(model, path)
        stats[name] = (params, macs, path.stat().st_size)
    return stats


def _median_ms(work: Callable[[], object], rounds: int) -> float:
    work()  # warm-up: sessions and caches
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def measure(directory: Path, providers: tuple[str, ...], rounds: int) -> dict[str, float]:
    """Median milliseconds: the guard's vote, each classifier, the watermark, the encode, the signing."""
    from faceswap.pipeline.encode import encode_image
    from faceswap.provenance.credentials import Credentials
    from faceswap.provenance.guard import ContentGuard, _input
    from faceswap.provenance.testcert import make_test_certificate
    from faceswap.provenance.watermark import embed_watermark, read_watermark
    from faceswap.testing.synthetic import draw_faces

    guard = ContentGuard.load("on", directory, providers)
    assert guard is not None
    frame = draw_faces(1024, 768, 1, seed=1)[0]
    results = {
        "guard, the first two agree (nsfw_2, nsfw_1)": _median_ms(lambda: guard.flagged(frame), rounds)
    }
    forwards = 0.0
    for model, session in guard._models:
        feed = {"input": _input(frame, model)}
        results[f"  {model.name} forward"] = _median_ms(lambda s=session, f=feed: s.run(None, f), rounds)
        forwards += results[f"  {model.name} forward"]
    results["guard, a split vote (all three forwards, summed)"] = forwards
    certificate = make_test_certificate(directory / "cert")
    credentials = Credentials(certificate.chain.read_bytes(), certificate.key.read_bytes())
    marked = embed_watermark(frame, "1a2b3c4d")
    results["watermark embed"] = _median_ms(lambda: embed_watermark(frame, "1a2b3c4d"), rounds)
    results["watermark read"] = _median_ms(lambda: read_watermark(marked), rounds)
    for fmt in ("jpeg", "png"):
        data = encode_image(marked, fmt)  # type: ignore[arg-type]
        results[f"encode {fmt} (for scale)"] = _median_ms(lambda f=fmt: encode_image(marked, f), rounds)
        results[f"C2PA sign {fmt}"] = _median_ms(
            lambda d=data, f=fmt: credentials.sign(d, f"image/{f}", swapper="inswapper_128"), rounds
        )
    return results


def swap_with_and_without(directory: Path, pack: Pack, providers: str, rounds: int) -> dict[str, float]:
    """Median ms of the Engine's swap (`pack`'s core stand-ins, 1024 px target, one face): plain, and with
    the guard on, the watermark and C2PA signing (JPEG output); rounds interleaved so load drifts hit both."""
    from faceswap.config import Settings
    from faceswap.models.loader import load_models
    from faceswap.pipeline.encode import encode_image
    from faceswap.pipeline.engine import Engine
    from faceswap.provenance.testcert import make_test_certificate
    from faceswap.testing.synthetic import draw_faces

    for name in ("buffalo_l", "inswapper_128.onnx"):
        (directory / name).symlink_to(pack.directory / name)
    certificate = make_test_certificate(directory / "swap-cert")
    plain = Settings(model_dir=directory, providers=providers, content_guard="off", watermark=False)  # type: ignore[arg-type]
    marked = Settings(
        model_dir=directory,
        providers=providers,  # type: ignore[arg-type]
        content_guard="on",
        watermark=True,
        c2pa_cert=str(certificate.chain),
        c2pa_key=str(certificate.key),
    )
    models = load_models(plain)
    engines = {"swap, plain": Engine(models, plain), "swap, guard + watermark + C2PA": Engine(models, marked)}
    target = encode_image(draw_faces(1024, 768, 1, seed=3)[0], "png")
    source = encode_image(draw_faces(640, 480, 1, seed=9)[0], "png")
    times: dict[str, list[float]] = {name: [] for name in engines}
    for engine in engines.values():
        engine.swap(source, target, output_format="jpeg")  # warm-up
    for _ in range(rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.swap(source, target, output_format="jpeg")
            times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


def provenance_runs(pack: Pack, providers: str, rounds: int, watermark_images: int | None) -> dict[str, Any]:
    """The guard's stand-ins written to a scratch folder and timed (`measure`), the swap with and without
    them (`swap_with_and_without`, on `pack`), and the watermark's robustness on `watermark_images` images
    (all when None): what `section` renders."""
    chosen = (
        ("CUDAExecutionProvider", "CPUExecutionProvider")
        if providers == "cuda"
        else ("CPUExecutionProvider",)
    )
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-guard-") as folder:
        stats = guard_models(Path(folder), pack.width)
        steps = measure(Path(folder), chosen, rounds)
        steps |= swap_with_and_without(Path(folder), pack, providers, rounds)
    swapper = next(stat for stat in pack.stats if stat.name == "inswapper_128")
    return {
        "providers": providers,
        "rounds": rounds,
        "width": pack.width,
        "swapper_macs": swapper.macs,
        "stats": {name: list(values) for name, values in stats.items()},
        "steps_ms": steps,
        "watermark": robustness(watermark_images),
    }


def section(data: dict[str, Any]) -> str:
    """The provenance section of docs/benchmarks.md from what `provenance_runs` measured."""
    stats, steps, rounds = data["stats"], data["steps_ms"], data["rounds"]
    gmacs = {name: values[1] / 1e9 for name, values in stats.items()}
    swap_gmacs = data["swapper_macs"] / 1e9
    agree_gmacs = gmacs["nsfw_1"] + gmacs["nsfw_2"]
    added = steps[MARKED] - steps[PLAIN]
    standins = [
        f"| {name} | {values[0] / 1e6:.1f} M | {gmacs[name]:.1f} | {values[2] / 1e6:.1f} "
        f"| {STANDS_FOR[name]} |"
        for name, values in stats.items()
    ]
    rows = [
        f"| swap, plain (inswapper_128, blend, encode: the same images each round, so detection and the "
        f"source's embedding come from the caches) | {steps[PLAIN]:,.0f} | {swap_gmacs:.1f} |",
        f"| **swap with the guard, the watermark and C2PA signing** | **{steps[MARKED]:,.0f}** | "
        f"{swap_gmacs + agree_gmacs:.1f} |",
        "| guard, a target the first two agree on (nsfw_2, then nsfw_1): the usual case | "
        f"{steps[AGREE]:,.0f} | {agree_gmacs:.1f} |",
        f"| guard, a split vote (nsfw_3 decides): the three forwards summed | {steps[SPLIT]:,.0f} | "
        f"{sum(gmacs.values()):.1f} |",
        f"| watermark embed / read (1024×768) | {steps['watermark embed']:,.0f} / "
        f"{steps['watermark read']:,.0f} | – |",
        "| C2PA signing, JPEG / PNG (in memory, no thumbnails, ES256, no timestamp authority) | "
        f"{steps['C2PA sign jpeg']:.1f} / {steps['C2PA sign png']:.1f} | – |",
        f"| encode JPEG / PNG, for scale | {steps['encode jpeg (for scale)']:.1f} / "
        f"{steps['encode png (for scale)']:.1f} | – |",
    ]
    width = (
        "" if data["width"] == 1 else f" (these and the classifiers at 1/{data['width']} of their channels)"
    )
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Provenance and the content guard",
                "",
                f"Measured in the same run (`python -m bench.guard --rounds {rounds}` and "
                f"`python -m bench.watermark` alone), providers `{data['providers']}`. The guard's "
                "classifiers are cost-faithful stand-ins (bench/guard.py: the published layouts and input "
                "sizes, random weights, parameter counts and work within 20 % of the real files, checked by "
                "`tests/test_bench_guard.py`); the watermark, the encoders and the C2PA signing are the real "
                "code on a 1024×768 output; the swaps are the real Engine on bench/'s core stand-ins"
                f"{width}, a 1024 px target with one face, JPEG out, the two engines taking turns.",
                "",
                "| stand-in | parameters | GMACs per forward | file MB | stands in for |",
                "|---|---:|---:|---:|---|",
                *standins,
                "",
                f"| per request ({data['providers'].upper()}, median of {rounds}) | ms | GMACs |",
                "|---|---:|---:|",
                *rows,
                "",
                "What an honest request pays: the guard's two cheap classifiers add "
                f"{agree_gmacs:.1f} GMACs to a cached swap's {swap_gmacs:.1f} "
                f"({agree_gmacs / swap_gmacs:.0%} of its work); here "
                f"{added:+,.0f} ms ({added / steps[PLAIN]:+.0%}), the watermark and the signature a few "
                "milliseconds of it. The guard never uses the caches: each request's target is checked. The "
                "third classifier runs only when the first two disagree. A clip pays the guard once a second "
                "of footage (one frame in `fps`), the watermark on every frame, and one signature over the "
                "file.",
                "",
                "The watermark's robustness (`python -m bench.watermark`: scikit-image's sample photographs "
                "and synthetic face images, each marked with its own output id, then attacked):",
                "",
                *report_lines(data["watermark"]),
            ]
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the stand-ins to a temporary folder, time them, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.guard", description=__doc__)
    parser.add_argument("--providers", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    providers = (
        ("CUDAExecutionProvider", "CPUExecutionProvider")
        if args.providers == "cuda"
        else ("CPUExecutionProvider",)
    )
    with tempfile.TemporaryDirectory() as folder:
        stats = guard_models(Path(folder))
        results = measure(Path(folder), providers, args.rounds)
        results |= swap_with_and_without(
            Path(folder), write_pack(default_cache_dir()), args.providers, args.rounds
        )
    lines = ["| stand-in | parameters | GMACs | file MB |", "|---|---:|---:|---:|"]
    for name, (params, macs, size) in stats.items():
        lines.append(f"| {name} | {params / 1e6:.1f} M | {macs / 1e9:.1f} | {size / 1e6:.1f} |")
    lines += ["", f"| step ({args.providers}, median of {args.rounds}) | ms |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in results.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
