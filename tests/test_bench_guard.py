"""The guard's benchmark stand-ins: their size and work match the published models they stand in for."""

from __future__ import annotations

import pytest

from bench.guard import vit_model, yolo_model

PUBLISHED = {
    # name: (parameters, multiply-accumulates per forward), from the model cards and the file sizes
    "nsfw_1": (20.1e6, 34.0e9),  # YOLO11m at 640: 20.1 M parameters, 68.0 GFLOPs
    "nsfw_2": (5.6e6, 4.6e9),  # ViT-tiny/16 at 384: 22.5 MB of float32; work counted from its layers
    "nsfw_3": (87.0e6, 107.0e9),  # EVA-02 base/14 at 448: 358 MB of float32; timm lists 107 GMACs
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_each_stand_in_costs_what_the_published_model_costs(name: str) -> None:
    builders = {
        "nsfw_1": lambda: yolo_model(materialize=False),
        "nsfw_2": lambda: vit_model("nsfw_2", 384, 16, 192, 12, 768, False, 2, 22, materialize=False),
        "nsfw_3": lambda: vit_model("nsfw_3", 448, 14, 768, 12, 2048, True, 4, 23, materialize=False),
    }
    _, params, macs = builders[name]()
    expected_params, expected_macs = PUBLISHED[name]
    assert abs(params / expected_params - 1) < 0.2, params
    assert abs(macs / expected_macs - 1) < 0.2, macs
