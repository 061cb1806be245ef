"""The error hierarchy. Only the edges translate these: the CLI maps them to exit
codes (see ``surfaces/cli.py``), the magic turns them into ``UsageError``."""

from __future__ import annotations

import errno
import os
import stat


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


class Conflict(BadInput):
    """What is asked clashes with what is going on: a restart of a run that is still running (exit 2)."""


class RegistryUnavailable(BadInput):
    """The database URL cannot be opened or is not a scidex-replay registry."""


class StepNotRecorded(ReplayError):
    """A step ran but the registry refused to record it; it is kept aside (``pending``)."""


class StoreUnwritable(BadInput):
    """The blob store cannot be written here (a permission, a read-only file system); the
    message names the folder (exit 2)."""


class StoreUnavailable(BadInput):
    """A shared blob store (``--store URL``) cannot be used: its endpoint cannot be reached, its
    bucket is missing, its credentials are refused; the message names the store (exit 2)."""


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


class StorageError(ReplayError):
    """The machine refused to read or store bytes: a full disk or quota, a file too large for
    the limits, a file that cannot be read (exit 2, one line, like every refusal)."""

    exit_code = 2


#: errnos that mean "there is no room to write": the disk, a quota, a file size limit.
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def regular_file(path: str | os.PathLike[str], what: str = "file") -> None:
    """Return when ``path`` is a regular file (or a link to one). Otherwise ``BadInput``: ``no such
    file: PATH`` when nothing is there (a dangling link included), ``WHAT PATH is a FIFO, not a
    regular file`` (a directory, a socket, a device), or ``cannot read PATH: REASON``."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise BadInput(f"no such file: {os.fspath(path)}") from None
    except (OSError, ValueError) as exc:  # EACCES on a folder on the way, ELOOP, a NUL in the name
        raise BadInput(f"cannot read {os.fspath(path)!s}: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
        raise BadInput(f"{what} {os.fspath(path)} is {kind}, not a regular file")


def storage_error(exc: OSError, reading: str | os.PathLike[str], where: str | os.PathLike[str]) -> StorageError:
    """The one-line ``StorageError`` for ``exc``, raised while the bytes of ``reading`` were copied to
    ``where``: no room there (``NO_ROOM``), or ``reading`` could not be read."""
    reason = exc.strerror or str(exc)
    if exc.errno in NO_ROOM:
        return StorageError(f"cannot store {os.fspath(reading)}: {reason} (writing in {os.fspath(where)}); nothing was stored")
    return StorageError(f"cannot read {os.fspath(reading)}: {reason}")


class Notice(UserWarning):
    """Something the user should know that is not an error (a repair, an upgrade); the CLI shows
    it as one ``scidex-replay: notice: ...`` line on stderr, Python as a warning."""


class StoreNotice(Notice):
    """The blob store repaired something (a damaged blob replaced, its bytes quarantined)."""
