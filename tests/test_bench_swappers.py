"""The swappers' cost-faithful stand-ins (bench/swappers.py): each fits its slot and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.swappers import BLOCK_PARAMS, family_model, write_swappers
from faceswap.models.check import check_model_file
from faceswap.models.registry import OPTIONAL_SPECS, SWAPPER
from faceswap.pipeline.swappers import SWAPPER_NAMES


def test_each_stand_in_fits_its_slot_and_runs(tmp_path: Path) -> None:
    stats = write_swappers(tmp_path, SWAPPER_NAMES, width=32)
    assert set(stats) == {*SWAPPER_NAMES, "crossface_ghost", "crossface_simswap"}
    for name in stats:
        spec = SWAPPER if name == "inswapper_128" else OPTIONAL_SPECS[name]
        check_model_file(tmp_path / f"{name}.onnx", spec, tmp_path)
        session = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        feeds = {value.name: np.full(value.shape, 0.5, np.float32) for value in session.get_inputs()}
        (output, *_) = session.run(None, feeds)
        assert np.isfinite(output).all(), name


def test_the_stand_ins_without_a_published_layout_have_the_files_parameter_count() -> None:
    for name in ("hyperswap_1a_256", "ghost_3_256", "uniface_256"):
        _, params, _ = family_model(name, materialize=False)
        spec = OPTIONAL_SPECS[name]
        published = (spec.size or spec.approx_size or 0) / 4
        assert abs(params - published) < BLOCK_PARAMS, name
