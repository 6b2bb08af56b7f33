"""What each quality option adds per face on the CPU (or CUDA): `python -m bench.quality [--width N]`.

Cost-faithful stand-ins of the optional models, with the published architectures' layer layout, their
resolutions and (at width 1) parameter counts close to the files' sizes, random weights:

- GFPGAN 1.4 (GFPGANv1Clean, channel multiplier 2): a ResBlock U-Net encoder 512→4, the 4x4x512 →
  16x512 latent layer, an up path back to 512 with SFT scale/shift convs per level, and a StyleGAN2
  decoder of two 3x3 convs and a toRGB per resolution;
- GPEN-BFR-512: the same encoder/StyleGAN2 layout at GPEN's channel table (channel multiplier 2, no SFT);
- CodeFormer: a VQGAN encoder 512→16 (channel multipliers 1,1,2,2,4,8 on 64), nine transformer layers
  (dim 512, FFN 1024) over the 256 tokens, and the mirrored decoder;
- XSeg: DeepFaceLab's XSeg U-Net at 256 (NHWC in, NHWC out);
- BiSeNet ResNet-34: a ResNet-34 trunk at 512, the context path's refinement, the fusion module and
  three 19-class heads upsampled to 512.

Timings are medians of the real Engine's swap on a 1024 px target with one face, each option alone,
minus the plain swap's median: what the option adds per face. The core models are bench/'s stand-ins.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper

from bench import sections
from bench.layers import Network, Tensor
from bench.standins import Pack, default_cache_dir, write_pack
from faceswap.testing.graph import float_info

__all__ = [
    "NAME",
    "OPTION_CASES",
    "enhancer_model",
    "forwards_section",
    "main",
    "occluder_model",
    "parser_model",
    "quality_forwards",
    "write_optional",
]

NAME = "quality"
"""The section's name in docs/benchmarks.md."""

log = logging.getLogger(__name__)

SIDE = 512
GFPGAN_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}
GPEN_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}
XSEG_CHANNELS = (32, 64, 128, 256, 384, 384)
PUBLISHED_BYTES = {
    "gfpgan_1.4": 340_299_087,
    "codeformer": 376_951_650,
    "gpen_bfr_512": 284_340_240,
    "xseg_1": 70_324_286,
    "bisenet_resnet_34": 93_632_546,
}


