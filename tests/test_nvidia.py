import onnxruntime as ort
import pytest

from faceswap.runtime.nvidia import preload_cuda_libraries


def test_the_lines_onnx_runtime_prints_are_returned_and_stdout_stays_clean(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def preload_dlls() -> None:
        print("Failed to load libcublasLt.so.13: cannot open shared object file")  # noqa: T201
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")  # noqa: T201

    monkeypatch.setattr(ort, "preload_dlls", preload_dlls)
    lines = preload_cuda_libraries()
    assert lines[0] == "Failed to load libcublasLt.so.13: cannot open shared object file"
    assert len(lines) == 2
    assert capsys.readouterr().out == ""


def test_it_runs_on_this_machine_whether_or_not_nvidias_wheels_are_installed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = preload_cuda_libraries()
    assert all(isinstance(line, str) and line for line in lines)
    assert capsys.readouterr().out == ""
