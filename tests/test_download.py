"""The model download against a real HTTP server on 127.0.0.1 serving a synthetic pack."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import faceswap.models.command
import faceswap.models.http_file
import faceswap.models.install
import faceswap.models.sources
from faceswap.config import Settings
from faceswap.errors import DownloadError
from faceswap.models.check import verify_model_dir
from faceswap.models.command import main
from faceswap.models.extras import OPTIONAL_NAMES, optional_sources, parse_names
from faceswap.models.install import download_models
from faceswap.models.loader import clear_model_cache, load_models
from faceswap.models.registry import (
    DETECTOR,
    GUARD_MODEL_SPECS,
    MODEL_SPECS,
    OPTIONAL_MODEL_SPECS,
    RECOGNIZER,
    SWAPPER,
)
from faceswap.models.sources import DEFAULT_SOURCES, Source, load_manifest
from faceswap.testing.synthetic import write_models

ROOT = Path(__file__).resolve().parent.parent
ZIP = "/v0.7/buffalo_l.zip"
ONNX = "/resolve/main/inswapper_128.onnx"


@dataclass
class Files:
    """What the server serves, how it misbehaves, and what it was asked."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    cut_next: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def handler_for(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            files.requests.append((self.path, self.headers.get("Range")))
            body = files.bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and not files.ignore_range:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            cut = files.cut_next.pop(self.path, None)
            self.wfile.write(body[start:cut])
            if cut is not None:
                self.close_connection = True

    return Handler


@pytest.fixture
def files() -> Files:
    return Files()


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up early (as the downloader does on a wrong size) is no error here."""


@pytest.fixture
def server(files: Files) -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), handler_for(files))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The synthetic model files by their path under the model dir."""
    directory = tmp_path_factory.mktemp("pack")
    write_models(directory)
    return {spec.path: (directory / spec.path).read_bytes() for spec in MODEL_SPECS}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def manifest(files: Files, server: str, pack: dict[str, bytes]) -> list[dict[str, object]]:
    """Serve the pack (a zip with det + rec + an unused model, and the swapper) and describe it."""
    archive = zip_of(
        {
            "det_10g.onnx": pack[DETECTOR.path],
            "w600k_r50.onnx": pack[RECOGNIZER.path],
            "genderage.onnx": b"not needed",
        }
    )
    files.bodies.update({ZIP: archive, ONNX: pack[SWAPPER.path]})
    members = {DETECTOR.path: "det_10g.onnx", RECOGNIZER.path: "w600k_r50.onnx"}
    return [
        {
            "urls": [server + ZIP],
            "size": len(archive),
            "sha256": sha256(archive),
            "files": [
                {"path": path, "member": member, "size": len(pack[path]), "sha256": sha256(pack[path])}
                for path, member in members.items()
            ],
        },
        {
            "urls": [server + ONNX],
            "files": [
                {"path": SWAPPER.path, "size": len(pack[SWAPPER.path]), "sha256": sha256(pack[SWAPPER.path])}
            ],
        },
    ]


def sources(entries: list[dict[str, object]]) -> tuple[Source, ...]:
    return tuple(Source.model_validate(entry) for entry in entries)


