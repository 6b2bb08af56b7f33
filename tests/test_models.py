"""Model files checked before ONNX Runtime sees them, and loaded once (SCRFD and ArcFace as ported here)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

import faceswap.models.check
import faceswap.models.loader
import faceswap.models.registry
from faceswap.config import Settings
from faceswap.constants import CPU_PROVIDER, CUDA_PROVIDER
from faceswap.errors import ErrorCode, ModelFileError, ModelLoadError, SwapError
from faceswap.models.arcface import ArcFace
from faceswap.models.check import check_model_file, file_signature, graph_summary, verify_model_dir
from faceswap.models.loader import (
    Swapper,
    clear_model_cache,
    load_models,
    provider_options,
    resolve_providers,
    session_options,
)
from faceswap.models.registry import DETECTOR, MODEL_SPECS, RECOGNIZER, SWAPPER
from faceswap.models.scrfd import Scrfd
from faceswap.testing.synthetic import draw_faces, write_models
from tests.servers import ROOT

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af\n"
    b"size 554253681\n"
)
SPEC_IDS = [spec.role for spec in MODEL_SPECS]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pack, written once; tests copy it, never change it."""
    directory = tmp_path_factory.mktemp("pristine")
    write_models(directory)
    return directory


@pytest.fixture
def pack(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic pack this test may damage."""
    return Path(shutil.copytree(pristine, tmp_path / "models"))


@pytest.fixture
def cpu(pack: Path) -> Settings:
    return Settings(model_dir=pack, providers="cpu")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_model_cache()
    yield
    clear_model_cache()


def fault(pack: Path, spec=SWAPPER) -> ModelFileError:
    with pytest.raises(ModelFileError) as caught:
        check_model_file(pack / spec.path, spec, pack)
    return caught.value


def recognizer_with_an_unknown_operator(path: Path) -> None:
    """A file with the recognizer's contract that ONNX Runtime cannot load."""
    node = helper.make_node("NoSuchOperator", ["input.1"], ["embedding"], domain="ai.faceswap.test")
    graph = helper.make_graph(
        [node],
        "broken",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 512])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.faceswap.test", 1)]
    )
    model.ir_version = 8
    onnx.save(model, path)


# Checks, one per fault


def test_the_synthetic_pack_passes_every_check(pack: Path) -> None:
    checks = verify_model_dir(pack, checksums=True)
    assert [check.spec for check in checks] == list(MODEL_SPECS)
    assert all(check.ok for check in checks)
    assert [check.size for check in checks] == [(pack / spec.path).stat().st_size for spec in MODEL_SPECS]
    assert [check.official for check in checks] == [False, False, False]


def test_a_missing_file_is_named_with_the_download_command(pack: Path) -> None:
    (pack / SWAPPER.path).unlink()
    error = fault(pack)
    assert (error.kind, error.path) == ("missing", "inswapper_128.onnx")
    assert error.reason.startswith("inswapper_128.onnx is missing")
    assert f"python -m faceswap.models download --dir {pack}" in error.reason


def test_lfs_pointer_is_named_with_the_fix(pack: Path) -> None:
    assert len(LFS_POINTER) == 134
    (pack / SWAPPER.path).write_bytes(LFS_POINTER)
    error = fault(pack)
    assert (error.kind, error.path) == ("lfs_pointer", "inswapper_128.onnx")
    assert "Git LFS pointer" in error.reason
    assert "git lfs pull" in error.reason
    assert "python -m faceswap.models download" in error.reason


@pytest.mark.parametrize("spec", MODEL_SPECS, ids=SPEC_IDS)
def test_the_first_half_of_a_model_is_reported_truncated(pack: Path, spec) -> None:
    path = pack / spec.path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = fault(pack, spec)
    assert (error.kind, error.path) == ("truncated", spec.path)
    assert f"{spec.path} is truncated" in error.reason
    assert "python -m faceswap.models download" in error.reason


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_cut_of_a_model_is_truncated_never_accepted(pristine: Path, data: st.DataObject) -> None:
    spec = data.draw(st.sampled_from(MODEL_SPECS))
    whole = (pristine / spec.path).read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        (directory / spec.path).parent.mkdir(exist_ok=True)
        (directory / spec.path).write_bytes(whole[: data.draw(st.integers(2, len(whole) - 1))])
        assert fault(directory, spec).kind == "truncated"


