"""The doctor's local checks and its smoke test of a running endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import onnxruntime as ort
import pytest

from faceswap.config import Settings
from faceswap.doctor import checks as doctor_checks
from faceswap.doctor import facts as doctor_facts
from faceswap.doctor import report as doctor
from faceswap.doctor import smoke
from faceswap.doctor.checks import Check
from faceswap.doctor.facts import CudaProbe, Facts, Gpu, Memory
from faceswap.http.app import create_app
from faceswap.models.check import verify_model_dir
from faceswap.testing.synthetic import draw_faces, write_models
from tests.conftest import derive, encode_png
from tests.servers import app_in_thread, wait_ready

GiB = 1024**3
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 554253681\n"
CPU_ONLY = CudaProbe(("CPUExecutionProvider",))
CUDA_WORKS = CudaProbe(("CUDAExecutionProvider", "CPUExecutionProvider"), ("CUDAExecutionProvider",))
H200 = Gpu("NVIDIA H200", 143_771, 140_000, "580.95.05")
GOOD_PACKAGES = {"onnxruntime-gpu": "1.31.1", "opencv-python-headless": "5.0.0.93"} | {
    name: "1.0" for name in doctor_checks.REQUIRED
}


def facts(model_dir: Path, **changes: Any) -> Facts:
    base = Facts(
        python=(3, 12, 3),
        packages=GOOD_PACKAGES,
        providers_setting="auto",
        cuda=CUDA_WORKS,
        gpus=(H200,),
        gpu_error=None,
        model_dir=model_dir,
        models=tuple(verify_model_dir(model_dir)),
        memory=Memory(16 * GiB, 32 * GiB),
        disk_free=50 * GiB,
    )
    return Facts(**{**base.__dict__, **changes})


def by_name(report: doctor.Report) -> dict[str, Check]:
    return {check.name: check for check in report.checks}


def test_a_healthy_gpu_worker_passes_every_check(model_dir: Path) -> None:
    report = doctor.diagnose(facts(model_dir))
    assert report.ok
    assert {check.status for check in report.checks if check.name != "model licences"} == {"ok"}
    (licences,) = [check for check in report.checks if check.name == "model licences"]
    assert "non-commercial" in licences.summary and any(
        "hyperswap_1a_256" in line for line in licences.details
    )
    assert "nothing that would stop the service" in report.exit_code_3


@pytest.mark.parametrize(
    ("breakage", "kind"),
    [("missing", "missing"), ("lfs", "Git LFS pointer"), ("truncated", "truncated")],
)
def test_each_broken_model_file_fails_by_name(tmp_path: Path, breakage: str, kind: str) -> None:
    write_models(tmp_path)
    swapper = tmp_path / "inswapper_128.onnx"
    if breakage == "missing":
        swapper.unlink()
    elif breakage == "lfs":
        swapper.write_text(LFS_POINTER)
    else:
        swapper.write_bytes(swapper.read_bytes()[:5000])
    report = doctor.diagnose(facts(tmp_path))
    check = by_name(report)["model inswapper_128.onnx"]
    assert not report.ok
    assert check.status == "fail"
    assert check.summary.startswith(kind)
    assert "python -m faceswap.models download" in check.summary
    assert by_name(report)["model buffalo_l/det_10g.onnx"].status == "ok"


def test_an_lfs_pointer_is_named_as_the_likely_cause_of_exit_code_3(tmp_path: Path) -> None:
    write_models(tmp_path)
    (tmp_path / "buffalo_l" / "det_10g.onnx").write_text(LFS_POINTER)
    explanation = doctor.diagnose(facts(tmp_path)).exit_code_3
    assert "exit code 3" in explanation or "exits with code 3" in explanation
    assert "buffalo_l/det_10g.onnx is a Git LFS pointer" in explanation


def test_other_failures_are_listed_in_the_exit_code_3_explanation(model_dir: Path) -> None:
    report = doctor.diagnose(facts(model_dir, memory=Memory(1 * GiB, 2 * GiB)))
    assert "memory:" in report.exit_code_3


@pytest.mark.parametrize(
    ("probe", "setting", "gpus", "status"),
    [
        (CPU_ONLY, "cpu", None, "info"),
        (CPU_ONLY, "auto", None, "warn"),
        (CPU_ONLY, "auto", (H200,), "fail"),
        (CPU_ONLY, "cuda", None, "fail"),
        (CUDA_WORKS, "auto", (H200,), "ok"),
    ],
)
def test_cuda_is_judged_by_the_setting_and_the_visible_gpus(
    probe: CudaProbe, setting: str, gpus: tuple[Gpu, ...] | None, status: str
) -> None:
    check = doctor_checks.check_cuda(probe, setting, gpus)
    assert check.status == status
    if probe is CPU_ONLY:
        assert check.summary.startswith("CUDA not available")
        assert "onnxruntime-gpu" in check.summary


def test_a_silent_fallback_to_the_cpu_is_a_failure_on_a_gpu_machine() -> None:
    fell_back = CudaProbe(
        ("CUDAExecutionProvider", "CPUExecutionProvider"),
        ("CPUExecutionProvider",),
        loader_messages=(
            "Failed to load library libonnxruntime_providers_cuda.so: libcudnn.so.9: cannot open",
        ),
    )
    check = doctor_checks.check_cuda(fell_back, "auto", (H200,))
    assert check.status == "fail"
    assert "fell back to CPUExecutionProvider" in check.summary
    assert any("libcudnn.so.9" in line for line in check.details)


def test_the_cuda_probe_on_a_cpu_build_says_cuda_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    probe = doctor_facts.probe_cuda()
    assert not probe.works
    assert "CUDAExecutionProvider" not in probe.available
    assert doctor_checks.check_cuda(probe, "auto", None).summary.startswith("CUDA not available")


def test_the_cuda_probe_sees_a_session_that_did_not_get_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    # ONNX Runtime's default severity (warnings): insightface's FaceAnalysis, which earlier tests run,
    # raises it to errors for the whole process, and the GPU build's loader lines are warnings.
    ort.set_default_logger_severity(2)
    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    probe = doctor_facts.probe_cuda()
    assert not probe.works
    assert probe.error is None
    assert probe.session_providers[0] == "CPUExecutionProvider"
    assert any("CUDAExecutionProvider" in line for line in probe.loader_messages)
    check = doctor_checks.check_cuda(probe, "cuda", None)
    assert check.status == "fail"
    assert "fell back to CPUExecutionProvider" in check.summary


def test_an_onnx_runtime_that_cannot_be_imported_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    probe = doctor_facts.probe_cuda()
    assert probe.error is not None and probe.error.startswith("onnxruntime cannot be imported")
    check = doctor_checks.check_cuda(probe, "auto", None)
    assert check.summary.startswith("CUDA not available: ONNX Runtime itself cannot be imported")
    assert probe.error in check.details


def test_both_onnx_runtimes_installed_is_a_failure() -> None:
    check = doctor_checks.check_packages(GOOD_PACKAGES | {"onnxruntime": "1.32.0"})
    assert check.status == "fail"
    assert "onnxruntime-gpu alone" in check.summary


def test_opencv_with_gui_is_a_warning_and_missing_packages_fail() -> None:
    assert doctor_checks.check_packages(GOOD_PACKAGES | {"opencv-python": "5.0.0.93"}).status == "warn"
    missing = doctor_checks.check_packages(GOOD_PACKAGES | {"insightface": None})
    assert missing.status == "fail" and "insightface" in missing.summary


def test_python_before_3_11_fails() -> None:
    assert doctor_checks.check_python((3, 8, 10)).status == "fail"
    assert doctor_checks.check_python((3, 12, 3)).status == "ok"


def fake_run(stdout: str, returncode: int = 0) -> Any:
    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        assert "--format=csv,noheader,nounits" in command
        return subprocess.CompletedProcess(command, returncode, stdout, "NVIDIA-SMI has failed")

    return run


def test_gpus_are_read_from_nvidia_smi() -> None:
    gpus, error = doctor_facts.query_gpus(
        run=fake_run("NVIDIA H200, 143771, 140000, 580.95.05\n"), which=lambda _: "/usr/bin/nvidia-smi"
    )
    assert error is None
    assert gpus == (H200,)


def test_no_nvidia_smi_means_no_gpu_said_plainly() -> None:
    gpus, error = doctor_facts.query_gpus(which=lambda _: None)
    assert gpus is None
    check = doctor_checks.check_gpu(gpus, error)
    assert check.status == "info" and check.summary.startswith("No GPU: nvidia-smi is not installed")


def test_a_failing_nvidia_smi_is_reported_with_its_message() -> None:
    gpus, error = doctor_facts.query_gpus(
        run=fake_run("", returncode=9), which=lambda _: "/usr/bin/nvidia-smi"
    )
    assert gpus is None
    assert error is not None and "NVIDIA-SMI has failed" in error


def test_an_old_driver_and_a_full_gpu_are_flagged() -> None:
    old = Gpu("NVIDIA GeForce RTX 3090", 24_576, 20_000, "535.104.05")
    assert doctor_checks.check_gpu((old,), None).status == "fail"
    full = Gpu("NVIDIA L4", 23_034, 900, "580.65.06")
    check = doctor_checks.check_gpu((full,), None)
    assert check.status == "warn" and "900 MiB free" in check.summary


def test_memory_is_capped_by_the_container_limit(tmp_path: Path) -> None:
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir()
    cgroup.mkdir()
    (proc / "meminfo").write_text("MemTotal:       65536000 kB\nMemAvailable:   60000000 kB\n")
    (cgroup / "memory.max").write_text(f"{3 * GiB}\n")
    (cgroup / "memory.current").write_text(f"{2 * GiB}\n")
    memory = doctor_facts.read_memory(proc, cgroup)
    assert memory == Memory(1 * GiB, 65536000 * 1024, 3 * GiB)
    assert doctor_checks.check_memory(memory).status == "fail"
    (cgroup / "memory.max").write_text("max\n")
    assert doctor_facts.read_memory(proc, cgroup).available == 60000000 * 1024


def test_memory_thresholds() -> None:
    assert doctor_checks.check_memory(Memory(3 * GiB, 8 * GiB)).status == "warn"
    assert doctor_checks.check_memory(Memory(8 * GiB, 8 * GiB)).status == "ok"
    assert doctor_checks.check_memory(Memory(None, None)).status == "info"


def test_cpus_name_the_container_quota_when_there_is_one() -> None:
    assert doctor_checks.check_cpus(16, None, 16).status == "ok"
    capped = doctor_checks.check_cpus(4, 4, 64)
    assert capped.status == "info"
    assert "allows 4 of the 64" in capped.summary and "run 4 threads" in capped.summary


def test_disk_must_hold_the_models_still_to_download(tmp_path: Path) -> None:
    models = tuple(verify_model_dir(tmp_path))
    assert doctor_checks.check_disk(1 * GiB, models, tmp_path).status == "fail"
    assert doctor_checks.check_disk(2 * GiB, models, tmp_path).status == "ok"


def test_the_text_report_reads_well(model_dir: Path) -> None:
    text = doctor.render_text(doctor.diagnose(facts(model_dir, cuda=CPU_ONLY, gpus=None, gpu_error="none")))
    assert "[WARN] cuda" in text
    assert "CUDA not available" in text
    assert "Result: all checks passed, 1 warning(s)." in text
    assert "About exit code 3:" in text


def test_main_exits_0_when_all_pass_and_1_otherwise(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(doctor, "gather_facts", lambda settings, error=None: facts(model_dir))
    assert doctor.main([], {}) == 0
    assert "all checks passed" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "gather_facts", lambda settings, error=None: facts(tmp_path))
    assert doctor.main(["--json"], {}) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert {check["name"] for check in report["checks"] if check["status"] == "fail"} >= {
        "model inswapper_128.onnx"
    }


def test_the_real_checks_on_this_machine(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACESWAP_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("FACESWAP_PROVIDERS", "cpu")
    code = doctor.main(["--json"], {})
    report = json.loads(capsys.readouterr().out)
    checks = {check["name"]: check for check in report["checks"]}
    assert code == (0 if report["ok"] else 1)
    assert checks["python"]["status"] == "ok"
    assert all(checks[f"model {path}"]["status"] == "ok" for path in ("inswapper_128.onnx",))
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert checks["cuda"]["status"] == "info"
        assert checks["cuda"]["summary"].startswith("CUDA not available")


def test_an_invalid_setting_is_a_failure_and_the_checks_still_run(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACESWAP_MAX_DIMENSION", "1")
    monkeypatch.setattr(
        doctor, "gather_facts", lambda settings, error=None: facts(model_dir, settings_error=error)
    )
    assert doctor.main([], {"FACESWAP_MODEL_DIR": str(model_dir)}) == 1
    assert "FACESWAP_MAX_DIMENSION is not valid" in capsys.readouterr().out


# The smoke test


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[str]:
    with app_in_thread(create_app(settings)) as url:
        wait_ready(url)
        yield url


@pytest.mark.parametrize("path", ["", "/", "/runsync", "/swap"])
def test_smoke_passes_against_a_running_service(service: str, path: str) -> None:
    swap_input, synthetic = smoke.build_input(None, None, 1)
    result = smoke.run_smoke(service + path, swap_input, synthetic=synthetic, timeout=60)
    assert result.ok, result.verdict
    assert result.answer is not None and result.answer["success"] is True
    assert result.answer["image_base64_chars"] > 0
    assert "image_base64" not in result.answer
    assert result.latency_ms > 0


def test_smoke_command_prints_json_without_the_image(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert doctor.main(["smoke", "--endpoint", service, "--json"], {}) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["ok"] is True and result["job_status"] == "COMPLETED"
    assert len(out) < 5000


def test_smoke_with_files_reports_the_endpoints_error(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(encode_png(draw_faces(320, 240, 0)[0]))
    assert doctor.main(["smoke", "--endpoint", service, "--target", str(empty)], {}) == 1
    out = capsys.readouterr().out
    assert "FAIL: the endpoint answered NO_FACE: No face was found in the target image." in out


def test_smoke_sends_the_api_key_from_the_environment(settings: Settings) -> None:
    keyed = derive(settings, api_key="k3y")
    with app_in_thread(create_app(keyed)) as url:
        wait_ready(url)
        swap_input, synthetic = smoke.build_input(None, None, 1)
        refused = smoke.run_smoke(url, swap_input, synthetic=synthetic, timeout=60)
        assert not refused.ok and refused.http_status == 401
        assert "UNAUTHORIZED" in refused.verdict
        assert doctor.main(["smoke", "--endpoint", url], {"RUNPOD_API_KEY": "k3y"}) == 0


def runpod_cloud(replies: list[dict[str, Any]], seen: list[httpx.Request]) -> httpx.MockTransport:
    """RunPod's cloud API: /runsync answers IN_QUEUE, then each /status poll the next reply."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/runsync"):
            return httpx.Response(200, json={"id": "job-42", "status": "IN_QUEUE"})
        return httpx.Response(200, json=replies.pop(0))

    return httpx.MockTransport(handle)


