import io
import logging

import pytest

from faceswap.constants import MiB
from faceswap.models.progress import download_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_tenth_with_rate_and_time_left(caplog: pytest.LogCaptureFixture) -> None:
    progress = download_progress("inswapper_128.onnx", 0, 100 * MiB, stream=io.StringIO())
    with caplog.at_level(logging.INFO, logger="faceswap.models.progress"):
        for _ in range(100):
            progress.advance(MiB)
        progress.close()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 10
    assert lines[0].startswith("inswapper_128.onnx: 10% of 100 MiB, ")
    assert lines[-1].startswith("inswapper_128.onnx: 100% of 100 MiB, ")
    assert all("/s, " in line and line.endswith(" left") for line in lines)


def test_a_resumed_download_reports_only_what_is_left(caplog: pytest.LogCaptureFixture) -> None:
    progress = download_progress("buffalo_l.zip", 50 * MiB, 100 * MiB, stream=io.StringIO())
    with caplog.at_level(logging.INFO, logger="faceswap.models.progress"):
        for _ in range(50):
            progress.advance(MiB)
    percents = [record.getMessage().split(": ")[1].split("%")[0] for record in caplog.records]
    assert percents == ["60", "70", "80", "90", "100"]


def test_a_terminal_gets_a_bar_with_bytes_and_rate(caplog: pytest.LogCaptureFixture) -> None:
    screen = Terminal()
    progress = download_progress("det_10g.onnx", 0, 4 * MiB, stream=screen)
    with caplog.at_level(logging.INFO, logger="faceswap.models.progress"):
        for _ in range(4):
            progress.advance(MiB)
        progress.close()
    drawn = screen.getvalue()
    assert "det_10g.onnx" in drawn and "100%" in drawn and "4.00M/4.00M" in drawn and "B/s" in drawn
    assert not caplog.records
