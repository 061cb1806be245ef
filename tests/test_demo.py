"""``scidex-replay demo`` needs matplotlib, which only the ``demo`` extra installs."""

from __future__ import annotations

import sys

from scidex_replay.surfaces.cli import main


def test_demo_without_matplotlib_says_how_to_install_it_in_one_line(home, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without the extra looks like
    assert main(["demo"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pip install 'scidex-replay[demo]'" in err


def test_the_demo_records_named_steps_that_reproduce(registry, capsys):
    assert main(["demo"]) == 0
    from sqlalchemy import select

    from scidex_replay.registry.models import StepRow

    with registry.session() as s:
        names = sorted(s.scalars(select(StepRow.name)))
    assert names == ["chart", "clean", "fit", "report", "summarize"]
    assert "5 reproduced" in capsys.readouterr().out