def _ch(channels: int, width: int) -> int:
    return max(4, channels // width)


def _resblock(b: Network, x: Tensor, out: int, stride: int = 1) -> Tensor:
    y = b.leaky(b.conv(x, x.channels, 3))
    y = b.leaky(b.conv(y, out, 3, stride=stride))
    skip = b.conv(x, out, 1, stride=stride, bias=False) if stride != 1 or out != x.channels else x
    return b.add(y, skip)


def _up(b: Network, x: Tensor, out: int) -> Tensor:
    return b.leaky(b.conv(b.resize2x(x), out, 3))


def _style_decoder(b: Network, table: dict[int, int], width: int, conditions: dict[int, Tensor]) -> Tensor:
    """StyleGAN2's synthesis path from a 4x4 constant: two 3x3 convs and a toRGB per resolution."""
    x = Tensor(
        b.parameter(np.ones((1, _ch(table[4], width), 4, 4), np.float32)), (1, _ch(table[4], width), 4, 4)
    )
    rgb: Tensor | None = None
    size = 4
    while size <= SIDE:
        if size > 4:
            x = b.resize2x(x)
        x = b.leaky(b.conv(x, _ch(table[size], width), 3))
        x = b.leaky(b.conv(x, _ch(table[size], width), 3))
        if size in conditions:  # SFT: half the channels scaled and shifted by the condition
            x = b.add(x, conditions[size])
        step = b.conv(x, 3, 1)
        rgb = step if rgb is None else b.add(b.resize2x(rgb), step)
        size *= 2
    assert rgb is not None
    return rgb


def _encoder(
    b: Network, image: Tensor, table: dict[int, int], width: int
) -> tuple[Tensor, dict[int, Tensor]]:
    x = b.leaky(b.conv(image, _ch(table[SIDE], width), 1))
    skips = {SIDE: x}
    size = SIDE
    while size > 4:
        size //= 2
        x = _resblock(b, x, _ch(table[size], width), stride=2)
        skips[size] = x
    return b.leaky(b.conv(x, x.channels, 3)), skips


def _gan_enhancer(b: Network, image: Tensor, table: dict[int, int], width: int, sft: bool) -> Tensor:
    bottom, skips = _encoder(b, image, table, width)
    if sft:  # GFPGAN: the encoder's 4x4 features to the style latent
        b.gemm(b.flatten(bottom), _ch(512, width))
    else:  # GPEN: StyleGAN2's eight-layer mapping network
        style = b.gemm(b.flatten(b.global_pool(bottom)), _ch(512, width))
        for _ in range(7):
            style = b.leaky(b.gemm(style, _ch(512, width)))
    conditions: dict[int, Tensor] = {}
    x, size = bottom, 4
    while size < SIDE:
        size *= 2
        x = b.add(_up(b, x, _ch(table[size], width)), skips[size])
        if sft:
            half = x.channels // 2
            scale = b.conv(b.leaky(b.conv(x, x.channels, 3)), half, 3)
            shift = b.conv(b.leaky(b.conv(x, x.channels, 3)), half, 3)
            scaled = b.add(
                b.apply("Mul", [b.slice_channels(x, 0, half).name, scale.name], scale.shape), shift
            )
            conditions[size] = b.apply(
                "Concat", [scaled.name, b.slice_channels(x, half, x.channels).name], x.shape, axis=1
            )
    return _style_decoder(b, table, width, conditions)


def _codeformer(b: Network, image: Tensor, width: int) -> Tensor:
    multipliers = (1, 2, 2, 4, 4, 8)
    x = b.conv(image, _ch(64, width), 3)
    for level, mult in enumerate(multipliers):
        for _ in range(2):
            x = _resblock(b, x, _ch(64 * mult, width))
        if level < len(multipliers) - 1:
            x = b.conv(x, x.channels, 3, stride=2)
    dim = _ch(512, width)
    x = b.conv(x, dim, 1)
    n, c, h, w = x.shape
    tokens = b.apply(
        "Reshape",
        [b.apply("Transpose", [x.name], (n, h, w, c), perm=[0, 2, 3, 1]).name, b.const([h * w, c])],
        (h * w, c),
    )
    for _ in range(9):
        qkv = b.gemm(tokens, 3 * dim)
        q, k, v = (
            b.apply(
                "Slice", [qkv.name, b.const([i * dim]), b.const([(i + 1) * dim]), b.const([1])], (h * w, dim)
            )
            for i in range(3)
        )
        scores = b.apply(
            "MatMul", [q.name, b.apply("Transpose", [k.name], (dim, h * w), perm=[1, 0]).name], (h * w, h * w)
        )
        b.macs += 2 * (h * w) ** 2 * dim
        attended = b.apply(
            "MatMul", [b.apply("Softmax", [scores.name], scores.shape, axis=1).name, v.name], (h * w, dim)
        )
        tokens = b.add(tokens, b.gemm(attended, dim))
        tokens = b.add(tokens, b.gemm(b.relu(b.gemm(tokens, 2 * dim)), dim))
    b.gemm(tokens, 1024)  # logits over the 1024-entry codebook
    b.parameter(np.zeros((1024, dim), np.float32))  # the codebook
    x = b.apply(
        "Reshape",
        [b.apply("Transpose", [tokens.name], (c, h * w), perm=[1, 0]).name, b.const([1, c, h, w])],
        (1, c, h, w),
    )
    for level, mult in enumerate(reversed(multipliers)):
        for _ in range(6 if level == 0 else 2):  # the 16x16 level's attention blocks as extra blocks
            x = _resblock(b, x, _ch(64 * mult, width))
        if 0 < level < len(multipliers) - 1:  # the controllable feature transformation from the encoder
            fused = b.leaky(b.conv(x, 2 * x.channels, 3))
            x = b.add(x, b.conv(fused, x.channels, 3))
        if level < len(multipliers) - 1:
            x = _up(b, x, x.channels)
    return b.conv(x, 3, 3)


def enhancer_model(
    name: str, width: int = 1, seed: int = 11, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """A restoration stand-in with the real file's I/O: `input` 1x3x512x512 → `output` 1x3x512x512."""
    b = Network(seed, materialize)
    image = Tensor("input", (1, 3, SIDE, SIDE))
    inputs = [float_info("input", image.shape)]
    if name == "codeformer":
        out = _codeformer(b, image, width)
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        weight = b.apply("Cast", ["weight"], (1,), to=TensorProto.FLOAT)
        out = b.apply("Mul", [out.name, weight.name], out.shape)
    else:
        table = GFPGAN_CHANNELS if name == "gfpgan_1.4" else GPEN_CHANNELS
        out = _gan_enhancer(b, image, table, width, sft=name == "gfpgan_1.4")
    b.op("Tanh", out.name, output="output")
    return b.model(f"{name}_standin", inputs, [float_info("output", (1, 3, SIDE, SIDE))]), b.params, b.macs


def occluder_model(
    width: int = 1, seed: int = 12, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """XSeg at 256: a U-Net over NHWC input, 1-channel NHWC output."""
    b = Network(seed, materialize)
    nchw = b.apply("Transpose", ["input"], (1, 3, 256, 256), perm=[0, 3, 1, 2])
    x, skips = nchw, []
    for channels in XSEG_CHANNELS:
        x = b.leaky(b.conv(b.leaky(b.conv(x, _ch(channels, width), 3)), _ch(channels, width), 3))
        skips.append(x)
        x = b.pool(x, "MaxPool", 2, 2)
    bottleneck = x.shape
    x = b.leaky(b.gemm(b.flatten(x), _ch(512, width)))
    x = b.leaky(b.gemm(x, math.prod(bottleneck[1:])))
    x = b.apply("Reshape", [x.name, b.const(list(bottleneck))], bottleneck)
    for skip in reversed(skips):
        x = b.add(_up(b, x, skip.channels), skip)
        x = b.leaky(b.conv(x, x.channels, 3))
    out = b.apply("Sigmoid", [b.conv(x, 1, 3).name], (1, 1, 256, 256))
    b.op("Transpose", out.name, output="output", perm=[0, 2, 3, 1])
    inputs, outputs = [float_info("input", [1, 256, 256, 3])], [float_info("output", [1, 256, 256, 1])]
    return b.model("xseg_1_standin", inputs, outputs), b.params, b.macs


def parser_model(
    width: int = 1, seed: int = 13, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """BiSeNet with a ResNet-34 trunk at 512; three 19-class heads, the first upsampled as `output`."""
    b = Network(seed, materialize)
    x = b.relu(
        b.batchnorm(b.conv(Tensor("input", (1, 3, SIDE, SIDE)), _ch(64, width), 7, stride=2, bias=False))
    )
    x = b.pool(x, "MaxPool", 3, 2, 1)
    features = []
    for planes, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True):
        for i in range(blocks):
            stride = 2 if i == 0 and planes != 64 else 1
            y = b.relu(b.batchnorm(b.conv(x, _ch(planes, width), 3, stride=stride, bias=False)))
            y = b.batchnorm(b.conv(y, _ch(planes, width), 3, bias=False))
            skip = (
                x
                if stride == 1 and x.channels == y.channels
                else b.batchnorm(b.conv(x, y.channels, 1, stride=stride, bias=False))
            )
            x = b.relu(b.add(y, skip))
        features.append(x)
    c16 = _up(b, b.relu(b.batchnorm(b.conv(features[3], _ch(128, width), 3))), _ch(128, width))
    c8 = _up(b, b.add(b.relu(b.batchnorm(b.conv(features[2], _ch(128, width), 3))), c16), _ch(128, width))
    fused = b.relu(
        b.batchnorm(b.conv(b.add(b.conv(features[1], _ch(128, width), 1), c8), _ch(256, width), 1))
    )
    heads = [
        b.conv(b.relu(b.batchnorm(b.conv(t, _ch(256 if t is fused else 64, width), 3))), 19, 1)
        for t in (fused, c8, c16)
    ]
    out = heads[0]
    while out.shape[2] < SIDE:
        out = b.resize2x(out)
    b.op("Identity", out.name, output="output")
    inputs, outputs = (
        [float_info("input", ["N", 3, SIDE, SIDE])],
        [float_info("output", ["N", 19, SIDE, SIDE])],
    )
    return b.model("bisenet_resnet_34_standin", inputs, outputs), b.params, b.macs


def write_optional(directory: Path, width: int) -> dict[str, tuple[int, int, int]]:
    """Write the five stand-ins under directory; name → (parameters, MACs per forward, file bytes)."""
    builders = {
        "gfpgan_1.4": ("enhancers/gfpgan_1.4.onnx", lambda: enhancer_model("gfpgan_1.4", width)),
        "codeformer": ("enhancers/codeformer.onnx", lambda: enhancer_model("codeformer", width)),
        "gpen_bfr_512": ("enhancers/gpen_bfr_512.onnx", lambda: enhancer_model("gpen_bfr_512", width)),
        "xseg_1": ("masks/xseg_1.onnx", lambda: occluder_model(width)),
        "bisenet_resnet_34": ("masks/bisenet_resnet_34.onnx", lambda: parser_model(width)),
    }
    stats = {}
    for name, (relative, build) in builders.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        model, params, macs = build()
        onnx.save_model(model, path)
        stats[name] = (params, macs, path.stat().st_size)
    return stats


OPTION_CASES: dict[str, dict[str, object]] = {
    "plain swap (inswapper_128, 1 forward)": {},
    "pixel_boost 256 (4 forwards)": {"pixel_boost": 256},
    "pixel_boost 512 (16 forwards)": {"pixel_boost": 512},
    "color_match": {"color_match": True},
    'face_mask ["box"]': {"face_mask": {"types": ["box"]}},
    'face_mask ["box", "occlusion"] (XSeg)': {"face_mask": {"types": ["box", "occlusion"]}},
    'face_mask ["box", "region"] (BiSeNet)': {"face_mask": {"types": ["box", "region"]}},
    "face_enhancer gfpgan_1.4": {"face_enhancer": {"model": "gfpgan_1.4"}},
    "face_enhancer codeformer": {"face_enhancer": {"model": "codeformer"}},
    "face_enhancer gpen_bfr_512": {"face_enhancer": {"model": "gpen_bfr_512"}},
}


def _time_cases(directory: Path, providers: str, rounds: int) -> dict[str, float]:
    from faceswap.config import Settings
    from faceswap.models.loader import load_models
    from faceswap.pipeline.engine import Engine
    from faceswap.schemas import SwapOptions
    from faceswap.testing.synthetic import draw_faces

    settings = Settings(model_dir=directory, providers=providers)  # type: ignore[arg-type]
    engine = Engine(load_models(settings), settings)
    encode = lambda image: cv2.imencode(".png", image)[1].tobytes()  # noqa: E731
    target, source = encode(draw_faces(1024, 768, 1, seed=3)[0]), encode(draw_faces(640, 480, 1, seed=9)[0])
    medians = {}
    for label, fields in OPTION_CASES.items():
        quality = SwapOptions.model_validate(fields).quality()
        engine.swap(source, target, quality=quality)  # warm-up: loads the optional model
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            engine.swap(source, target, quality=quality)
            times.append((time.perf_counter() - started) * 1000.0)
        medians[label] = statistics.median(times)
        log.info("%s: %.0f ms", label, medians[label])
    return medians


FORWARD_FILES = {
    "inswapper_128": "inswapper_128.onnx",
    "gfpgan_1.4": "enhancers/gfpgan_1.4.onnx",
    "codeformer": "enhancers/codeformer.onnx",
    "gpen_bfr_512": "enhancers/gpen_bfr_512.onnx",
    "xseg_1": "masks/xseg_1.onnx",
    "bisenet_resnet_34": "masks/bisenet_resnet_34.onnx",
}


def time_forwards(directory: Path, providers: str, rounds: int) -> dict[str, float]:
    """Each model's forward alone, in rounds that take the models in turn: the fastest per model, in ms.

    The minimum, not the median: on a machine shared with other work it is the figure least moved by it.
    """
    import onnxruntime as ort

    from faceswap.models.loader import provider_options, resolve_providers, session_options

    chosen = resolve_providers(providers, ort.get_available_providers())
    sessions = {
        name: ort.InferenceSession(
            str(directory / relative),
            sess_options=session_options(0),
            providers=list(chosen),
            provider_options=list(provider_options(chosen, None)),
        )
        for name, relative in FORWARD_FILES.items()
    }
    feeds = {
        name: {
            value.name: np.full(
                [1 if not isinstance(dim, int) else dim for dim in value.shape],
                0.5,
                np.float64 if value.type == "tensor(double)" else np.float32,
            )
            for value in session.get_inputs()
        }
        for name, session in sessions.items()
    }
    best = dict.fromkeys(sessions, math.inf)
    for _ in range(rounds + 1):  # the first round warms each session up
        for name, session in sessions.items():
            started = time.perf_counter()
            session.run(None, feeds[name])
            best[name] = min(best[name], (time.perf_counter() - started) * 1000.0)
    return best


def _table(medians: dict[str, float], stats: dict[str, tuple[int, int, int]], width: int) -> str:
    base = next(iter(medians.values()))
    lines = ["| option | request, ms | added per face, ms |", "|---|---|---|"]
    for label, value in medians.items():
        added = "–" if value == base else f"{value - base:+,.0f}"
        lines.append(f"| {label} | {value:,.0f} | {added} |")
    lines += [
        "",
        "| stand-in | parameters | GMACs per forward | file | published file |",
        "|---|---|---|---|---|",
    ]
    for name, (params, macs, size) in stats.items():
        lines.append(
            f"| {name} | {params / 1e6:.1f} M | {macs / 1e9:.1f} | {size / 2**20:.0f} MiB | "
            f"{PUBLISHED_BYTES[name] / 2**20:.0f} MiB |"
        )
    lines.append(f"\nWidth 1/{width}." if width != 1 else "")
    return "\n".join(lines)


OPTION_ROWS: tuple[tuple[str, str, str | None, int], ...] = (
    # option, what it adds per face, the model it runs (None: no model), how many forwards of it
    ("plain swap", "1 inswapper_128 forward (128 crop)", "inswapper_128", 1),
    ("`pixel_boost` 256", "+3 inswapper_128 forwards (4 tiles)", "inswapper_128", 3),
    ("`pixel_boost` 384", "+8 inswapper_128 forwards (9 tiles)", "inswapper_128", 8),
    ("`pixel_boost` 512", "+15 inswapper_128 forwards (16 tiles)", "inswapper_128", 15),
    ("`color_match`", "no model: L*a*b* statistics of two crops", None, 0),
    ('`face_mask` `["box"]`', "no model: a mask and a Gaussian blur at crop size", None, 0),
    ('`face_mask` `+ "occlusion"`', "+1 XSeg forward at 256 (xseg_1)", "xseg_1", 1),
    ('`face_mask` `+ "region"`', "+1 BiSeNet forward at 512 (bisenet_resnet_34)", "bisenet_resnet_34", 1),
    ("`face_enhancer` gfpgan_1.4", "+1 GFPGAN forward at 512", "gfpgan_1.4", 1),
    ("`face_enhancer` codeformer", "+1 CodeFormer forward at 512", "codeformer", 1),
    ("`face_enhancer` gpen_bfr_512", "+1 GPEN forward at 512", "gpen_bfr_512", 1),
)
LAYOUTS = {
    "gfpgan_1.4": "GFPGANv1Clean (channel multiplier 2): ResBlock U-Net encoder 512→4, the 4x4 features to "
    "the style latent, an up path with SFT scale/shift convs at every level, StyleGAN2 decoder (two 3x3 "
    "convs and a toRGB per resolution)",
    "codeformer": "VQGAN encoder 512→16 (64 × 1, 2, 2, 4, 4, 8), nine transformer layers (dim 512, FFN "
    "1024) over 256 tokens with the 1024-code codebook's logits, mirrored decoder with fusion convs",
    "gpen_bfr_512": "GPEN-512 (channel multiplier 2): encoder 512→4, StyleGAN2's eight-layer mapping "
    "network, the StyleGAN2 decoder with the encoder's features added per level",
    "xseg_1": "DeepFaceLab XSeg: a U-Net at 256 (32→384 channels), a dense bottleneck, NHWC in and out",
    "bisenet_resnet_34": "BiSeNet: ResNet-34 trunk at 512, context path refinement, feature fusion, three "
    "19-class heads",
}


def quality_forwards(pack: Pack, providers: str, rounds: int) -> dict[str, Any]:
    """Write the optional models' stand-ins beside `pack`'s, time each forward alone beside the pack's
    swapper: what the quality section renders."""
    stats = write_optional(pack.directory, pack.width)
    swapper = next(stat for stat in pack.stats if stat.name == "inswapper_128")
    stats["inswapper_128"] = (swapper.params, swapper.macs, swapper.file_bytes)
    return {
        "width": pack.width,
        "providers": providers,
        "rounds": rounds,
        "stats": {name: list(values) for name, values in stats.items()},
        "forward_ms": time_forwards(pack.directory, providers, rounds),
    }


def forwards_section(data: dict[str, Any]) -> str:
    """The quality section of docs/benchmarks.md from what `quality_forwards` measured."""
    forward, stats = data["forward_ms"], data["stats"]
    swapper = forward["inswapper_128"]
    rows = []
    for option, adds, model, count in OPTION_ROWS:
        if model is None:
            rows.append(f"| {option} | {adds} | 0 | – | – |")
            continue
        times = f"{forward[model]:,.0f}" if count == 1 else f"{count} × {forward[model]:,.0f}"
        rows.append(
            f"| {option} | {adds} | {count * stats[model][1] / 1e9:,.1f} | {times} | "
            f"{count * forward[model] / swapper:.2f} |"
        )
    standins = [
        f"| {name} | {stats[name][0] / 1e6:.1f} M / {PUBLISHED_BYTES[name] / 4e6:.1f} M | "
        f"{stats[name][1] / 1e9:.1f} | {LAYOUTS[name]} |"
        for name in PUBLISHED_BYTES
    ]
    command = f"python -m bench.quality --forwards --rounds {data['rounds']}" + (
        f" --width {data['width']}" if data["width"] != 1 else ""
    )
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Quality options: what each adds per face",
                "",
                f"Measured in the same run (`{command}` alone), providers `{data['providers']}`: each "
                f"model's forward alone, the fastest of {data['rounds']} after one warm-up, the models "
                "taking turns, so the column *× one swapper forward* compares forwards measured under the "
                "same conditions. Multiply-accumulates are counted from the graphs as built."
                + (_width_note(data["width"])),
                "",
                "| option | what it adds per face | GMACs added | model forward, ms "
                "| × one swapper forward |",
                "|---|---|---|---|---|",
                *rows,
                "",
                "Without a model, `color_match` and the box mask cost milliseconds (a request with "
                "`color_match` on the synthetic pack, whose swapper costs nothing, took 2 ms more than "
                'without it; with `face_mask` `["box"]` 16 ms more). The region and occlusion masks and '
                "the enhancers add the same CPU work around their forward (a resize, an inverse warp, a "
                "blend). Pixel boost also enlarges the crop that is warped, masked and blended (512² instead "
                "of 128²), a few milliseconds more. `python -m bench.quality` (without `--forwards`) times "
                "whole requests of the real Engine, each option alone.",
                "",
                "The optional models' stand-ins (bench/quality.py; random weights, the published layouts and "
                "resolutions, parameter counts within about 15% of the files' sizes):",
                "",
                "| stand-in | parameters, stand-in / published file ÷ 4 | GMACs per forward | layout |",
                "|---|---|---|---|",
                *standins,
            ]
        ),
    )


