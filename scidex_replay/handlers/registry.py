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
    """step_type -> handler instance, one handler per step_type."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._refused: dict[str, str] = {}  # step_type -> why it has no handler

    def register(self, handler: object, name: str | None = None) -> Handler:
        """Validate and add ``handler``; raise ``HandlerInvalid`` naming what is wrong.

        A second handler for a step_type is refused, naming both: which code
        replays a step must not depend on the order plugins were found in.
        """
        label = name or getattr(handler, "step_type", repr(handler))
        for attr in ("step_type", "version"):
            if not isinstance(getattr(handler, attr, None), str) or not getattr(handler, attr):
                raise HandlerInvalid(f"handler {label!r}: missing string attribute {attr!r}")
        if not callable(handler):
            raise HandlerInvalid(f"handler {label!r}: not callable as handler(step, inputs, output)")
        step_type = handler.step_type
        if name is not None and step_type != name:
            raise HandlerInvalid(f"handler {label!r}: its step_type is {step_type!r}, not the entry-point name")
        if step_type in self._refused:
            raise HandlerInvalid(f"handler {_origin(handler)} for {step_type!r} refused: {self._refused[step_type]}")
        if step_type in self._handlers:
            raise HandlerInvalid(
                f"step_type {step_type!r} has two handlers, {_origin(self._handlers[step_type])} and {_origin(handler)}"
            )
        self._handlers[step_type] = handler  # type: ignore[assignment]
        return handler  # type: ignore[return-value]

    def _refuse(self, step_type: str, reason: str) -> None:
        """Leave ``step_type`` without a handler (dropping the one it had): ``get`` raises ``reason``."""
        self._handlers.pop(step_type, None)
        self._refused.setdefault(step_type, reason)

    def get(self, step_type: str) -> Handler:
        if step_type in self._refused:
            raise HandlerInvalid(self._refused[step_type])
        try:
            return self._handlers[step_type]
        except KeyError:
            raise HandlerMissing(f"no handler for step_type {step_type}") from None

    def __contains__(self, step_type: str) -> bool:
        return step_type in self._handlers

    def names(self) -> list[str]:
        return sorted(self._handlers)


def _origin(handler: object) -> str:
    return f"{type(handler).__module__}:{type(handler).__qualname__}"


@functools.cache
def load_handlers() -> HandlerRegistry:
    """Every handler in the ``scidex_replay.handlers`` entry-point group.

    A plugin that fails to load or validate, or claims a step_type another
    plugin claims too, is logged and leaves that step_type without a handler
    (``get`` raises ``HandlerInvalid`` saying why, and its steps are
    unreplayable), so one broken or conflicting plugin disables its own steps,
    not every step, and never silently the first-found handler.
    """
    registry = HandlerRegistry()
    for ep in entry_points(group=GROUP):
        try:
            registry.register(ep.load()(), name=ep.name)
        except Exception as exc:  # a third-party plugin may raise anything on import
            reason = f"handler {ep.name} ({ep.value}) not registered: {exc}"
            logger.warning("%s", reason)
            registry._refuse(ep.name, reason)
    return registry
