"""An ONNX graph builder: nodes with one output each, constants as initializers, one opset.

The synthetic pack's models and the benchmark's stand-ins are both written with it. Node names never
start with ``Sub`` or ``Mul``: insightface guesses a model's input normalisation from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["IR_VERSION", "OPSET", "Graph", "float_info"]

OPSET = 17
IR_VERSION = 8


class Graph:
    """Collects nodes and initializers; every op returns the name of its one output."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, value: np.ndarray | float | Sequence[int], name: str | None = None) -> str:
        """Add an initializer (integers as int64, booleans as they are, the rest as float32); its name."""
        array = np.asarray(value)
        if array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype.kind != "b":
            array = array.astype(np.float32)
        name = name or f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attrs: object) -> str:
        """Append one node, its output named `output` (a graph output) or after the node."""
        name = f"n{len(self.nodes)}_{op_type.lower()}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output or name], name=name, **attrs))
        return output or name

    def slice(self, data: str, axis: int, start: int, end: int, step: int = 1) -> str:
        """Slice one axis."""
        return self.op(
            "Slice", data, self.const([start]), self.const([end]), self.const([axis]), self.const([step])
        )

    def model(
        self, name: str, inputs: Sequence[onnx.ValueInfoProto], outputs: Sequence[onnx.ValueInfoProto]
    ) -> onnx.ModelProto:
        """The finished model."""
        graph = helper.make_graph(self.nodes, name, list(inputs), list(outputs), self.initializers)
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name=self.producer,
        )


def float_info(name: str, shape: Sequence[int | str]) -> onnx.ValueInfoProto:
    """A float32 graph input or output."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