def test_an_empty_file_is_truncated(pack: Path) -> None:
    (pack / DETECTOR.path).write_bytes(b"")
    error = fault(pack, DETECTOR)
    assert (error.kind, error.path) == ("truncated", "buffalo_l/det_10g.onnx")
    assert "empty" in error.reason


def test_random_bytes_are_reported_corrupt(pack: Path) -> None:
    (pack / RECOGNIZER.path).write_bytes(random.Random(7).randbytes(300_000))
    error = fault(pack, RECOGNIZER)
    assert (error.kind, error.path) == ("corrupt", "buffalo_l/w600k_r50.onnx")
    assert "is not an ONNX model" in error.reason


def test_recognizer_in_the_swapper_slot_is_the_wrong_kind(pack: Path) -> None:
    shutil.copyfile(pack / RECOGNIZER.path, pack / SWAPPER.path)
    error = fault(pack, SWAPPER)
    assert (error.kind, error.path) == ("wrong_kind", "inswapper_128.onnx")
    assert "looks like the face recognizer (buffalo_l/w600k_r50.onnx)" in error.reason
    assert "the face swapper needs inputs 1x3x128x128 and 1x512" in error.reason


def test_detector_in_the_recognizer_slot_is_the_wrong_kind(pack: Path) -> None:
    shutil.copyfile(pack / DETECTOR.path, pack / RECOGNIZER.path)
    error = fault(pack, RECOGNIZER)
    assert (error.kind, error.path) == ("wrong_kind", "buffalo_l/w600k_r50.onnx")
    assert "looks like the face detector" in error.reason


def test_a_model_of_no_known_kind_is_described(pack: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )
    onnx.save(helper.make_model(graph), pack / SWAPPER.path)
    error = fault(pack, SWAPPER)
    assert error.kind == "wrong_kind"
    assert "has inputs 1x10 and outputs 1x10" in error.reason


def test_a_directory_in_place_of_the_file_is_named(pack: Path) -> None:
    (pack / SWAPPER.path).unlink()
    (pack / SWAPPER.path).mkdir()
    error = fault(pack)
    assert (error.kind, error.path) == ("missing", "inswapper_128.onnx")
    assert "is not a file" in error.reason


def test_model_file_errors_are_not_ready_swap_errors(pack: Path) -> None:
    (pack / SWAPPER.path).unlink()
    error = fault(pack)
    assert isinstance(error, SwapError)
    assert error.code is ErrorCode.NOT_READY
    assert str(error) == error.reason == error.message


def test_verify_reports_each_file_and_goes_on_after_a_fault(pack: Path) -> None:
    (pack / DETECTOR.path).unlink()
    (pack / SWAPPER.path).write_bytes(LFS_POINTER)
    checks = verify_model_dir(pack)
    assert [(check.ok, check.fault.kind if check.fault else None) for check in checks] == [
        (False, "missing"),
        (True, None),
        (False, "lfs_pointer"),
    ]
    assert [check.size for check in checks] == [None, (pack / RECOGNIZER.path).stat().st_size, 134]
    assert all(check.sha256 is None and check.official is None for check in checks)


@pytest.mark.parametrize("spec", MODEL_SPECS, ids=SPEC_IDS)
def test_graph_summary_agrees_with_onnx(pack: Path, spec) -> None:
    model = onnx.load(pack / spec.path)
    initializers = {tensor.name for tensor in model.graph.initializer}

    def dims(value: onnx.ValueInfoProto) -> tuple[int | None, ...]:
        return tuple(
            d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
        )

    summary = graph_summary(pack / spec.path)
    assert summary.inputs == tuple(dims(v) for v in model.graph.input if v.name not in initializers)
    assert summary.outputs == tuple(dims(v) for v in model.graph.output)
    assert summary.last_initializer == tuple(model.graph.initializer[-1].dims)