def leftovers(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*.part"))


def test_the_pack_is_downloaded_extracted_and_loads(
    tmp_path: Path, manifest: list[dict[str, object]], pack: dict[str, bytes]
) -> None:
    written = download_models(tmp_path, sources(manifest))
    assert written == [DETECTOR.path, RECOGNIZER.path, SWAPPER.path]
    for spec in MODEL_SPECS:
        assert (tmp_path / spec.path).read_bytes() == pack[spec.path]
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == [
        "det_10g.onnx",
        "inswapper_128.onnx",
        "w600k_r50.onnx",
    ]
    clear_model_cache()
    assert load_models(Settings(model_dir=tmp_path, providers="cpu")).providers == ("CPUExecutionProvider",)
    clear_model_cache()


def test_files_that_pass_their_checks_are_skipped(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files
) -> None:
    download_models(tmp_path, sources(manifest))
    files.requests.clear()
    assert download_models(tmp_path, sources(manifest)) == []
    assert files.requests == []
    assert download_models(tmp_path, sources(manifest), force=True) == [
        DETECTOR.path,
        RECOGNIZER.path,
        SWAPPER.path,
    ]
    assert len(files.requests) == 2


def test_only_the_missing_member_is_extracted_again(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files
) -> None:
    download_models(tmp_path, sources(manifest))
    (tmp_path / RECOGNIZER.path).unlink()
    detector_before = (tmp_path / DETECTOR.path).stat().st_mtime_ns
    files.requests.clear()
    assert download_models(tmp_path, sources(manifest)) == [RECOGNIZER.path]
    assert [path for path, _ in files.requests] == [ZIP]
    assert (tmp_path / DETECTOR.path).stat().st_mtime_ns == detector_before


def test_an_interrupted_download_leaves_no_final_file_and_resumes(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files, pack: dict[str, bytes]
) -> None:
    half = len(pack[SWAPPER.path]) // 2
    files.cut_next[ONNX] = half
    with pytest.raises(DownloadError, match="stopped") as caught:
        download_models(tmp_path, sources(manifest), attempts=1)
    assert "run the command again to resume from inswapper_128.onnx.part" in str(caught.value)
    assert not (tmp_path / SWAPPER.path).exists()
    assert leftovers(tmp_path) == ["inswapper_128.onnx.part"]
    assert (tmp_path / "inswapper_128.onnx.part").stat().st_size == half
    files.requests.clear()
    assert download_models(tmp_path, sources(manifest), attempts=1) == [SWAPPER.path]
    assert files.requests == [(ONNX, f"bytes={half}-")]
    assert (tmp_path / SWAPPER.path).read_bytes() == pack[SWAPPER.path]
    assert leftovers(tmp_path) == []


def test_an_interruption_is_retried_within_the_run(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files, pack: dict[str, bytes]
) -> None:
    files.cut_next[ONNX] = 1000
    download_models(tmp_path, sources(manifest), attempts=2, backoff=0)
    assert [entry for entry in files.requests if entry[0] == ONNX] == [(ONNX, None), (ONNX, "bytes=1000-")]
    assert (tmp_path / SWAPPER.path).read_bytes() == pack[SWAPPER.path]


def test_an_interrupted_archive_leaves_no_model_and_resumes(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files, pack: dict[str, bytes]
) -> None:
    files.cut_next[ZIP] = 5000
    with pytest.raises(DownloadError, match=r"buffalo_l\.zip"):
        download_models(tmp_path, sources(manifest), attempts=1)
    assert not (tmp_path / DETECTOR.path).exists()
    assert leftovers(tmp_path) == ["buffalo_l.zip.part"]
    download_models(tmp_path, sources(manifest), attempts=1)
    assert (ZIP, "bytes=5000-") in files.requests
    assert (tmp_path / DETECTOR.path).read_bytes() == pack[DETECTOR.path]
    assert leftovers(tmp_path) == []


def test_a_server_that_ignores_the_range_makes_it_restart(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files, pack: dict[str, bytes]
) -> None:
    files.cut_next[ONNX] = 1000
    files.ignore_range = True
    with pytest.raises(DownloadError):
        download_models(tmp_path, sources(manifest), attempts=1)
    download_models(tmp_path, sources(manifest), attempts=1)
    assert (tmp_path / SWAPPER.path).read_bytes() == pack[SWAPPER.path]


def test_a_checksum_mismatch_is_refused_and_discarded(
    tmp_path: Path, manifest: list[dict[str, object]]
) -> None:
    manifest[1]["files"][0]["sha256"] = "0" * 64  # type: ignore[index]
    with pytest.raises(DownloadError, match="does not match its published SHA-256") as caught:
        download_models(tmp_path, sources(manifest))
    assert "inswapper_128.onnx" in str(caught.value)
    assert not (tmp_path / SWAPPER.path).exists()
    assert leftovers(tmp_path) == []


def test_a_size_mismatch_is_refused_before_downloading(
    tmp_path: Path, manifest: list[dict[str, object]]
) -> None:
    manifest[1]["files"][0]["size"] = 554_253_681  # type: ignore[index]
    with pytest.raises(DownloadError, match="published file has 554,253,681"):
        download_models(tmp_path, sources(manifest))
    assert not (tmp_path / SWAPPER.path).exists()
    assert leftovers(tmp_path) == []


def test_a_download_that_is_not_the_model_is_refused(
    tmp_path: Path, manifest: list[dict[str, object]], files: Files, pack: dict[str, bytes]
) -> None:
    files.bodies[ONNX] = pack[RECOGNIZER.path]
    entry = manifest[1]["files"][0]  # type: ignore[index]
    entry["size"], entry["sha256"] = len(pack[RECOGNIZER.path]), sha256(pack[RECOGNIZER.path])
    with pytest.raises(DownloadError, match=r"inswapper_128\.onnx failed its check \(wrong kind\)"):
        download_models(tmp_path, sources(manifest))
    assert not (tmp_path / SWAPPER.path).exists()
    assert leftovers(tmp_path) == []


def test_the_next_url_is_tried_when_one_fails(
    tmp_path: Path, manifest: list[dict[str, object]], server: str
) -> None:
    manifest[1]["urls"] = [server + "/gone/inswapper_128.onnx", server + ONNX]
    download_models(tmp_path, sources(manifest))
    assert verify_model_dir(tmp_path)[2].ok


def test_an_http_error_is_reported_with_its_status(
    tmp_path: Path, manifest: list[dict[str, object]], server: str
) -> None:
    manifest[1]["urls"] = [server + "/gone/inswapper_128.onnx"]
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        download_models(tmp_path, sources(manifest))


def test_a_bad_zip_is_discarded(tmp_path: Path, manifest: list[dict[str, object]], files: Files) -> None:
    files.bodies[ZIP] = b"PK\x03\x04 this is no zip"
    del manifest[0]["size"], manifest[0]["sha256"]
    with pytest.raises(DownloadError, match="not a valid zip archive"):
        download_models(tmp_path, sources(manifest))
    assert leftovers(tmp_path) == []


def test_a_manifest_naming_an_unknown_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps([{"urls": ["https://example.org/x.onnx"], "files": [{"path": "../../etc/passwd"}]}])
    )
    with pytest.raises(DownloadError, match=r"manifest\.json is not valid at 0\.files\.0\.path"):
        load_manifest(path)


