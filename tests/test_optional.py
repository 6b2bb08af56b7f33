"""The optional models: their structural checks, loading on first use or at start, and the failures."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, ModelFileError, SwapError
from faceswap.models.check import check_model_file
from faceswap.models.optional import OptionalModels
from faceswap.models.registry import OPTIONAL_MODEL_SPECS, QUALITY_MODEL_SPECS
from faceswap.testing.synthetic import write_models
from tests.conftest import derive


@pytest.mark.parametrize("spec", OPTIONAL_MODEL_SPECS, ids=lambda spec: spec.name)
def test_each_stand_in_passes_its_slots_structural_check(model_dir: Path, spec: object) -> None:
    check_model_file(model_dir / spec.path, spec, model_dir)  # type: ignore[attr-defined]


def test_a_model_in_the_wrong_slot_is_named_as_what_it_looks_like(model_dir: Path) -> None:
    enhancer, _, _, occluder, parser = QUALITY_MODEL_SPECS
    with pytest.raises(ModelFileError) as caught:
        check_model_file(model_dir / parser.path, enhancer, model_dir)
    assert caught.value.kind == "wrong_kind"
    assert "looks like the region mask's face parser" in caught.value.reason
    assert "--with gfpgan_1.4" in caught.value.reason
    with pytest.raises(ModelFileError):
        check_model_file(model_dir / enhancer.path, occluder, model_dir)


def test_models_load_on_first_use_once(settings: Settings) -> None:
    optional = OptionalModels(settings, ("CPUExecutionProvider",))
    first = optional.session("gfpgan_1.4")
    assert optional.session("gfpgan_1.4") is first
    assert [value.name for value in first.get_inputs()] == ["input"]


def test_preload_loads_the_named_models_in_the_background(settings: Settings) -> None:
    optional = OptionalModels(settings, ("CPUExecutionProvider",))
    optional.preload(("xseg_1", "codeformer")).join(60)
    assert set(optional._sessions) == {"xseg_1", "codeformer"}


def test_a_broken_optional_file_is_model_not_installed_with_the_force_command(
    settings: Settings, tmp_path: Path
) -> None:
    write_models(tmp_path)
    (tmp_path / "masks" / "xseg_1.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    optional = OptionalModels(derive(settings, model_dir=tmp_path), ("CPUExecutionProvider",))
    with pytest.raises(SwapError) as caught:
        optional.session("xseg_1")
    assert caught.value.code is ErrorCode.MODEL_NOT_INSTALLED
    assert "masks/xseg_1.onnx is unusable (lfs pointer)" in caught.value.message
    assert "python -m faceswap.models download --with xseg_1 --force" in caught.value.message
    assert str(tmp_path) not in caught.value.message


def test_preload_names_only_known_models(settings: Settings) -> None:
    assert derive(settings, preload="gfpgan_1.4, all").preload == "gfpgan_1.4, all"
    with pytest.raises(pydantic.ValidationError, match="unknown optional model restoreformer"):
        derive(settings, preload="restoreformer")
