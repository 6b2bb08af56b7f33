"""Cost-faithful stand-ins: the real models' architectures and sizes with random weights.

Each builder takes a `width` divisor: 1 gives the real sizes (parameters, multiply-accumulates, file size),
a larger one the same graph with fewer channels, for fast checks. Files go to a cache folder outside the
repository, one subfolder per (stand-in version, width), laid out as the service and FaceAnalysis expect:

    <dir>/buffalo_l/{det_10g, w600k_r50, 1k3d68, 2d106det, genderage}.onnx    <dir>/inswapper_128.onnx

The detector computes SCRFD-10G-KPS at full cost, scales its outputs to nothing and adds the synthetic
pack's pattern response (faceswap.testing.synthetic),
so it finds exactly the faces drawn into the test images.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from bench.layers import Network, Tensor
from faceswap.testing.graph import float_info
from faceswap.testing.synthetic import write_models

__all__ = [
    "FILES",
    "STANDIN_VERSION",
    "ModelStats",
    "Pack",
    "counts",
    "default_cache_dir",
    "detector_model",
    "genderage_model",
    "landmark_2d_model",
    "landmark_3d_model",
    "recognizer_model",
    "swapper_model",
    "write_pack",
]

log = logging.getLogger(__name__)

STANDIN_VERSION = 2
EMBEDDING = 512
SWAP_SIDE = 128
DETECTOR_STRIDES = (8, 16, 32)
# Where each stand-in goes under the pack folder, keyed by the name the report uses.
FILES = {
    "inswapper_128": "inswapper_128.onnx",
    "det_10g": "buffalo_l/det_10g.onnx",
    "w600k_r50": "buffalo_l/w600k_r50.onnx",
    "1k3d68": "buffalo_l/1k3d68.onnx",
    "2d106det": "buffalo_l/2d106det.onnx",
    "genderage": "buffalo_l/genderage.onnx",
}
# MobileNet-v1 widths that give the small buffalo_l models their published file sizes (1.26M and 0.33M
# parameters); their exact layer lists are not published.
LANDMARK_2D_WIDTH = 0.59
GENDERAGE_WIDTH = 0.31
# A ResNet-50 trunk with a flattened head sized to 1k3d68's 35.9M parameters (its head is not published).
LANDMARK_3D_HEAD_CHANNELS = 102


@dataclass(frozen=True)
class ModelStats:
    """What a stand-in costs: parameters, multiply-accumulates per forward at `at`, file size."""

    name: str
    params: int
    macs: int
    at: str
    file_bytes: int


@dataclass(frozen=True)
class Pack:
    """A folder of stand-ins and what each one costs."""

    directory: Path
    width: int
    stats: tuple[ModelStats, ...]

    @property
    def buffalo_dir(self) -> Path:
        """The FaceAnalysis model folder (all five buffalo_l files)."""
        return self.directory / "buffalo_l"

    @property
    def swapper(self) -> Path:
        """The swapper file."""
        return self.directory / FILES["inswapper_128"]


def default_cache_dir() -> Path:
    """~/.cache/faceswap-bench, or $XDG_CACHE_HOME/faceswap-bench."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "faceswap-bench"


