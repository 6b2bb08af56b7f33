import numpy as np
import onnx
import onnxruntime as ort

import faceswap.testing.graph
from faceswap.constants import CPU_PROVIDER
from faceswap.testing.graph import IR_VERSION, OPSET, Graph, float_info


def test_constants_keep_integers_and_booleans_and_make_the_rest_float32() -> None:
    g = Graph("test")
    names = [g.const([1, 2]), g.const(np.array([True])), g.const(0.5), g.const(np.float64(2.0))]
    types = [onnx.numpy_helper.to_array(tensor).dtype for tensor in g.initializers]
    assert names == ["c0", "c1", "c2", "c3"]
    assert types == [np.int64, np.bool_, np.float32, np.float32]


def test_a_built_model_runs_in_onnx_runtime() -> None:
    g = Graph("test")
    g.op("Add", g.slice("x", 1, 1, 3), g.const(1.0), output="y")
    model = g.model("add", [float_info("x", [1, 4])], [float_info("y", [1, 2])])
    onnx.checker.check_model(model)
    stamp = (model.ir_version, model.opset_import[0].version, model.producer_name)
    assert stamp == (IR_VERSION, OPSET, "test")
    session = ort.InferenceSession(model.SerializeToString(), providers=[CPU_PROVIDER])
    (out,) = session.run(None, {"x": np.array([[1, 2, 3, 4]], np.float32)})
    assert out.tolist() == [[3.0, 4.0]]


def test_node_names_never_start_with_sub_or_mul() -> None:
    g = Graph("test")
    g.op("Sub", "a", "b")
    g.op("Mul", "a", "b", output="m")
    assert [node.name for node in g.nodes] == ["n0_sub", "n1_mul"]


def test_the_public_names_are_pinned() -> None:
    assert faceswap.testing.graph.__all__ == ["IR_VERSION", "OPSET", "Graph", "float_info"]
