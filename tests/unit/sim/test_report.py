"""The simulation's plot is an optional extra: without matplotlib it says how to install it."""

import sys

import pytest

from sim.metrics import TimeSeries
from sim.report import PlottingUnavailable, plot


def test_plotting_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as where the plot extra is not installed
    with pytest.raises(PlottingUnavailable, match=r"pip install 'aifactory\[plot\]'"):
        plot(TimeSeries(), tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