def _ch(channels: int, width: int) -> int:
    return max(4, channels // width)


def _reflect_pad(b: Network, x: Tensor, pad: int) -> Tensor:
    n, c, h, w = x.shape
    pads = b.const([0, 0, pad, pad, 0, 0, pad, pad])
    return b.apply("Pad", [x.name, pads], (n, c, h + 2 * pad, w + 2 * pad), mode="reflect")


def _instance_norm(b: Network, x: Tensor) -> Tensor:
    """Instance normalisation written out op by op, as inswapper's graph has it."""
    stat = (*x.shape[:2], 1, 1)
    mean = b.apply("ReduceMean", [x.name], stat, axes=[2, 3], keepdims=1)
    centred = b.apply("Sub", [x.name, mean.name], x.shape)
    var = b.apply(
        "ReduceMean", [b.apply("Mul", [centred.name, centred.name], x.shape).name], stat, axes=[2, 3]
    )
    std = b.apply("Sqrt", [b.apply("Add", [var.name, b.const(np.float32(1e-8))], stat).name], stat)
    return b.apply("Div", [centred.name, std.name], x.shape)


def _adain(b: Network, x: Tensor, source: Tensor) -> Tensor:
    """Instance norm, then a per-channel scale and shift computed from the source latent."""
    c = x.channels
    style = b.gemm(source, 2 * c, bias=0.0)
    bias = np.concatenate([np.ones(c, np.float32), np.zeros(c, np.float32)])
    style = b.apply("Add", [style.name, b.const(bias)], style.shape)
    scale = b.apply("Reshape", [b.slice_channels(style, 0, c).name, b.const([1, c, 1, 1])], (1, c, 1, 1))
    shift = b.apply("Reshape", [b.slice_channels(style, c, 2 * c).name, b.const([1, c, 1, 1])], (1, c, 1, 1))
    normed = _instance_norm(b, x)
    return b.apply("Add", [b.apply("Mul", [normed.name, scale.name], x.shape).name, shift.name], x.shape)


def swapper_model(
    width: int = 1, seed: int = 1, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """inswapper_128: encoder to 1024x32x32, 6 AdaIN style blocks, decoder, emap as the last initializer."""
    b = Network(seed, materialize)
    target = Tensor("target", (1, 3, SWAP_SIDE, SWAP_SIDE))
    source = Tensor("source", (1, EMBEDDING))
    x = b.leaky(b.conv(_reflect_pad(b, target, 3), _ch(128, width), 7, pad=0))
    x = b.leaky(b.conv(x, _ch(256, width), 3))
    for channels in (512, 1024):
        x = b.leaky(b.conv(x, _ch(channels, width), 3, stride=2))
    for _ in range(6):
        y = b.relu(_adain(b, b.conv(_reflect_pad(b, x, 1), x.channels, 3, pad=0), source))
        y = _adain(b, b.conv(_reflect_pad(b, y, 1), x.channels, 3, pad=0, gain=0.5), source)
        x = b.add(x, y)
    for channels in (512, 256):
        x = b.leaky(b.conv(b.resize2x(x), _ch(channels, width), 3))
    x = b.leaky(b.conv(x, _ch(128, width), 3))
    x = b.apply(
        "Tanh", [b.conv(_reflect_pad(b, x, 3), 3, 7, pad=0, gain=0.5).name], (1, 3, SWAP_SIDE, SWAP_SIDE)
    )
    half = b.const(np.float32(0.5))
    b.op("Add", b.apply("Mul", [x.name, half], x.shape).name, half, output="output")
    q, _ = np.linalg.qr(b.rng.standard_normal((EMBEDDING, EMBEDDING)))
    b.parameter(q.astype(np.float32), name="emap")  # INSwapper reads emap as the last initializer
    model = b.model(
        "inswapper_128_standin",
        [float_info("target", target.shape), float_info("source", source.shape)],
        [float_info("output", (1, 3, SWAP_SIDE, SWAP_SIDE))],
    )
    return model, b.params, b.macs


def _basic_block(b: Network, x: Tensor, planes: int, stride: int) -> Tensor:
    """ResNet-v1e basic block; the shortcut downsamples by average pooling, then a 1x1 conv."""
    y = b.relu(b.batchnorm(b.conv(x, planes, 3, stride=stride, bias=False)))
    y = b.batchnorm(b.conv(y, planes, 3, bias=False), gamma=0.5)
    shortcut = x
    if stride != 1 or x.channels != planes:
        if stride != 1:
            shortcut = b.pool(shortcut, "AveragePool", stride, stride)
        shortcut = b.batchnorm(b.conv(shortcut, planes, 1, bias=False, gain=1.0))
    return b.relu(b.add(y, shortcut))


def _scrfd_features(b: Network, image: Tensor, width: int) -> list[Tensor]:
    """SCRFD-10G backbone (ResNet-v1e, 3-4-2-3 basic blocks) and PAFPN neck: features at strides 8, 16, 32."""
    stem = _ch(56, width)
    x = b.relu(b.batchnorm(b.conv(image, stem // 2, 3, stride=2, bias=False)))
    x = b.relu(b.batchnorm(b.conv(x, stem // 2, 3, bias=False)))
    x = b.relu(b.batchnorm(b.conv(x, stem, 3, bias=False)))
    x = b.pool(x, "MaxPool", 3, 2, pad=1)
    levels = []
    for planes, blocks, stride in zip((56, 88, 88, 224), (3, 4, 2, 3), (1, 2, 2, 2), strict=True):
        for i in range(blocks):
            x = _basic_block(b, x, _ch(planes, width), stride if i == 0 else 1)
        levels.append(x)
    out = _ch(56, width)
    laterals = [b.conv(level, out, 1, gain=1.0) for level in levels[1:]]
    for i in (2, 1):
        laterals[i - 1] = b.add(laterals[i - 1], b.resize2x(laterals[i], mode="nearest"))
    inner = [b.conv(lateral, out, 3, gain=1.0) for lateral in laterals]
    for i in (1, 2):
        inner[i] = b.add(inner[i], b.conv(inner[i - 1], out, 3, stride=2, gain=1.0))
    return [inner[0]] + [b.conv(feature, out, 3, gain=1.0) for feature in inner[1:]]


def _scrfd_head(b: Network, features: list[Tensor], width: int) -> list[str]:
    """SCRFD-10G-KPS head, one per stride: 3 GroupNorm convs, then score, box and keypoint convs."""
    channels = _ch(80, width)
    groups = 16 if channels % 16 == 0 else 1
    outputs: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for feature in features:
        x = feature
        for _ in range(3):
            x = b.relu(b.groupnorm(b.conv(x, channels, 3), groups))
        for kind, per_anchor in (("score", 1), ("bbox", 4), ("kps", 10)):
            y = b.conv(x, 2 * per_anchor, 3, gain=1.0)
            if kind == "score":
                y = b.apply("Sigmoid", [y.name], y.shape)
            elif kind == "bbox":
                y = b.apply("Mul", [y.name, b.parameter(np.ones(1, np.float32))], y.shape)
            rows = b.apply("Transpose", [y.name], (y.shape[0], *y.shape[2:], y.shape[1]), perm=[0, 2, 3, 1])
            flat = b.apply("Reshape", [rows.name, b.const([-1, per_anchor])], (-1, per_anchor))
            outputs[kind].append(flat.name)
    return outputs["score"] + outputs["bbox"] + outputs["kps"]


def _pattern_detector() -> onnx.ModelProto:
    """The synthetic pack's detector (it boxes the drawn faces), as faceswap.testing.synthetic writes it."""
    with tempfile.TemporaryDirectory(prefix="faceswap-bench-") as scratch:
        return onnx.load(str(write_models(Path(scratch)).detector))


def _prefixed(model: onnx.ModelProto, prefix: str, keep: set[str]) -> onnx.GraphProto:
    """A copy of model's graph with every value, node and initializer name prefixed (except `keep`)."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)

    def rename(name: str) -> str:
        return name if not name or name in keep else prefix + name

    for node in graph.node:
        node.name = prefix + node.name
        node.input[:] = [rename(name) for name in node.input]
        node.output[:] = [rename(name) for name in node.output]
    for initializer in graph.initializer:
        initializer.name = rename(initializer.name)
    for output in graph.output:
        output.name = rename(output.name)
    return graph


def detector_model(
    width: int = 1, seed: int = 2, materialize: bool = True, side: tuple[int, int] = (640, 640)
) -> tuple[onnx.ModelProto, int, int]:
    """SCRFD-10G-KPS at full cost whose outputs are the synthetic pattern response (its own scaled to 0)."""
    b = Network(seed, materialize)
    image = Tensor("input.1", (1, 3, side[1], side[0]))
    real = _scrfd_head(b, _scrfd_features(b, image, width), width)
    pattern = _prefixed(_pattern_detector(), "pattern_", keep={"input.1"})
    zero = b.const(np.float32(0.0))
    names = [f"{kind}_{stride}" for kind in ("score", "bbox", "kps") for stride in DETECTOR_STRIDES]
    for name, head in zip(names, real, strict=True):
        silenced = b.apply("Mul", [head, zero], (0,))
        b.op("Add", f"pattern_{name}", silenced.name, output=name)
    b.nodes[:0] = pattern.node
    b.initializers[:0] = pattern.initializer
    model = b.model(
        "scrfd_10g_kps_standin",
        [float_info("input.1", [1, 3, "height", "width"])],
        [
            float_info(
                name,
                [f"anchors_{name.split('_')[1]}", {"score": 1, "bbox": 4, "kps": 10}[name.split("_")[0]]],
            )
            for name in names
        ],
    )
    return model, b.params, b.macs


def _ibasic_block(b: Network, x: Tensor, planes: int, stride: int) -> Tensor:
    """IResNet block: BN, conv, BN, PReLU, strided conv, BN; a 1x1 strided shortcut when shapes change."""
    y = b.conv(b.batchnorm(x), planes, 3, bias=False)
    y = b.batchnorm(b.conv(b.prelu(b.batchnorm(y)), planes, 3, stride=stride, bias=False), gamma=0.5)
    shortcut = x
    if stride != 1 or x.channels != planes:
        shortcut = b.batchnorm(b.conv(x, planes, 1, stride=stride, bias=False, gain=1.0))
    return b.add(y, shortcut)


def recognizer_model(
    width: int = 1, seed: int = 3, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """IResNet-50 (3-4-14-3 blocks, 64-512 channels) at 112x112 with a 25088x512 embedding layer."""
    b = Network(seed, materialize)
    image = Tensor("input.1", (1, 3, 112, 112))
    x = b.prelu(b.batchnorm(b.conv(image, _ch(64, width), 3, bias=False)))
    for planes, blocks in zip((64, 128, 256, 512), (3, 4, 14, 3), strict=True):
        for i in range(blocks):
            x = _ibasic_block(b, x, _ch(planes, width), 2 if i == 0 else 1)
    x = b.flatten(b.batchnorm(x))
    embedding = b.batchnorm(b.gemm(x, EMBEDDING))
    b.op("Identity", embedding.name, output="embedding")
    model = b.model(
        "w600k_r50_standin",
        [float_info("input.1", ["N", 3, 112, 112])],
        [float_info("embedding", ["N", EMBEDDING])],
    )
    return model, b.params, b.macs


def _bottleneck(b: Network, x: Tensor, planes: int, stride: int) -> Tensor:
    """ResNet-50 bottleneck (stride on the 3x3 conv)."""
    y = b.relu(b.batchnorm(b.conv(x, planes, 1, bias=False)))
    y = b.relu(b.batchnorm(b.conv(y, planes, 3, stride=stride, bias=False)))
    y = b.batchnorm(b.conv(y, 4 * planes, 1, bias=False), gamma=0.5)
    shortcut = x
    if stride != 1 or x.channels != 4 * planes:
        shortcut = b.batchnorm(b.conv(x, 4 * planes, 1, stride=stride, bias=False, gain=1.0))
    return b.relu(b.add(y, shortcut))


def landmark_3d_model(
    width: int = 1, seed: int = 4, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """1k3d68: ResNet-50 trunk at 192x192, a 1x1 conv and a flattened fully connected layer to 3309 values."""
    b = Network(seed, materialize)
    image = Tensor("data", (1, 3, 192, 192))
    x = b.pool(
        b.relu(b.batchnorm(b.conv(image, _ch(64, width), 7, stride=2, bias=False))), "MaxPool", 3, 2, 1
    )
    for planes, blocks, stride in zip((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2), strict=True):
        for i in range(blocks):
            x = _bottleneck(b, x, _ch(planes, width), stride if i == 0 else 1)
    x = b.relu(b.batchnorm(b.conv(x, _ch(LANDMARK_3D_HEAD_CHANNELS, width), 1, bias=False)))
    out = b.gemm(b.flatten(x), 3309, gain=0.1)
    b.op("Identity", out.name, output="fc1")
    return (
        b.model("1k3d68_standin", [float_info("data", image.shape)], [float_info("fc1", out.shape)]),
        b.params,
        b.macs,
    )


def _mobilenet(b: Network, image: Tensor, alpha: float, width: int) -> Tensor:
    """MobileNet-v1 trunk at width multiplier `alpha`, globally pooled and flattened."""

    def ch(c: int) -> int:
        return _ch(max(8, round(c * alpha)), width)

    x = b.relu(b.batchnorm(b.conv(image, ch(32), 3, stride=2, bias=False)))
    plan = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )
    for channels, stride in plan:
        x = b.relu(b.batchnorm(b.conv(x, x.channels, 3, stride=stride, groups=x.channels, bias=False)))
        x = b.relu(b.batchnorm(b.conv(x, ch(channels), 1, bias=False)))
    return b.flatten(b.global_pool(x))


def landmark_2d_model(
    width: int = 1, seed: int = 5, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """2d106det: a MobileNet-v1 at 192x192 regressing 106 (x, y) points."""
    b = Network(seed, materialize)
    image = Tensor("data", (1, 3, 192, 192))
    out = b.gemm(_mobilenet(b, image, LANDMARK_2D_WIDTH, width), 212, gain=0.1)
    b.op("Identity", out.name, output="fc1")
    return (
        b.model("2d106det_standin", [float_info("data", image.shape)], [float_info("fc1", out.shape)]),
        b.params,
        b.macs,
    )


def genderage_model(
    width: int = 1, seed: int = 6, materialize: bool = True
) -> tuple[onnx.ModelProto, int, int]:
    """genderage: a MobileNet-v1 at 96x96 with 3 outputs (two gender scores and age / 100)."""
    b = Network(seed, materialize)
    image = Tensor("data", (1, 3, 96, 96))
    out = b.gemm(_mobilenet(b, image, GENDERAGE_WIDTH, width), 3, gain=0.1)
    b.op("Identity", out.name, output="fc1")
    return (
        b.model("genderage_standin", [float_info("data", image.shape)], [float_info("fc1", out.shape)]),
        b.params,
        b.macs,
    )


_BUILDERS = {
    "inswapper_128": (swapper_model, "1x128x128 crop"),
    "det_10g": (detector_model, "640x640"),
    "w600k_r50": (recognizer_model, "112x112 crop"),
    "1k3d68": (landmark_3d_model, "192x192 crop"),
    "2d106det": (landmark_2d_model, "192x192 crop"),
    "genderage": (genderage_model, "96x96 crop"),
}


def counts(name: str, width: int = 1) -> tuple[int, int]:
    """(parameters, multiply-accumulates per forward) of one stand-in, counted without drawing weights."""
    build, _ = _BUILDERS[name]
    _, params, macs = build(width, materialize=False)
    return params, macs


def _stats_file(directory: Path) -> Path:
    return directory / "standins.json"


def _read_pack(directory: Path, width: int) -> Pack | None:
    try:
        records = json.loads(_stats_file(directory).read_text())
        stats = tuple(ModelStats(**record) for record in records)
    except (OSError, ValueError, TypeError):
        return None
    for stat in stats:
        path = directory / FILES[stat.name]
        if not path.is_file() or path.stat().st_size != stat.file_bytes:
            return None
    return Pack(directory, width, stats)


def write_pack(cache_dir: Path, width: int = 1) -> Pack:
    """The stand-ins at `width` under cache_dir, generated unless a complete set is already there."""
    directory = cache_dir / f"v{STANDIN_VERSION}-w{width}"
    cached = _read_pack(directory, width)
    if cached is not None:
        return cached
    (directory / "buffalo_l").mkdir(parents=True, exist_ok=True)
    stats = []
    for name, (build, at) in _BUILDERS.items():
        log.info("generating the %s stand-in (width 1/%d)", name, width)
        model, params, macs = build(width)
        path = directory / FILES[name]
        partial = path.with_suffix(".partial")
        onnx.save_model(model, partial)
        partial.replace(path)
        del model
        stats.append(ModelStats(name, params, macs, at, path.stat().st_size))
    _stats_file(directory).write_text(json.dumps([asdict(stat) for stat in stats], indent=1))
    return Pack(directory, width, tuple(stats))
