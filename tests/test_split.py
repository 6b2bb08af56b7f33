"""The swapper cut in two at its decoder (faceswap.models.split) swaps exactly as the whole model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from faceswap.constants import CPU_PROVIDER
from faceswap.models.split import HEAD, TAIL, split_at_decoder, split_halves
from faceswap.pipeline.swap import swap_crop


def _inswapper_shaped(path: Path, tail_reads_target: bool = False) -> Path:
    """target [1,3,128,128] and source [1,512] in, [1,3,128,128] out: an encoder, a style from the source,
    then an upsampling decoder (or, with `tail_reads_target`, a decoder that reads the target again)."""
    rng = np.random.default_rng(5)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["target", "w_in"], ["encoded"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Gemm", ["source", "w_style"], ["style"]),
        helper.make_node("Reshape", ["style", "style_shape"], ["style_map"]),
        helper.make_node("Add", ["encoded", "style_map"], ["styled"]),
        helper.make_node("Resize", ["styled", "", "scales"], ["upsampled"], mode="linear"),
        helper.make_node("Conv", ["upsampled", "w_out"], ["decoded"], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["decoded"], ["shaded"]),
        helper.make_node("Add", ["shaded", "target" if tail_reads_target else "shaded"], ["output"]),
    ]
    initializers = [
        weight("w_in", 8, 3, 3, 3),
        weight("w_style", 512, 8),
        numpy_helper.from_array(np.array([1, 8, 1, 1], np.int64), "style_shape"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        weight("w_out", 3, 8, 3, 3),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_shaped",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=[CPU_PROVIDER])


def test_the_two_halves_swap_exactly_as_the_whole_model(tmp_path: Path) -> None:
    model = _inswapper_shaped(tmp_path / "model.onnx")
    assert split_at_decoder(model)
    halves = split_halves(model)
    assert halves == (tmp_path / HEAD, tmp_path / TAIL)
    head, tail = (_session(half) for half in halves)
    assert [value.name for value in tail.get_inputs()] == ["styled"]
    whole = _session(model)
    names = [value.name for value in whole.get_inputs()]
    rng = np.random.default_rng(9)
    crop = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    latent = rng.standard_normal((1, 512)).astype(np.float32)
    expected = swap_crop(whole, names, crop, latent)
    np.testing.assert_array_equal(swap_crop(head, names, crop, latent, tail=tail), expected)
    assert np.ptp(expected) > 0


def test_a_decoder_that_reads_a_graph_input_is_not_split(tmp_path: Path) -> None:
    model = _inswapper_shaped(tmp_path / "model.onnx", tail_reads_target=True)
    assert not split_at_decoder(model)
    assert split_halves(model) is None
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["model.onnx"]
