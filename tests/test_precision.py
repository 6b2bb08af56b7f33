"""The FP16 swapper: converted once, checked against FP32 on a probe, FP32 kept when it diverges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from faceswap.config import Settings
from faceswap.models.loader import clear_model_cache, load_models
from faceswap.models.precision import FP16_TOLERANCE, choose_precision, fp16_model_file
from faceswap.pipeline.engine import Engine
from faceswap.testing.synthetic import draw_faces, write_models
from tests.conftest import derive, encode_png


def cpu_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def overflowing_swapper(path: Path) -> Path:
    """A swapper-shaped model, exact in FP32, whose weight 1e5 does not fit FP16 (max 65504)."""
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [1e5])
    unscale = helper.make_tensor("unscale", TensorProto.FLOAT, [], [1e-5])
    nodes = [
        helper.make_node("Mul", ["target", "scale"], ["c"]),
        helper.make_node("Mul", ["c", "unscale"], ["d"]),
        helper.make_node("ReduceSum", ["source"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "zero"], ["z"]),
        helper.make_node("Add", ["d", "z"], ["output"]),
    ]
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    graph = helper.make_graph(
        nodes,
        "overflow",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        [scale, unscale, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, path)
    return path


def test_the_synthetic_swapper_runs_in_fp16_within_tolerance(model_dir: Path, tmp_path: Path) -> None:
    swapper = model_dir / "inswapper_128.onnx"
    choice = choose_precision(cpu_session(swapper), swapper, tmp_path / "cache", cpu_session)
    assert choice.precision == "fp16"
    assert choice.difference is not None and choice.difference <= FP16_TOLERANCE
    fp16_inputs = {value.name: value.type for value in choice.session.get_inputs()}
    assert fp16_inputs == {"target": "tensor(float)", "source": "tensor(float)"}


def test_a_model_that_overflows_in_fp16_keeps_fp32(tmp_path: Path) -> None:
    model = overflowing_swapper(tmp_path / "overflow.onnx")
    reference = cpu_session(model)
    choice = choose_precision(reference, model, tmp_path / "cache", cpu_session)
    assert choice.precision == "fp32"
    assert choice.session is reference
    assert "diverged" in choice.reason


def test_a_conversion_that_cannot_load_keeps_fp32(model_dir: Path, tmp_path: Path) -> None:
    swapper = model_dir / "inswapper_128.onnx"
    reference = cpu_session(swapper)

    def refuse(path: Path) -> ort.InferenceSession:
        raise RuntimeError("no fp16 kernels")

    choice = choose_precision(reference, swapper, tmp_path / "cache", refuse)
    assert (choice.precision, choice.session) == ("fp32", reference)


def test_the_conversion_is_made_once_and_reused(model_dir: Path, tmp_path: Path) -> None:
    swapper = model_dir / "inswapper_128.onnx"
    first = fp16_model_file(swapper, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert fp16_model_file(swapper, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert [path.name for path in tmp_path.iterdir()] == [first.name]


def test_an_fp16_swap_matches_the_fp32_swap(settings: Settings, tmp_path: Path) -> None:
    write_models(tmp_path)
    private = derive(settings, model_dir=tmp_path)
    clear_model_cache()
    try:
        models = load_models(private)
        source = encode_png(draw_faces(640, 480, 1, seed=4)[0])
        target = encode_png(draw_faces(640, 480, 1, seed=5)[0])
        fp32 = Engine(models, private).swap(source, target)
        swapper = tmp_path / "inswapper_128.onnx"
        models.swapper.session = choose_precision(
            models.swapper.session, swapper, tmp_path / "c", cpu_session
        ).session
        fp16 = Engine(models, private).swap(source, target)
    finally:
        clear_model_cache()
    decoded = [
        cv2.imdecode(np.frombuffer(r.image, np.uint8), cv2.IMREAD_COLOR).astype(int) for r in (fp32, fp16)
    ]
    assert np.abs(decoded[0] - decoded[1]).max() <= 6


@pytest.mark.parametrize("fp16", [True, False])
def test_on_the_cpu_the_swapper_stays_fp32(settings: Settings, fp16: bool) -> None:
    assert load_models(derive(settings, fp16=fp16)).precision == "fp32"


def test_prepare_writes_the_conversion_a_cold_start_then_finds(tmp_path: Path) -> None:
    from faceswap.models.command import main
    from faceswap.models.loader import cache_dir

    write_models(tmp_path)
    assert main(["prepare", "--dir", str(tmp_path)]) == 0
    (converted,) = (tmp_path / ".cache").iterdir()
    assert fp16_model_file(tmp_path / "inswapper_128.onnx", cache_dir(tmp_path)) == converted
