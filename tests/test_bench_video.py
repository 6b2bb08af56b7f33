from pathlib import Path

from bench.video import measure


def test_the_clip_bench_reports_frames_per_second_and_memory_along_the_clip(model_dir: Path) -> None:
    report = measure(model_dir, "cpu", 20, (256, 256), "mp4")
    assert report["frames"] == 20
    assert isinstance(report["frames_per_second"], float) and report["frames_per_second"] > 0
    tenths = report["rss_by_tenth_mb"]
    assert isinstance(tenths, list) and len(tenths) == 11  # after the first frame, then each tenth
    assert all(value > 0 for value in tenths)
    assert report["peak_rss_mb"] >= min(tenths)
