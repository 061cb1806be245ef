"""``scidex-replay demo`` needs matplotlib, which only the ``demo`` extra installs."""

from __future__ import annotations

import sys

from scidex_replay.surfaces.cli import main


def test_demo_without_matplotlib_says_how_to_install_it_in_one_line(home, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without the extra looks like
    assert main(["demo"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pip install 'scidex-replay[demo]'" in err