def test_smoke_polls_runpods_status_until_the_job_completes() -> None:
    no_face = {"success": False, "error_code": "NO_FACE", "message": "No face was found in the source image."}
    replies = [
        {"id": "job-42", "status": "IN_PROGRESS"},
        {"id": "job-42", "status": "COMPLETED", "output": no_face, "executionTime": 812},
    ]
    seen: list[httpx.Request] = []
    swap_input, synthetic = smoke.build_input(None, None, 1)
    result = smoke.run_smoke(
        "https://api.runpod.ai/v2/abc123/runsync",
        swap_input,
        synthetic=synthetic,
        api_key="rp-key",
        poll_interval=0.01,
        transport=runpod_cloud(replies, seen),
    )
    assert result.ok
    assert "NO_FACE is expected for the synthetic image" in result.verdict
    assert result.polls == 2
    assert result.answer is not None and result.answer["executionTime"] == 812
    assert [request.url.path for request in seen] == [
        "/v2/abc123/runsync",
        "/v2/abc123/status/job-42",
        "/v2/abc123/status/job-42",
    ]
    assert all(request.headers["authorization"] == "Bearer rp-key" for request in seen)
    assert json.loads(seen[0].content)["input"]["source_image"]


def test_no_face_in_a_real_photo_is_a_failure() -> None:
    no_face = {"success": False, "error_code": "NO_FACE", "message": "No face was found in the source image."}
    seen: list[httpx.Request] = []
    result = smoke.run_smoke(
        "https://api.runpod.ai/v2/abc123",
        {"source_url": "https://example.com/me.jpg", "target_url": "https://example.com/t.jpg"},
        synthetic=frozenset(),
        poll_interval=0.01,
        transport=runpod_cloud([{"status": "COMPLETED", "output": no_face}], seen),
    )
    assert not result.ok
    assert seen[0].url.path == "/v2/abc123/runsync"