# Providers and session options


def test_auto_prefers_cuda_when_onnx_runtime_offers_it() -> None:
    assert resolve_providers("auto", [CUDA_PROVIDER, CPU_PROVIDER]) == (CUDA_PROVIDER, CPU_PROVIDER)
    assert resolve_providers("auto", [CPU_PROVIDER]) == (CPU_PROVIDER,)
    assert resolve_providers("cpu", [CUDA_PROVIDER, CPU_PROVIDER]) == (CPU_PROVIDER,)
    assert resolve_providers("cuda", [CUDA_PROVIDER, CPU_PROVIDER]) == (CUDA_PROVIDER, CPU_PROVIDER)


def test_cuda_without_a_cuda_provider_says_to_install_onnxruntime_gpu() -> None:
    with pytest.raises(ModelLoadError, match="install onnxruntime-gpu") as caught:
        resolve_providers("cuda", ["AzureExecutionProvider", CPU_PROVIDER])
    assert caught.value.code is ErrorCode.NOT_READY


def test_cuda_options_are_the_deliberate_ones() -> None:
    cuda, cpu = provider_options((CUDA_PROVIDER, CPU_PROVIDER), gpu_mem_limit=None)
    assert cuda == {
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": "1",
    }
    assert cpu == {}
    assert provider_options((CUDA_PROVIDER, CPU_PROVIDER), gpu_mem_limit=2 << 30)[0]["gpu_mem_limit"] == str(
        2 << 30
    )
    assert provider_options((CPU_PROVIDER,), gpu_mem_limit=2 << 30) == ({},)


def test_session_options_use_every_optimisation_and_the_asked_threads() -> None:
    options = session_options(3)
    assert options.intra_op_num_threads == 3
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


# Loading


def test_loaded_sessions_run_on_the_cpu_provider(cpu: Settings) -> None:
    models = load_models(cpu)
    assert isinstance(models.detector, Scrfd)
    assert isinstance(models.recognizer, ArcFace)
    assert isinstance(models.swapper, Swapper)
    assert models.providers == (CPU_PROVIDER,)
    for model in (models.detector, models.recognizer, models.swapper):
        assert model.session.get_providers() == [CPU_PROVIDER]


