"""``minikn simulate --start-model measured`` takes the platform's recorded start times as they
are (no histogram rounding)."""

from __future__ import annotations

import pytest

from minikn.cli.commands.simulate import start_samples
from minikn.core.errors import InvalidInput


def test_recorded_start_times_are_used_exactly() -> None:
    answer = {"component": "predictor", "seconds": [0.7, 0.8, 2.5, 400.0]}
    assert start_samples(answer, "default/iris") == [0.7, 0.8, 2.5, 400.0]


def test_no_measurement_yet_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="no replica start of default/iris predictor yet"):
        start_samples({"component": "predictor", "seconds": []}, "default/iris")
