"""What each swapper costs per face on the CPU (or CUDA): `python -m bench.swappers [--swapper NAME]`.

Cost-faithful stand-ins with random weights, at each model's own crop side and input/output contract:

- inswapper_128: bench/'s stand-in (bench.standins.swapper_model, the published layout);
- simswap_256 / simswap_unofficial_512: SimSwap's published generator (`Generator_Adain_Upsample`): a 7x7
  stem, stride-2 convolutions to 512 channels at 1/8 of the crop (1/16 for the 512 model, one more
  level), nine AdaIN residual blocks fed the 512-d identity, and the mirrored upsampling decoder;
- hyperswap_*, ghost_*, uniface_256: no published layout matches the released files closely enough to
  rebuild, so the stand-in spends the file's parameter count (its published size at 4 bytes per weight)
  in the same kind of network: the SimSwap stem and decoder around as many 512-channel AdaIN residual
  blocks at 1/8 of the crop as that count allows. Their figures are a convolutional cost of that size,
  not the real architecture's; the table says which rows are which. UniFace's source is an image: its
  stand-in encodes the 256 source crop with the same stem to a 512-d vector first.
- the CrossFace converters: CrossFace's published MLP (512 → 1024 → 2048 → 1024 → 512 plus a skip), ≈22 MB.

Each forward is timed alone (the minimum of the rounds: on a shared machine the figure least moved by
other work), and compared with inswapper_128's stand-in measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bench import sections
from bench.layers import Network, Tensor
from bench.standins import _adain, _reflect_pad, default_cache_dir, swapper_model
from faceswap.models.registry import OPTIONAL_SPECS
from faceswap.pipeline.swappers import SWAPPER_NAMES, SWAPPERS
from faceswap.testing.graph import float_info

__all__ = [
    "NAME",
    "converter_model",
    "default_swappers",
    "family_model",
    "main",
    "section",
    "swapper_forwards",
    "write_swappers",
]

NAME = "swappers"
"""The section's name in docs/benchmarks.md."""
EMBEDDING = 512
CHANNELS = 512
BLOCK_PARAMS = 2 * 9 * CHANNELS * CHANNELS + 2 * EMBEDDING * 2 * CHANNELS
SIMSWAP_BLOCKS = 9
PUBLISHED_LAYOUT = ("inswapper_128", "simswap_256", "simswap_unofficial_512")

log = logging.getLogger(__name__)


def _published_bytes(name: str) -> int:
    spec = OPTIONAL_SPECS[name]
    size = spec.size or spec.approx_size
    assert size is not None
    return size