def test_loading_prints_nothing(cpu: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    load_models(cpu)
    assert capsys.readouterr().out == ""


def test_the_detector_runs_every_size_on_one_dynamic_session(cpu: Settings) -> None:
    detector = load_models(cpu).detector
    image, boxes = draw_faces(640, 480, 2)
    for size in ((640, 480), (320, 256), (480, 640)):
        found, _ = detector.detect(image, input_size=size)
        assert len(found) == len(boxes)
    assert detector.static_input_size is None
    assert detector.input_size == (cpu.det_size, cpu.det_size)


def test_the_detector_and_recognizer_give_insightfaces_numbers(cpu: Settings) -> None:
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD

    models = load_models(cpu)
    theirs = SCRFD(
        str(cpu.model_dir / DETECTOR.path), session=models.detector.session, static_shape_sessions=False
    )
    theirs.prepare(0, input_size=(cpu.det_size, cpu.det_size), det_thresh=cpu.det_thresh)
    recognizer = ArcFaceONNX(str(cpu.model_dir / RECOGNIZER.path), session=models.recognizer.session)
    assert (recognizer.input_mean, recognizer.input_std) == (
        models.recognizer.input_mean,
        models.recognizer.input_std,
    )
    for seed, (width, height, count) in enumerate(((640, 480, 2), (300, 700, 1), (1024, 512, 4))):
        image, _ = draw_faces(width, height, count, seed=seed)
        for size in (None, (640, 480), (320, 256), (480, 640)):
            for max_num in (0, 1):
                ours = models.detector.detect(image, input_size=size, max_num=max_num)
                expected = theirs.detect(image, input_size=size, max_num=max_num)
                assert len(ours[0]) > 0
                np.testing.assert_array_equal(ours[0], expected[0])
                np.testing.assert_array_equal(ours[1], expected[1])
        crop = np.ascontiguousarray(image[:112, :112])
        np.testing.assert_array_equal(models.recognizer.get_feat(crop), recognizer.get_feat(crop))
    blank = np.full((480, 640, 3), 127, np.uint8)
    for ours_part, expected_part in zip(models.detector.detect(blank), theirs.detect(blank), strict=True):
        assert ours_part.shape == expected_part.shape == (0, *ours_part.shape[1:])


def test_the_service_and_its_usual_load_import_neither_onnx_nor_insightface(cpu: Settings) -> None:
    load_models(cpu)  # the optimized copies exist: what follows is a usual start
    script = (
        "import sys\n"
        "import faceswap.http.app\n"
        "from faceswap.config import Settings\n"
        "from faceswap.models.loader import load_models\n"
        f"load_models(Settings(model_dir={str(cpu.model_dir)!r}, providers='cpu'))\n"
        "heavy = ('onnx', 'insightface', 'ml_dtypes', 'scipy')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_the_recognizers_normalisation_follows_its_first_node_names(tmp_path: Path) -> None:
    from faceswap.models.arcface import input_normalisation

    def model(names: list[str]) -> Path:
        nodes = [
            helper.make_node("Identity", [f"v{i}"], [f"v{i + 1}"], name=name) for i, name in enumerate(names)
        ]
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info(f"v{len(names)}", TensorProto.FLOAT, [1])],
        )
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.onnx"
        onnx.save(helper.make_model(graph), path)
        assert faceswap.models.check.first_node_names(path, 8) == names[:8]
        return path

    assert input_normalisation(model(["_minus0", "_mul0", "conv"])) == (0.0, 1.0)
    assert input_normalisation(model(["Sub_1", "conv", "Mul_2"])) == (0.0, 1.0)
    assert input_normalisation(model(["Sub_1", "conv"])) == (127.5, 127.5)
    assert input_normalisation(model([*(f"conv{i}" for i in range(8)), "Sub", "Mul"])) == (127.5, 127.5)


def test_the_emap_is_read_from_packed_floats_and_other_types_through_onnx(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    tensors = {
        "raw.onnx": onnx.numpy_helper.from_array(values, "emap"),
        "packed.onnx": helper.make_tensor("emap", TensorProto.FLOAT, [3, 4], values.ravel().tolist()),
        "half.onnx": onnx.numpy_helper.from_array(values.astype(np.float16), "emap"),
        "double.onnx": helper.make_tensor("emap", TensorProto.DOUBLE, [3, 4], values.ravel().tolist()),
    }
    for name, tensor in tensors.items():
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            initializer=[tensor],
        )
        onnx.save(helper.make_model(graph), tmp_path / name)
        read = faceswap.models.check.last_initializer(tmp_path / name)
        expected = onnx.numpy_helper.to_array(tensor)
        assert read.dtype == expected.dtype, name
        np.testing.assert_array_equal(read, expected)