def test_a_failed_job_reports_the_sdk_error() -> None:
    failed = [{"id": "job-42", "status": "FAILED", "error": "handler crashed"}]
    result = smoke.run_smoke(
        "https://api.runpod.ai/v2/abc123/runsync",
        {"source_image": "x", "target_image": "y"},
        poll_interval=0.01,
        transport=runpod_cloud(failed, []),
    )
    assert not result.ok
    assert result.verdict == "the job ended FAILED: handler crashed"


def test_a_job_that_never_leaves_the_queue_times_out() -> None:
    replies = [{"id": "job-42", "status": "IN_QUEUE"}] * 100
    result = smoke.run_smoke(
        "https://api.runpod.ai/v2/abc123/runsync",
        {"source_image": "x", "target_image": "y"},
        timeout=0.2,
        poll_interval=0.05,
        transport=runpod_cloud(list(replies), []),
    )
    assert not result.ok
    assert result.job_status == "IN_QUEUE"
    assert "no answer within 0.2 s" in result.verdict


def test_an_unreachable_endpoint_is_said_plainly() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    result = smoke.run_smoke("http://127.0.0.1:9/", {}, transport=httpx.MockTransport(refuse))
    assert not result.ok
    assert result.verdict.startswith("could not reach 127.0.0.1: ConnectError")


def test_a_bad_endpoint_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main(["smoke", "--endpoint", "ftp://example.com"], {}) == 2
    assert "http(s) URL" in capsys.readouterr().err


def test_the_synthetic_pack_is_named_as_such(model_dir: Path) -> None:
    report = doctor.diagnose(facts(model_dir))
    summary = by_name(report)["model inswapper_128.onnx"].summary
    assert "synthetic test models: swaps prove plumbing only" in summary