def _width_note(width: int) -> str:
    return "" if width == 1 else f" Every channel count divided by {width}: these are not the real sizes."


def _section(table: str, args: argparse.Namespace) -> str:
    import onnxruntime as ort

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return sections.marked(
        NAME,
        "\n".join(
            [
                "## Quality options: what each adds per face",
                "",
                f"Written by `python -m bench.quality` on "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores, "
                f"providers `{args.providers}`, ONNX Runtime {ort.__version__}, "
                f"{args.rounds} timed rounds per option after one warm-up, load average {load} at the end "
                "(other work shares the cores: compare the rows with each other, not with the tables "
                "above). Each row is the real Engine's swap of one 525 px face in a 1024x768 target with "
                "that option alone; *added per face* is its median minus the plain swap's. The core models "
                "are the stand-ins above; the optional ones are cost-faithful stand-ins of their own "
                "(bench/quality.py: the published layouts at their resolutions, random weights, parameter "
                "counts within about 15% of the files' sizes, listed below). `python -m bench.quality "
                "--providers cuda` gives the GPU's figures; none were measured yet.",
                "",
                table,
            ]
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the stand-ins beside bench's core pack, time each option, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1, help="channel divisor (1: the real sizes)")
    parser.add_argument("--providers", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per option")
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--doc", type=Path, help="benchmarks document to update (default: none)")
    parser.add_argument(
        "--forwards", action="store_true", help="time each model's forward alone (fastest of the rounds)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    pack = write_pack(args.cache, args.width)
    if args.forwards:
        section = forwards_section(quality_forwards(pack, args.providers, args.rounds))
        sys.stdout.write(section + "\n")
        if args.doc is not None:
            previous = args.doc.read_text() if args.doc.is_file() else ""
            args.doc.write_text(sections.replace(previous, NAME, section))
        return 0
    stats = write_optional(pack.directory, args.width)
    medians = _time_cases(pack.directory, args.providers, args.rounds)
    table = _table(medians, stats, args.width)
    sys.stdout.write(table + "\n")
    if args.doc is not None:
        previous = args.doc.read_text() if args.doc.is_file() else ""
        args.doc.write_text(sections.replace(previous, NAME, _section(table, args)))
    return 0 if all(math.isfinite(value) for value in medians.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