def test_loading_twice_returns_the_same_object_without_loading_again(
    cpu: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = faceswap.models.loader._load_one

    def counting(path: Path, *args: object, **kwargs: object) -> object:
        calls.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(faceswap.models.loader, "_load_one", counting)
    first = load_models(cpu)
    assert load_models(cpu) is first
    assert load_models(Settings(model_dir=cpu.model_dir, providers="cpu")) is first
    assert calls == ["det_10g.onnx", "w600k_r50.onnx"]  # the swapper's session is made apart


def test_a_changed_file_is_loaded_again(cpu: Settings) -> None:
    first = load_models(cpu)
    swapper = cpu.model_dir / SWAPPER.path
    stat = swapper.stat()
    os.utime(swapper, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_models(cpu)
    assert second is not first
    assert load_models(cpu) is second


def test_a_fixed_file_is_picked_up_without_a_restart(cpu: Settings) -> None:
    swapper = cpu.model_dir / SWAPPER.path
    good = swapper.read_bytes()
    swapper.write_bytes(LFS_POINTER)
    with pytest.raises(ModelFileError) as caught:
        load_models(cpu)
    assert caught.value.kind == "lfs_pointer"
    swapper.write_bytes(good)
    assert load_models(cpu).providers == (CPU_PROVIDER,)


def test_a_faulty_file_stops_the_load_before_onnx_runtime_sees_it(
    cpu: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(faceswap.models.loader, "_load_one", lambda path, *_: calls.append(path.name))
    (cpu.model_dir / SWAPPER.path).write_bytes(b"\x08\x08:\xff\xff\xff\x7f")
    with pytest.raises(ModelFileError) as caught:
        load_models(cpu)
    assert (caught.value.kind, caught.value.path) == ("truncated", "inswapper_128.onnx")
    assert calls == []


def test_cuda_requested_on_a_cpu_only_machine_is_a_clear_error(
    pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU_PROVIDER])
    with pytest.raises(ModelLoadError) as caught:
        load_models(Settings(model_dir=pack, providers="cuda"))
    assert "CUDA was requested" in caught.value.reason
    assert "onnxruntime-gpu" in caught.value.reason


@pytest.mark.filterwarnings(
    "ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names"
)
def test_cuda_that_does_not_start_is_an_error_when_asked_for(
    pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        faceswap.models.loader.ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER]
    )
    with pytest.raises(ModelLoadError) as caught:
        load_models(Settings(model_dir=pack, providers="cuda"))
    assert caught.value.path == "buffalo_l/det_10g.onnx"
    assert "started buffalo_l/det_10g.onnx on the CPU" in caught.value.reason


@pytest.mark.filterwarnings(
    "ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names"
)
def test_auto_falls_back_to_the_cpu_when_cuda_does_not_start(
    pack: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        faceswap.models.loader.ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER]
    )
    models = load_models(Settings(model_dir=pack, providers="auto"))
    assert models.providers == (CPU_PROVIDER,)
    assert "did not start" in caplog.text


def test_a_file_onnx_runtime_cannot_load_is_named(cpu: Settings) -> None:
    recognizer_with_an_unknown_operator(cpu.model_dir / RECOGNIZER.path)
    check_model_file(cpu.model_dir / RECOGNIZER.path, RECOGNIZER, cpu.model_dir)
    with pytest.raises(ModelLoadError) as caught:
        load_models(cpu)
    assert caught.value.path == "buffalo_l/w600k_r50.onnx"
    assert caught.value.reason.startswith("ONNX Runtime could not load buffalo_l/w600k_r50.onnx")
    assert "NoSuchOperator" not in caught.value.reason
    assert isinstance(caught.value.__cause__, Exception)


def test_running_out_of_memory_while_loading_says_so(cpu: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*_: object, **__: object) -> None:
        raise RuntimeException(
            "CUDA failure 2: out of memory ; GPU=0 ; Failed to allocate memory for requested buffer"
        )

    monkeypatch.setattr(faceswap.models.loader.ort, "InferenceSession", out_of_memory)
    monkeypatch.setattr(faceswap.models.loader, "_optimized_session", out_of_memory)
    with pytest.raises(ModelLoadError, match=r"not enough memory to load buffalo_l/det_10g\.onnx"):
        load_models(cpu)


def test_emap_is_read_without_parsing_the_whole_file(cpu: Settings) -> None:
    path = cpu.model_dir / SWAPPER.path
    expected = onnx.numpy_helper.to_array(onnx.load(str(path)).graph.initializer[-1])
    np.testing.assert_array_equal(faceswap.models.check.last_initializer(path), expected)