def test_the_default_sources_carry_the_published_sizes_and_digests() -> None:
    artifacts = {artifact.path: artifact for source in DEFAULT_SOURCES for artifact in source.files}
    assert set(artifacts) == {spec.path for spec in MODEL_SPECS}
    for spec in MODEL_SPECS:
        assert (artifacts[spec.path].size, artifacts[spec.path].sha256) == (spec.size, spec.sha256)
    buffalo, swapper = DEFAULT_SOURCES
    assert buffalo.urls == (
        "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
    )
    assert buffalo.is_archive and not swapper.is_archive
    assert all(url.startswith("https://") for source in DEFAULT_SOURCES for url in source.urls)


def test_the_command_downloads_then_verifies(
    tmp_path: Path, manifest: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    model_dir = tmp_path / "models"
    assert main(["download", "--dir", str(model_dir), "--manifest", str(path)]) == 0
    assert main(["verify", "--dir", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0:2] for line in out.splitlines()] == [["ok", spec.path] for spec in MODEL_SPECS]
    (model_dir / SWAPPER.path).unlink()
    assert main(["verify", "--dir", str(model_dir)]) == 1
    assert "inswapper_128.onnx is missing" in capsys.readouterr().out


def test_the_command_fails_with_one_line(tmp_path: Path, manifest: list[dict[str, object]]) -> None:
    manifest[1]["files"][0]["sha256"] = "0" * 64  # type: ignore[index]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    env = {**os.environ, "NO_PROXY": "*", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceswap.models",
            "download",
            "--dir",
            str(tmp_path / "m"),
            "--manifest",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The download of inswapper_128.onnx does not match its published SHA-256")
    assert "Traceback" not in result.stderr


def test_the_public_names_are_pinned() -> None:
    assert faceswap.models.command.__all__ == ["main"]
    assert faceswap.models.install.__all__ == ["download_models"]
    assert faceswap.models.sources.__all__ == ["DEFAULT_SOURCES", "Artifact", "Source", "load_manifest"]
    assert faceswap.models.http_file.__all__ == ["check_digest", "fetch_with_retries"]


OPTIONAL = "/models-3.0.0/gfpgan_1.4.onnx"


@pytest.fixture(scope="module")
def optional_pack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The optional models' stand-ins by their path under the model dir."""
    directory = tmp_path_factory.mktemp("optional")
    write_models(directory)
    return {spec.path: (directory / spec.path).read_bytes() for spec in OPTIONAL_MODEL_SPECS}


def optional_entry(server: str, path: str, data: bytes) -> dict[str, object]:
    return {"urls": [server + OPTIONAL], "files": [{"path": path, "size": len(data), "sha256": sha256(data)}]}


def test_with_names_the_optional_models_or_all() -> None:
    assert parse_names("gfpgan_1.4, xseg_1") == ("gfpgan_1.4", "xseg_1")
    assert parse_names("all") == tuple(spec.name for spec in (*OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS))
    with pytest.raises(
        ValueError, match=re.escape("unknown optional model restoreformer: choose from gfpgan_1.4")
    ):
        parse_names("restoreformer")
    with pytest.raises(ValueError, match="unknown optional model restoreformer"):
        parse_names("all,restoreformer")
    with pytest.raises(SystemExit):
        main(["download", "--with", "restoreformer"])


def test_the_optional_sources_are_facefusions_releases_with_the_pinned_digests() -> None:
    sources_by_path = {source.files[0].path: source for source in optional_sources(OPTIONAL_NAMES)}
    everything = (*OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS)
    assert set(sources_by_path) == {spec.path for spec in everything}
    for spec in everything:
        source = sources_by_path[spec.path]
        (artifact,) = source.files
        assert (artifact.size, artifact.sha256) == (spec.size, spec.sha256)
        assert source.urls[0].startswith("https://github.com/facefusion/facefusion-assets/releases/download/")
        assert source.urls[0].endswith("/" + spec.path.split("/")[1])
    assert sources_by_path["masks/xseg_1.onnx"].urls[0].split("/")[-2] == "models-3.1.0"
    assert sources_by_path["guard/nsfw_3.onnx"].urls[0].split("/")[-2] == "models-3.3.0"
    listed = sources(
        [{"urls": ["https://example.com/g.onnx"], "files": [{"path": "enhancers/gfpgan_1.4.onnx"}]}]
    )
    assert [source.files[0].path for source in optional_sources(["gfpgan_1.4", "xseg_1"], listed)] == [
        "masks/xseg_1.onnx"
    ]


def test_an_optional_model_is_downloaded_checked_and_installed(
    tmp_path: Path, server: str, files: Files, optional_pack: dict[str, bytes]
) -> None:
    path = "enhancers/gfpgan_1.4.onnx"
    files.bodies[OPTIONAL] = optional_pack[path]
    written = download_models(tmp_path, sources([optional_entry(server, path, optional_pack[path])]))
    assert written == [path]
    assert (tmp_path / path).read_bytes() == optional_pack[path]
    assert leftovers(tmp_path) == []


def test_a_download_of_the_wrong_optional_model_is_refused(
    tmp_path: Path, server: str, files: Files, optional_pack: dict[str, bytes]
) -> None:
    wrong = optional_pack["masks/bisenet_resnet_34.onnx"]
    files.bodies[OPTIONAL] = wrong
    with pytest.raises(
        DownloadError, match=re.escape("enhancers/gfpgan_1.4.onnx failed its check (wrong kind)")
    ):
        download_models(tmp_path, sources([optional_entry(server, "enhancers/gfpgan_1.4.onnx", wrong)]))
    assert not (tmp_path / "enhancers" / "gfpgan_1.4.onnx").exists()


def test_the_command_fetches_the_core_and_the_named_optional_models(
    tmp_path: Path,
    server: str,
    files: Files,
    manifest: list[dict[str, object]],
    optional_pack: dict[str, bytes],
) -> None:
    path = "enhancers/gfpgan_1.4.onnx"
    files.bodies[OPTIONAL] = optional_pack[path]
    listing = tmp_path / "manifest.json"
    listing.write_text(json.dumps([*manifest, optional_entry(server, path, optional_pack[path])]))
    model_dir = tmp_path / "models"
    assert (
        main(["download", "--dir", str(model_dir), "--manifest", str(listing), "--with", "gfpgan_1.4"]) == 0
    )
    assert (model_dir / path).read_bytes() == optional_pack[path]
    assert main(["verify", "--dir", str(model_dir)]) == 0


def test_a_swapper_checked_by_crc32_is_installed_or_refused_by_its_checksum(
    tmp_path: Path, server: str, files: Files, optional_pack: dict[str, bytes]
) -> None:
    path = "swappers/ghost_1_256.onnx"
    data = optional_pack[path]
    files.bodies[OPTIONAL] = data
    checksum = f"{zlib.crc32(data):08x}"
    wrong = f"{zlib.crc32(data) ^ 1:08x}"
    with pytest.raises(DownloadError, match=re.escape("does not match its published CRC32")):
        download_models(
            tmp_path, sources([{"urls": [server + OPTIONAL], "files": [{"path": path, "crc32": wrong}]}])
        )
    assert not (tmp_path / path).exists() and leftovers(tmp_path) == []
    entry = {"urls": [server + OPTIONAL], "files": [{"path": path, "crc32": checksum}]}
    assert download_models(tmp_path, sources([entry])) == [path]
    assert (tmp_path / path).read_bytes() == data


def test_the_swappers_come_from_facefusions_releases_with_their_checks() -> None:
    by_path = {source.files[0].path: source for source in optional_sources(OPTIONAL_NAMES)}
    hyperswap = by_path["swappers/hyperswap_1a_256.onnx"]
    assert hyperswap.urls[0].split("/")[-2] == "models-3.3.0"
    assert hyperswap.files[0].size == 402_742_682 and hyperswap.files[0].sha256
    assert by_path["swappers/crossface_ghost.onnx"].urls[0].split("/")[-2] == "models-3.4.0"
    assert by_path["swappers/crossface_ghost.onnx"].files[0].crc32 == "6cabb296"
    assert by_path["swappers/uniface_256.onnx"].files[0].model_dump(exclude={"path"}) == {
        "member": None,
        "size": None,
        "sha256": None,
        "crc32": None,
    }
