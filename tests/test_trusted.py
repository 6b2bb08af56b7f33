"""Digests trusted by file identity: an unchanged file is hashed once, any change is hashed again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import faceswap.models.trusted as trusted
from faceswap.config import Settings
from faceswap.models.derived import find_file, publish_file
from faceswap.models.loader import clear_model_cache, load_models
from faceswap.models.trusted import RECORD_FILE, digest_matches, record_digests
from faceswap.testing.synthetic import write_models


class Hashes:
    """Counts the files faceswap.models.trusted hashes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Path] = []
        real = trusted.file_sha256

        def counting(path: Path) -> str:
            self.paths.append(path)
            return real(path)

        monkeypatch.setattr(trusted, "file_sha256", counting)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return Hashes(monkeypatch)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as settled at once (no racy window)."""
    monkeypatch.setattr(trusted, "RACY_NS", -(10**12))


def written(folder: Path, name: str, data: bytes) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@pytest.mark.usefixtures("settled")
def test_an_unchanged_file_is_hashed_once(tmp_path: Path, hashes: Hashes) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    assert digest_matches(path, digest, tmp_path)
    assert digest_matches(path, digest, tmp_path)
    assert digest_matches(path, digest, tmp_path)
    assert hashes.paths == [path]


@pytest.mark.usefixtures("settled")
def test_a_file_rewritten_in_place_with_its_times_restored_is_hashed_again_and_refused(
    tmp_path: Path, hashes: Hashes
) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    assert digest_matches(path, digest, tmp_path)
    before = path.stat()
    with path.open("r+b") as stream:
        stream.write(b"planted")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert not digest_matches(path, digest, tmp_path)
    assert hashes.paths == [path, path]


@pytest.mark.usefixtures("settled")
def test_a_file_replaced_by_another_with_the_same_times_is_hashed_again_and_refused(
    tmp_path: Path, hashes: Hashes
) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    assert digest_matches(path, digest, tmp_path)
    before = path.stat()
    planted, _ = written(tmp_path, "planted", b"planted" * 1000)
    os.utime(planted, ns=(before.st_atime_ns, before.st_mtime_ns))
    planted.replace(path)
    assert not digest_matches(path, digest, tmp_path)
    assert len(hashes.paths) == 2


@pytest.mark.usefixtures("settled")
def test_a_record_naming_another_digest_is_not_trusted(tmp_path: Path, hashes: Hashes) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    record_digests(tmp_path, {path: "0" * 64})
    assert digest_matches(path, digest, tmp_path)
    assert hashes.paths == [path]


def test_a_file_changed_just_now_is_not_recorded(tmp_path: Path, hashes: Hashes) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    assert digest_matches(path, digest, tmp_path)
    assert digest_matches(path, digest, tmp_path)
    assert hashes.paths == [path, path]
    assert not (tmp_path / RECORD_FILE).exists()


@pytest.mark.usefixtures("settled")
def test_an_unreadable_record_costs_a_hash_not_a_refusal(tmp_path: Path, hashes: Hashes) -> None:
    path, digest = written(tmp_path, "model.onnx", b"weights" * 1000)
    (tmp_path / RECORD_FILE).write_text("{not json")
    assert digest_matches(path, digest, tmp_path)
    assert json.loads((tmp_path / RECORD_FILE).read_text())["model.onnx"]["sha256"] == digest


@pytest.mark.usefixtures("settled")
def test_a_published_file_is_found_without_hashing(tmp_path: Path, hashes: Hashes) -> None:
    target = publish_file(b"converted" * 1000, tmp_path, "model.fp16")
    assert find_file(tmp_path, "model.fp16") == target
    assert hashes.paths == []


@pytest.mark.usefixtures("settled")
def test_the_optimized_copy_is_not_hashed_at_a_usual_start(tmp_path: Path, hashes: Hashes) -> None:
    write_models(tmp_path / "pack")
    settings = Settings(model_dir=tmp_path / "pack", providers="cpu")
    clear_model_cache()
    try:
        load_models(settings)
        clear_model_cache()
        load_models(settings)
    finally:
        clear_model_cache()
    assert hashes.paths == []
