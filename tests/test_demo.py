"""``scidex-replay demo``: real data shipped with matplotlib (the ``demo`` extra), named steps, a replay, a fork."""

from __future__ import annotations

import sys

from sqlalchemy import select

from scidex_replay.registry.models import StepRow
from scidex_replay.surfaces.cli import main


def test_demo_without_matplotlib_says_how_to_install_it_in_one_line(home, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without the extra looks like
    assert main(["demo"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pip install 'scidex-replay[demo]'" in err


def test_the_demo_records_named_steps_replays_them_and_forks_once(registry, capsys):
    assert main(["demo"]) == 0
    with registry.session() as s:
        names = sorted(s.scalars(select(StepRow.name)))
    # the recorded chain, plus the two steps the fork made (stats with another RISK_FREE, and report)
    assert names == ["chart", "clean", "report", "report", "returns", "stats", "stats"]
    out = capsys.readouterr().out
    assert "data home: " in out
    assert "5 reproduced; 6 of 6 outputs byte-identical" in out
    assert "--set stats.env.RISK_FREE=0.05: 2 forked, 3 reused" in out
    # real figures from matplotlib's Stocks.csv: AAPL's Sharpe ratio at 2% and at 5% risk-free
    assert "AAPL 31.3%/yr, volatility 31.6%, Sharpe 0.93" in out and "Sharpe 0.83" in out
    assert len(out.splitlines()) <= 16
