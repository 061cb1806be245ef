"""The one rule for the JSON the registry stores (step parameters, run options)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scidex_replay.errors import BadInput


def plain_json(value: Mapping[str, Any] | None, what: str = "parameters") -> dict[str, Any]:
    """``value`` as the registry stores and gives it back (a JSON round trip); ``BadInput`` if it is not plain JSON.

    Recording runs the step with this copy, so the code sees what replay will pass.
    """
    try:
        return json.loads(json.dumps(dict(value or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{what} must be plain JSON: {exc}") from exc
