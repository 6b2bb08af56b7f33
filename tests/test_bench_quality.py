"""The quality options' cost-faithful stand-ins: the real files' contracts, at a small width here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from bench.quality import OPTION_CASES, enhancer_model, write_optional
from faceswap.models.check import check_model_file
from faceswap.models.registry import QUALITY_MODEL_SPECS
from faceswap.schemas import SwapOptions


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, int, int]]]:
    directory = tmp_path_factory.mktemp("quality-standins")
    return directory, write_optional(directory, width=32)


def test_each_stand_in_passes_its_slots_check_and_runs(
    small: tuple[Path, dict[str, tuple[int, int, int]]],
) -> None:
    directory, stats = small
    assert set(stats) == {spec.name for spec in QUALITY_MODEL_SPECS}
    for spec in QUALITY_MODEL_SPECS:
        check_model_file(directory / spec.path, spec, directory)
        session = ort.InferenceSession(str(directory / spec.path), providers=["CPUExecutionProvider"])
        feeds = {}
        for value in session.get_inputs():
            shape = [1 if not isinstance(dim, int) else dim for dim in value.shape]
            dtype = np.float64 if value.type == "tensor(double)" else np.float32
            feeds[value.name] = np.full(shape, 0.5, dtype=dtype)
        (output, *_) = session.run(None, feeds)
        assert np.isfinite(output).all(), spec.name


def test_the_counts_grow_with_the_width() -> None:
    _, small_params, small_macs = enhancer_model("gpen_bfr_512", width=32)
    _, params, macs = enhancer_model("gpen_bfr_512", width=16)
    assert params > 2 * small_params and macs > 2 * small_macs


def test_every_timed_case_is_a_valid_request() -> None:
    for fields in OPTION_CASES.values():
        SwapOptions.model_validate(fields).quality()
