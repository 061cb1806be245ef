"""numbers.numeric_change: lines equal but for their numbers, and how far those are apart."""

from __future__ import annotations

import math

import pytest

from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.numbers import numeric_change


def test_a_bootstrap_that_moved_in_the_last_digits_is_within_float_noise():
    change = numeric_change("mean = 0.4187310092 (n=100)", "mean = 0.4187310092000007 (n=100)", Tolerance())
    assert change is not None and change.within and change.count == 1
    assert change.max_abs == pytest.approx(7.0e-16, rel=0.1) and change.max_rel == pytest.approx(1.7e-15, rel=0.1)
    assert change.first == ("0.4187310092", "0.4187310092000007")


def test_a_change_beyond_the_tolerance_says_how_far():
    change = numeric_change("p = 0.050, t = 2.1", "p = 0.049, t = 2.1", Tolerance(rtol=0.01))
    assert change is not None and not change.within
    assert change.max_abs == pytest.approx(0.001) and change.max_rel == pytest.approx(0.02)
    assert numeric_change("p = 0.050, t = 2.1", "p = 0.049, t = 2.1", Tolerance(rtol=0.05)).within


@pytest.mark.parametrize("live, replayed", [
    ("mean = 0.41", "median = 0.41"),  # the words changed
    ("gene2 3.5", "gene3 3.5"),  # digits of a name are not a number
    ("x = 1", "x = 1"),  # nothing differs
    ("a 1 2", "a 1 2 3"),  # one more number
])
def test_lines_that_differ_otherwise_are_not_a_numeric_change(live, replayed):
    assert numeric_change(live, replayed, Tolerance(rtol=1.0)) is None


def test_one_number_written_two_ways_and_nan_are_not_differences():
    change = numeric_change("x 1e-3 y nan z 1.50", "x 1.0e-3 y NaN z 1.5", Tolerance(rtol=0.0))
    assert change is not None and change.count == 0 and change.within and change.max_abs == 0.0


def test_zero_recorded_makes_the_relative_difference_infinite_and_only_atol_can_cover_it():
    change = numeric_change("residual 0", "residual 1e-17", Tolerance())
    assert change is not None and math.isinf(change.max_rel) and not change.within
    assert numeric_change("residual 0", "residual 1e-17", Tolerance(atol=1e-15)).within


def test_integers_are_exact_but_for_a_declared_atol_and_leading_zeros_are_text():
    # two readings of time.time_ns(): a relative 5e-10 apart, inside float noise, yet a clock
    change = numeric_change("at 1795986302472021823", "at 1795986303460785501", Tolerance())
    assert change is not None and not change.within
    assert not numeric_change("n = 1000000", "n = 1000001", Tolerance(rtol=1e-5, declared=True)).within
    assert numeric_change("n = 1000000", "n = 1000001", Tolerance(atol=1, declared=True)).within
    assert numeric_change("best sample: 007", "best sample: 7", Tolerance(atol=1, declared=True)) is None  # a code
    assert numeric_change("x = 1000000.0", "x = 1000000.0000001", Tolerance()).within  # a float: noise
