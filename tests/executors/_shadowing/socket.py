"""A step's own module named like one of the standard library's: importing it leaves a mark."""

import os
from pathlib import Path

Path(os.environ["SHADOW_MARK"]).write_text("imported")
