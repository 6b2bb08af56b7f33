"""Fixtures: the synthetic model pack, loaded models, an engine, images and real servers."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceswap.config import Settings
from faceswap.models.loader import FaceModels, load_models
from faceswap.pipeline.engine import Engine
from faceswap.testing.synthetic import draw_faces, write_models
from tests.receivers import Receivers
from tests.servers import ImageHost


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic model pack in the contract's layout."""
    directory = tmp_path_factory.mktemp("models")
    write_models(directory)
    return directory


@pytest.fixture(scope="session")
def settings(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over the synthetic pack, on the CPU, loopback URLs allowed, jobs in a temporary folder; the
    watermark off, so tests can compare pixels exactly (tests/test_provenance.py turns it on on every entry
    point)."""
    data_dir = tmp_path_factory.mktemp("data")
    return Settings(
        model_dir=model_dir, providers="cpu", allow_private_urls=True, watermark=False, data_dir=data_dir
    )


@pytest.fixture(scope="session")
def models(settings: Settings) -> FaceModels:
    """The synthetic pack loaded through the real loader and ONNX Runtime path."""
    return load_models(settings)


@pytest.fixture(scope="module")
def engine(models: FaceModels, settings: Settings) -> Engine:
    """An Engine over the synthetic pack, with the session's settings."""
    return Engine(models, settings)


SOURCE_SEED = 9
"""The synthetic identity of the `large` fixture's source face."""


@pytest.fixture(scope="module")
def large() -> tuple[bytes, bytes, np.ndarray, tuple[int, int, int, int]]:
    """Source PNG, target PNG, target pixels and its one face's box (a 525 px face)."""
    target, boxes = draw_faces(1024, 700, 1, seed=3)
    source, _ = draw_faces(640, 480, 1, seed=SOURCE_SEED)
    return encode_png(source), encode_png(target), target, boxes[0]


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a BGR image."""
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def one_face_png() -> bytes:
    """A 640x480 PNG with one synthetic face."""
    return encode_png(draw_faces(640, 480, 1, seed=1)[0])


@pytest.fixture(scope="session")
def two_faces_png() -> bytes:
    """A 800x600 PNG with two synthetic faces."""
    return encode_png(draw_faces(800, 600, 2, seed=2)[0])


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    """An HTTP image host on 127.0.0.1."""
    host = ImageHost()
    yield host
    host.close()


def derive(base: Settings, **changes: object) -> Settings:
    """`base` with `changes`, validated like any Settings; jobs in a folder of their own unless given."""
    changes.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="faceswap-data-")))
    return Settings.model_validate({**base.model_dump(), **changes})


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    """HTTP receivers for uploads and webhooks; each one a test starts is closed after it."""
    made = Receivers()
    yield made
    made.close()
