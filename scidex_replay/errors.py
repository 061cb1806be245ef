"""The error hierarchy. Only the edges translate these: the CLI maps them to exit
codes (see ``surfaces/cli.py``), the magic turns them into ``UsageError``."""

from __future__ import annotations


def one_line(text: object) -> str:
    """``text`` (an exception's message, a command's stderr) with every run of whitespace made one space."""
    return " ".join(str(text).split())


def utf8_text(text: str, what: str) -> str:
    """``text`` when it is valid UTF-8, which is what the registry stores; otherwise ``BadInput``
    naming ``what`` (a file name or argument that is not UTF-8 reaches Python as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            shown = text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        except UnicodeEncodeError:
            shown = ascii(text)
        raise BadInput(f"{what} {shown}: not valid UTF-8, so it cannot be recorded; rename it") from None
    return text


class ReplayError(Exception):
    """Base of every error scidex-replay raises on purpose."""

    exit_code = 1


class BadInput(ReplayError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = 2


class NotFound(BadInput):
    """An artifact, step or run id that the registry does not know."""


class ChainNotFound(NotFound):
    """No chain of recorded steps leads to the artifact."""


class RegistryUnavailable(BadInput):
    """The database URL cannot be opened or is not a scidex-replay registry."""


class StepNotRecorded(ReplayError):
    """A step ran but the registry refused to record it; it is kept aside (``pending``)."""


class StoreUnwritable(BadInput):
    """The blob store cannot be written here (a permission, a read-only file system); the
    message names the folder (exit 2)."""


class IntegrityError(ReplayError):
    """Stored bytes no longer match the hash they are filed under."""


class HandlerMissing(ReplayError):
    """No handler is registered for a step_type."""


class HandlerInvalid(ReplayError):
    """A handler failed validation when it was registered."""


class StepFailed(ReplayError):
    """A step's command or function failed (non-zero exit, exception, timeout)."""


class CycleError(ReplayError):
    """The recorded steps form a cycle; the message names the steps."""


class OutputMissing(StepFailed):
    """A step ran without error but never wrote its declared output (exit 2 when recording)."""

    exit_code = 2


class Notice(UserWarning):
    """Something the user should know that is not an error (a repair, an upgrade); the CLI shows
    it as one ``scidex-replay: notice: ...`` line on stderr, Python as a warning."""


class StoreNotice(Notice):
    """The blob store repaired something (a damaged blob replaced, its bytes quarantined)."""