def _stem(b: Network, image: Tensor, levels: int, width: int) -> Tensor:
    x = b.relu(b.conv(_reflect_pad(b, image, 3), max(4, 64 // width), 7, pad=0))
    for channels in (128, 256, 512, 512)[:levels]:
        x = b.relu(b.conv(x, max(4, channels // width), 3, stride=2))
    return x


def _blocks(b: Network, x: Tensor, identity: Tensor, count: int) -> Tensor:
    for _ in range(count):
        y = b.relu(_adain(b, b.conv(_reflect_pad(b, x, 1), x.channels, 3, pad=0), identity))
        y = _adain(b, b.conv(_reflect_pad(b, y, 1), x.channels, 3, pad=0, gain=0.5), identity)
        x = b.add(x, y)
    return x


def _decoder(b: Network, x: Tensor, levels: int, width: int, side: int) -> Tensor:
    for channels in (512, 256, 128, 64)[4 - levels :]:
        x = b.relu(b.conv(b.resize2x(x), max(4, channels // width), 3))
    return b.apply("Tanh", [b.conv(_reflect_pad(b, x, 3), 3, 7, pad=0, gain=0.5).name], (1, 3, side, side))


def family_model(name: str, width: int = 1, materialize: bool = True) -> tuple[onnx.ModelProto, int, int]:
    """The stand-in of swapper `name` (not inswapper_128): model, parameters, MACs per forward."""
    if name.startswith("simswap"):
        return _build(name, width, SIMSWAP_BLOCKS, materialize)
    _, around, _ = _build(name, 1, 0, materialize=False)
    count = max(1, round((_published_bytes(name) / 4 - around) / BLOCK_PARAMS))
    return _build(name, width, count, materialize)


def _build(name: str, width: int, count: int, materialize: bool) -> tuple[onnx.ModelProto, int, int]:
    model = SWAPPERS[name]
    side = model.crop
    levels = 4 if side == 512 else 3
    b = Network(seed=sum(map(ord, name)), materialize=materialize)
    target = Tensor("target", (1, 3, side, side))
    image_source = model.source == "image"
    source = Tensor("source", (1, 3, side, side) if image_source else (1, EMBEDDING))
    identity = source
    if image_source:
        identity = b.gemm(b.flatten(b.global_pool(_stem(b, source, levels, width))), EMBEDDING)
    x = _blocks(b, _stem(b, target, levels, width), identity, count)
    out = _decoder(b, x, levels, width, side)
    b.op("Identity", out.name, output="output")
    inputs = [float_info("target", target.shape), float_info("source", source.shape)]
    built = b.model(f"{name}_standin", inputs, [float_info("output", (1, 3, side, side))])
    return built, b.params, b.macs


def converter_model(name: str, width: int = 1) -> tuple[onnx.ModelProto, int, int]:
    """CrossFace's MLP: 512 → 1024 → 2048 → 1024 → 512, plus 0.2 times a 512 → 512 skip."""
    b = Network(seed=sum(map(ord, name)))
    x = source = Tensor("input", (1, EMBEDDING))
    for features in (1024, 2048, 1024):
        x = b.relu(b.gemm(x, max(4, features // width)))
    x = b.add(b.gemm(x, EMBEDDING), b.gemm(source, EMBEDDING, gain=0.2))
    b.op("Identity", x.name, output="output")
    inputs, outputs = [float_info("input", (1, EMBEDDING))], [float_info("output", (1, EMBEDDING))]
    return b.model(f"{name}_standin", inputs, outputs), b.params, b.macs


def write_swappers(directory: Path, names: Sequence[str], width: int) -> dict[str, tuple[int, int, int]]:
    """Write the named swappers' (and their converters') stand-ins; name → (parameters, MACs, bytes)."""
    stats = {}
    wanted = list(dict.fromkeys([*names, *(SWAPPERS[n].converter for n in names if SWAPPERS[n].converter)]))
    for name in wanted:
        path = directory / f"{name}.onnx"
        if name == "inswapper_128":
            model, params, macs = swapper_model(width)
        elif name.startswith("crossface"):
            model, params, macs = converter_model(name, width)
        else:
            model, params, macs = family_model(name, width)
        onnx.save_model(model, path)
        stats[name] = (params, macs, path.stat().st_size)
    return stats


def time_forwards(directory: Path, names: Sequence[str], providers: str, rounds: int) -> dict[str, float]:
    """Each stand-in's forward alone, the models taken in turn each round: the fastest per model, in ms."""
    import onnxruntime as ort

    from faceswap.models.loader import provider_options, resolve_providers, session_options

    chosen = resolve_providers(providers, ort.get_available_providers())
    best = {}
    for name in names:
        session = ort.InferenceSession(
            str(directory / f"{name}.onnx"),
            sess_options=session_options(0),
            providers=list(chosen),
            provider_options=list(provider_options(chosen, None)),
        )
        feeds = {value.name: np.full(value.shape, 0.5, np.float32) for value in session.get_inputs()}
        session.run(None, feeds)  # warm-up
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            session.run(None, feeds)
            times.append((time.perf_counter() - started) * 1000.0)
        best[name] = min(times)
        log.info("%s: %.0f ms", name, best[name])
        del session
    return best


def _table(best: dict[str, float], stats: dict[str, tuple[int, int, int]], names: Sequence[str]) -> str:
    base, base_macs = best["inswapper_128"], stats["inswapper_128"][1]
    lines = [
        "| swapper | crop | stand-in | parameters | GMACs (x inswapper) | forward, ms | converter, ms "
        "| time x inswapper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        params, macs, _ = stats[name]
        converter = SWAPPERS[name].converter
        extra = best[converter] if converter else 0.0
        layout = "published layout" if name in PUBLISHED_LAYOUT else "file's parameter count"
        converted = f"{extra:,.1f}" if converter else "–"
        lines.append(
            f"| {name} | {SWAPPERS[name].crop} | {layout} | {params / 1e6:.1f} M | "
            f"{macs / 1e9:.1f} ({macs / base_macs:.2f}) | "
            f"{best[name]:,.0f} | {converted} | {(best[name] + extra) / base:.2f} |"
        )
    return "\n".join(lines)


def default_swappers() -> list[str]:
    """inswapper_128 and every swapper but HyperSwap's b and c variants (the a variant's cost)."""
    chosen = [name for name in SWAPPER_NAMES if name[-5:] not in ("b_256", "c_256")]
    return list(dict.fromkeys(["inswapper_128", *chosen]))


def swapper_forwards(
    directory: Path, names: Sequence[str], width: int, providers: str, rounds: int
) -> dict[str, Any]:
    """Write the named swappers' stand-ins under `directory` and time each forward: what `section` renders."""
    directory.mkdir(parents=True, exist_ok=True)
    stats = write_swappers(directory, names, width)
    return {
        "names": list(names),
        "width": width,
        "providers": providers,
        "rounds": rounds,
        "stats": {name: list(values) for name, values in stats.items()},
        "forward_ms": time_forwards(directory, list(stats), providers, rounds),
    }


def section(data: dict[str, Any], how: str | None = None) -> str:
    """The swappers section of docs/benchmarks.md from what `swapper_forwards` measured; `how` says where
    and when (default: measured in the `python -m bench` run)."""
    command = f"python -m bench.swappers --rounds {data['rounds']}" + (
        f" --width {data['width']}" if data["width"] != 1 else ""
    )
    width = (
        ""
        if data["width"] == 1
        else f" Every channel count divided by {data['width']}: these are not the real sizes."
    )
    stats = {name: (int(v[0]), int(v[1]), int(v[2])) for name, v in data["stats"].items()}
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Swappers: what each costs per face",
                "",
                f"{how or f'Measured in the same run (`{command}` alone)'}: providers `{data['providers']}`, "
                f"the fastest of {data['rounds']} forwards after one warm-up. Cost-faithful stand-ins with "
                "random weights (bench/swappers.py): the published layout where the row says so, else a "
                "network spending the file's parameter count (its published size at 4 bytes per weight) in "
                "512-channel AdaIN blocks, a convolutional cost of that size and not the real "
                "architecture's. One forward per face at the model's own crop; pixel boost multiplies it by "
                "(boost/crop)². The GMACs ratio does not depend on the machine's load; the times do." + width,
                "",
                _table(data["forward_ms"], stats, data["names"]),
            ]
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the stand-ins, time each swapper's forward beside inswapper_128's, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.swappers", description=__doc__.splitlines()[0])
    parser.add_argument("--swapper", action="append", choices=SWAPPER_NAMES, help="one swapper (repeatable)")
    parser.add_argument("--width", type=int, default=1, help="channel divisor (1: the real sizes)")
    parser.add_argument("--providers", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="timed forwards per model")
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--doc", type=Path, help="benchmarks document to update (default: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    names = list(dict.fromkeys(["inswapper_128", *args.swapper])) if args.swapper else default_swappers()
    data = swapper_forwards(
        args.cache / f"swappers-w{args.width}", names, args.width, args.providers, args.rounds
    )
    sys.stdout.write(_table(data["forward_ms"], data["stats"], names) + "\n")
    if args.doc is not None:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        how = (
            f"Written by `python -m bench.swappers` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"load average {load} at the end"
        )
        previous = args.doc.read_text() if args.doc.is_file() else ""
        args.doc.write_text(sections.replace(previous, NAME, section(data, how)))
    return 0 if all(math.isfinite(value) for value in data["forward_ms"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