def test_the_cpu_sessions_come_from_optimized_copies_made_once(cpu: Settings) -> None:
    clear_model_cache()
    models = load_models(cpu)
    folder = faceswap.models.loader.cache_dir(cpu.model_dir)
    written = {copy: copy.stat().st_mtime_ns for copy in folder.glob("optimized-*/model.onnx")}
    sessions = (models.detector.session, models.recognizer.session, models.swapper.session)
    assert {session._model_path for session in sessions} == {str(copy) for copy in written}
    clear_model_cache()
    load_models(cpu)
    assert {copy: copy.stat().st_mtime_ns for copy in folder.glob("optimized-*/model.onnx")} == written


def test_the_swappers_optimized_copy_is_the_one_its_session_loads(cpu: Settings) -> None:
    clear_model_cache()
    session = load_models(cpu).swapper.session
    assert faceswap.models.loader.optimized_swapper_copy(cpu) == Path(session._model_path)


def test_the_loaded_swapper_reads_the_emap(cpu: Settings) -> None:
    swapper = load_models(cpu).swapper
    assert swapper.emap.shape == (512, 512)
    assert np.allclose(swapper.emap @ swapper.emap.T, np.eye(512), atol=1e-4)


def test_the_download_command_quotes_a_dir_with_spaces(tmp_path: Path) -> None:
    directory = tmp_path / "my models"
    error = fault(directory)
    assert f"python -m faceswap.models download --dir '{directory}'" in error.reason


def test_a_file_signature_changes_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"first")
    before = file_signature(path)
    assert file_signature(path) == before
    replacement = tmp_path / "replacement.onnx"
    replacement.write_bytes(b"other")
    os.utime(replacement, ns=(before.mtime_ns, before.mtime_ns))
    replacement.replace(path)
    after = file_signature(path)
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after != before


def test_the_public_names_are_pinned() -> None:
    assert faceswap.models.loader.__all__ == [
        "FaceModels",
        "ModelCheck",
        "ModelError",
        "ModelFileError",
        "ModelLoadError",
        "Swapper",
        "cache_dir",
        "clear_model_cache",
        "load_cpu_swapper",
        "load_models",
        "optimized_swapper_copy",
        "provider_options",
        "resolve_providers",
        "session_options",
        "verify_model_dir",
    ]
    assert faceswap.models.check.__all__ == [
        "Dims",
        "FileSignature",
        "GraphSummary",
        "ModelCheck",
        "check_model_file",
        "file_crc32",
        "file_sha256",
        "file_signature",
        "first_node_names",
        "graph_summary",
        "last_initializer",
        "swapper_crop",
        "verify_model_dir",
    ]
    assert faceswap.models.registry.__all__ == [
        "DETECTOR",
        "GUARD_CRC32",
        "GUARD_MODEL_SPECS",
        "MODEL_SPECS",
        "OPTIONAL_MODEL_SPECS",
        "OPTIONAL_SPECS",
        "QUALITY_MODEL_SPECS",
        "RECOGNIZER",
        "SWAPPER",
        "SWAPPER_MODEL_SPECS",
        "SYNTHETIC_NOTICE",
        "SYNTHETIC_PRODUCER",
        "Commercial",
        "ModelRole",
        "ModelSpec",
        "download_command",
        "optional_spec",
    ]


def test_only_the_synthetic_pack_is_flagged_synthetic(tmp_path: Path) -> None:
    write_models(tmp_path)
    assert [check.synthetic for check in verify_model_dir(tmp_path)] == [True, True, True]
    swapper = tmp_path / SWAPPER.path
    model = onnx.load(str(swapper))
    model.producer_name = "pytorch"
    onnx.save(model, str(swapper))
    assert graph_summary(swapper).producer == "pytorch"
    assert [check.synthetic for check in verify_model_dir(tmp_path)] == [True, True, False]
