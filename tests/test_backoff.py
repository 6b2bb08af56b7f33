import itertools

import faceswap.runtime.backoff
from faceswap.runtime.backoff import backoff_delays


def test_delays_double_from_the_first_up_to_the_cap() -> None:
    delays = backoff_delays(1.0, 30.0)
    assert list(itertools.islice(delays, 8)) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_delays_without_a_cap_keep_doubling() -> None:
    assert list(itertools.islice(backoff_delays(2.0), 5)) == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_a_first_delay_above_the_cap_is_capped() -> None:
    assert list(itertools.islice(backoff_delays(10.0, 8.0), 2)) == [8.0, 8.0]


def test_no_delay_stays_no_delay() -> None:
    assert list(itertools.islice(backoff_delays(0.0), 3)) == [0.0, 0.0, 0.0]


def test_the_public_names_are_pinned() -> None:
    assert faceswap.runtime.backoff.__all__ == ["backoff_delays"]
