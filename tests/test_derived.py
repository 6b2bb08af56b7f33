"""Derived model files: a private folder of this user, written atomically, checked against the digest."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import faceswap.models.derived as derived
from faceswap.config import Settings
from faceswap.models.derived import cache_dir, private_dir
from faceswap.models.loader import clear_model_cache, load_models
from faceswap.models.precision import fp16_model_file
from faceswap.models.registry import DETECTOR
from faceswap.testing.synthetic import write_models


class Warnings(logging.Handler):
    """The warnings faceswap.models.derived logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[Warnings]:
    handler = Warnings()
    logger = logging.getLogger(derived.__name__)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def pack(tmp_path: Path) -> Iterator[Path]:
    write_models(tmp_path / "pack")
    clear_model_cache()
    yield tmp_path / "pack"
    clear_model_cache()


def copies(directory: Path) -> list[Path]:
    """The optimized copies in `directory`: one each of the detector, the recognizer and the swapper."""
    return sorted(directory.glob("optimized-*/model.onnx"))


def test_a_read_only_model_dir_caches_in_this_users_private_folder(
    pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(derived.Path, "home", lambda: home)
    monkeypatch.setattr(derived.os, "access", lambda path, mode: Path(path) != pack)
    folder = cache_dir(pack)
    assert folder == home / ".cache" / "faceswap"
    load_models(Settings(model_dir=pack, providers="cpu"))
    assert len(copies(folder)) == 3
    info = folder.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (os.getuid(), 0o700)
    assert not (pack / ".cache").exists()


def test_a_cache_folder_open_to_others_is_closed_before_use(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    assert private_dir(folder)
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_cache_folder_of_another_user_is_never_used(
    pack: Path, monkeypatch: pytest.MonkeyPatch, warnings: Warnings
) -> None:
    settings = Settings(model_dir=pack, providers="cpu")
    load_models(settings)
    planted = {str(copy) for copy in copies(pack / ".cache")}
    assert len(planted) == 3
    clear_model_cache()
    someone_else = os.getuid() + 1
    monkeypatch.setattr(derived.os, "getuid", lambda: someone_else)
    assert not private_dir(pack / ".cache")
    assert cache_dir(pack) != pack / ".cache"
    monkeypatch.setattr(derived.Path, "home", lambda: pack / "elsewhere")
    models = load_models(settings)
    sessions = (models.detector.session, models.recognizer.session, models.swapper.session)
    assert not {session._model_path for session in sessions} & planted
    assert any("not a folder owned by this user" in message for message in warnings.messages)


def test_a_tampered_optimized_copy_is_discarded_rebuilt_and_logged(pack: Path, warnings: Warnings) -> None:
    settings = Settings(model_dir=pack, providers="cpu")
    load_models(settings)
    honest = {copy: copy.read_bytes() for copy in copies(pack / ".cache")}
    for copy in honest:
        copy.write_bytes((pack / DETECTOR.path).read_bytes())
    clear_model_cache()
    models = load_models(settings)
    assert {copy: copy.read_bytes() for copy in copies(pack / ".cache")} == honest
    assert [value.name for value in models.swapper.session.get_inputs()] == models.swapper.input_names
    assert len(models.swapper.input_names) == 2
    assert any("do not match their digest" in message for message in warnings.messages)


def test_a_tampered_fp16_conversion_is_discarded_and_made_again(pack: Path, warnings: Warnings) -> None:
    source = pack / "inswapper_128.onnx"
    converted = fp16_model_file(source, pack / ".cache")
    honest = converted.read_bytes()
    converted.write_bytes(honest[:-16] + bytes(16))
    assert fp16_model_file(source, pack / ".cache") == converted
    assert converted.read_bytes() == honest
    assert any("does not match its digest" in message for message in warnings.messages)
