"""The one factory that wires handlers: built-ins and third parties alike come
from the entry-point group ``scidex_replay.handlers`` and are validated when
registered."""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points

from scidex_replay.errors import HandlerInvalid, HandlerMissing
from scidex_replay.handlers.spec import Handler

GROUP = "scidex_replay.handlers"
logger = logging.getLogger(__name__)


class HandlerRegistry:
    """step_type -> handler instance."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, handler: object, name: str | None = None) -> Handler:
        """Validate and add ``handler``; raise ``HandlerInvalid`` naming what is wrong."""
        label = name or getattr(handler, "step_type", repr(handler))
        for attr in ("step_type", "version"):
            if not isinstance(getattr(handler, attr, None), str) or not getattr(handler, attr):
                raise HandlerInvalid(f"handler {label!r}: missing string attribute {attr!r}")
        if not callable(handler):
            raise HandlerInvalid(f"handler {label!r}: not callable as handler(step, inputs, output)")
        if name is not None and handler.step_type != name:
            raise HandlerInvalid(f"handler {label!r}: its step_type is {handler.step_type!r}, not the entry-point name")
        self._handlers[handler.step_type] = handler  # type: ignore[assignment]
        return handler  # type: ignore[return-value]

    def get(self, step_type: str) -> Handler:
        try:
            return self._handlers[step_type]
        except KeyError:
            raise HandlerMissing(f"no handler for step_type {step_type}") from None

    def __contains__(self, step_type: str) -> bool:
        return step_type in self._handlers

    def names(self) -> list[str]:
        return sorted(self._handlers)


@functools.cache
def load_handlers() -> HandlerRegistry:
    """Every handler in the ``scidex_replay.handlers`` entry-point group.

    A handler that fails to load or validate is logged and left out, so one
    broken plugin makes its own steps unreplayable, not every step.
    """
    registry = HandlerRegistry()
    for ep in entry_points(group=GROUP):
        try:
            registry.register(ep.load()(), name=ep.name)
        except Exception as exc:  # a third-party plugin may raise anything on import
            logger.warning("handler %s (%s) not registered: %s", ep.name, ep.value, exc)
    return registry
