"""Neural-network layers over the ONNX graph builder, tracking shapes, parameters and multiply-accumulates.

Weights are random and variance-preserving (fan-in scaled, uniform): activations keep an order of magnitude
near 1 through any depth, so no run slows down on denormals or overflows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceswap.testing.graph import Graph

__all__ = ["Network", "Tensor"]

PRODUCER = "bench"


@dataclass(frozen=True)
class Tensor:
    """A value in the graph: its name and its static shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def channels(self) -> int:
        """Size of axis 1 (NCHW channels or features)."""
        return self.shape[1]


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class Network(Graph):
    """Layers with random initializers; each layer method returns its output Tensor.

    With materialize=False no weight is drawn or stored: the graph is only good for its counts.
    """

    def __init__(self, seed: int, materialize: bool = True) -> None:
        super().__init__(PRODUCER)
        self.rng = np.random.default_rng(seed)
        self.materialize = materialize
        self.params = 0
        self.macs = 0

    def weight(self, shape: Sequence[int], fan_in: int, gain: float = 1.0) -> str:
        """A float32 initializer, uniform, standard deviation gain / sqrt(fan_in); counted as parameters."""
        if not self.materialize:
            self.params += math.prod(shape)
            return f"w{self.params}"
        bound = gain * math.sqrt(3.0 / max(1, fan_in))
        values = self.rng.random(tuple(shape), dtype=np.float32)
        values *= np.float32(2.0 * bound)
        values -= np.float32(bound)
        return self.parameter(values)

    def parameter(self, values: np.ndarray, name: str | None = None) -> str:
        """A float32 initializer counted as parameters (only counted when not materializing)."""
        self.params += int(values.size)
        if not self.materialize:
            return name or f"w{self.params}"
        return self.const(values, name)

    def apply(self, op_type: str, inputs: Sequence[str], shape: Sequence[int], **attrs: object) -> Tensor:
        """Append one node whose output has the given shape."""
        return Tensor(self.op(op_type, *inputs, **attrs), tuple(shape))

    def conv(
        self,
        x: Tensor,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        pad: int | None = None,
        groups: int = 1,
        bias: bool = True,
        gain: float = math.sqrt(2.0),
    ) -> Tensor:
        """2-D convolution (NCHW) with fresh weights; `pad` defaults to kernel // 2."""
        fan_in = x.channels // groups * kernel * kernel
        weight = self.weight((out_channels, x.channels // groups, kernel, kernel), fan_in, gain)
        bias_name = self.parameter(np.zeros(out_channels, dtype=np.float32)) if bias else None
        return self.conv_with(x, weight, bias_name, out_channels, kernel, stride, pad, groups)

    def conv_with(
        self,
        x: Tensor,
        weight: str,
        bias: str | None,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        pad: int | None = None,
        groups: int = 1,
    ) -> Tensor:
        """2-D convolution with existing (possibly shared) weights; its work is counted on every use."""
        pad = kernel // 2 if pad is None else pad
        n, c, h, w = x.shape
        shape = (n, out_channels, _conv_out(h, kernel, stride, pad), _conv_out(w, kernel, stride, pad))
        self.macs += math.prod(shape) * (c // groups) * kernel * kernel
        return self.apply(
            "Conv",
            [x.name, weight] + ([bias] if bias else []),
            shape,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )

    def batchnorm(self, x: Tensor, gamma: float = 1.0) -> Tensor:
        """Inference batch normalisation with unit statistics; `gamma` scales the output."""
        c = x.channels
        scale = self.parameter(np.full(c, gamma, dtype=np.float32))
        shift = self.parameter(np.zeros(c, dtype=np.float32))
        mean = self.parameter(np.zeros(c, dtype=np.float32))
        var = self.parameter(np.ones(c, dtype=np.float32))
        return self.apply("BatchNormalization", [x.name, scale, shift, mean, var], x.shape, epsilon=1e-5)

    def groupnorm(self, x: Tensor, groups: int) -> Tensor:
        """Group normalisation with fresh affine parameters."""
        scale = self.parameter(np.ones((x.channels, 1, 1), np.float32))
        shift = self.parameter(np.zeros((x.channels, 1, 1), np.float32))
        return self.groupnorm_with(x, groups, scale, shift)

    def groupnorm_with(self, x: Tensor, groups: int, scale: str, shift: str) -> Tensor:
        """Group normalisation as exporters write it: reshape, InstanceNormalization, reshape back, affine."""
        n, c, h, w = x.shape
        grouped = self.apply(
            "Reshape", [x.name, self.const([0, groups, -1])], (n, groups, c // groups * h * w)
        )
        ones, zeros = np.ones(groups, np.float32), np.zeros(groups, np.float32)
        normed = self.apply(
            "InstanceNormalization", [grouped.name, self.const(ones), self.const(zeros)], grouped.shape
        )
        back = self.apply("Reshape", [normed.name, self.apply("Shape", [x.name], (4,)).name], x.shape)
        return self.apply("Add", [self.apply("Mul", [back.name, scale], x.shape).name, shift], x.shape)

    def slice_channels(self, x: Tensor, start: int, end: int) -> Tensor:
        """x[:, start:end]."""
        shape = (x.shape[0], end - start, *x.shape[2:])
        return self.apply("Slice", [x.name, self.const([start]), self.const([end]), self.const([1])], shape)

    def relu(self, x: Tensor) -> Tensor:
        """ReLU."""
        return self.apply("Relu", [x.name], x.shape)

    def leaky(self, x: Tensor, alpha: float = 0.2) -> Tensor:
        """LeakyReLU."""
        return self.apply("LeakyRelu", [x.name], x.shape, alpha=alpha)

    def prelu(self, x: Tensor) -> Tensor:
        """PReLU with one learned slope per channel."""
        slope = self.parameter(np.full((x.channels, 1, 1), 0.25, dtype=np.float32))
        return self.apply("PRelu", [x.name, slope], x.shape)

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """Elementwise sum (broadcasting to a's shape)."""
        return self.apply("Add", [a.name, b.name], a.shape)

    def pool(self, x: Tensor, kind: str, kernel: int, stride: int, pad: int = 0) -> Tensor:
        """MaxPool or AveragePool."""
        n, c, h, w = x.shape
        shape = (n, c, _conv_out(h, kernel, stride, pad), _conv_out(w, kernel, stride, pad))
        return self.apply(
            kind, [x.name], shape, kernel_shape=[kernel] * 2, strides=[stride] * 2, pads=[pad] * 4
        )

    def global_pool(self, x: Tensor) -> Tensor:
        """Global average pooling to Nx C x1x1."""
        return self.apply("GlobalAveragePool", [x.name], (*x.shape[:2], 1, 1))

    def flatten(self, x: Tensor) -> Tensor:
        """Flatten to N x rest."""
        return self.apply("Flatten", [x.name], (x.shape[0], math.prod(x.shape[1:])), axis=1)

    def gemm(self, x: Tensor, out_features: int, gain: float = 1.0, bias: float = 0.0) -> Tensor:
        """Fully connected layer on N x features."""
        n, features = x.shape
        w = self.weight((out_features, features), features, gain)
        b = self.parameter(np.full(out_features, bias, dtype=np.float32))
        self.macs += n * features * out_features
        return self.apply("Gemm", [x.name, w, b], (n, out_features), transB=1)

    def resize2x(self, x: Tensor, mode: str = "linear") -> Tensor:
        """Upsample height and width by 2."""
        n, c, h, w = x.shape
        scales = self.const(np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32))
        return self.apply("Resize", [x.name, "", scales], (n, c, 2 * h, 2 * w), mode=mode)
