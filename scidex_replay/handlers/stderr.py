"""One-line summaries of a failed command's standard error.

A failed step's message (printed by the CLI on one line, kept as the manifest's
``reason``) must say *why* it failed. For a Python program the useful part of
stderr is not its tail but two lines of the last traceback: the exception and
the innermost frame of the user's own code — a ``pandas.read_csv`` error ends
in ten pandas frames, and the line of ``fit.py`` that called it is above them::

    FileNotFoundError: [Errno 2] No such file or directory: 'x.csv' | at fit.py:12 in <module>: df = pd.read_csv('x.csv')

Any other program's summary is its last five non-empty lines joined with
``" | "``. Either way the text is made safe to print: decoded as UTF-8 with
replacement, terminal escape sequences and control characters removed,
whitespace collapsed, and cut to a length limit in the middle (``…``).
"""

from __future__ import annotations

import os
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache

from scidex_replay.errors import one_line

__all__ = ["failure_summary"]

DEFAULT_LIMIT = 600
TAIL_LINES = 5
SEP = " | "
ELLIPSIS = "…"
# Only the end of a huge stderr is read: a traceback is at its end.
WINDOW_BYTES = 1 << 20

# ECMA-48 escape sequences: CSI (colours, cursor moves), OSC (window titles,
# hyperlinks) ended by BEL or ST, DCS/SOS/PM/APC strings, two-character escapes,
# and the 8-bit CSI/OSC introducers.
_ANSI = re.compile(
    r"""
    (?: \x1b\[ | \x9b ) [0-?]* [ -/]* [@-~]             # CSI
  | (?: \x1b\] | \x9d ) [^\x07\x1b\x9c\n]* (?: \x07 | \x1b\\ | \x9c )  # OSC, ended by BEL or ST
  | \x1b [PX^_] [^\x1b\x9c\n]* (?: \x1b\\ | \x9c )                # DCS, SOS, PM, APC
  | \x1b [ -/]* [0-~]                                  # other escapes (ESC ( B, ESC c…)
  | \x1b                                               # a lone ESC
    """,
    re.VERBOSE,
)
# Bidirectional overrides and isolates reorder what a terminal shows.
_BIDI = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
# Unicode category Cc: C0 controls, DEL, C1 controls (newlines are split on before).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_HEADER = re.compile(r"^(?P<prefix>[ |+]*?)(?:Exception Group )?Traceback \(most recent call last\):\s*$")
_FRAME = re.compile(r'^  File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<func>.*?))?\s*$')
_BARE_FRAME = re.compile(r'^\s*File "(?P<file>.*)", line (?P<line>\d+)\s*$')
_MARKERS = re.compile(r"^[\s^~]+$")
_REPEATED = re.compile(r"^\s*\[Previous line repeated \d+ more times?\]\s*$")
_EXC_NAME = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt)(?::|$)")
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_GROUP_MEMBER = re.compile(r"^[ |+\-]*?\| (?=\S)(?P<text>.*)$")


@dataclass(frozen=True)
class _Frame:
    file: str
    line: int
    func: str | None
    source: str | None


def failure_summary(stderr: bytes, *, limit: int = DEFAULT_LIMIT, cwd: str | os.PathLike[str] | None = None) -> str:
    """Summarise a failed command's ``stderr`` in one line of at most ``limit`` characters.

    - Python traceback (the last ``Traceback (most recent call last):`` block,
      so the final exception of a chain; an exception group's own traceback;
      a ``SyntaxError`` report without a header): ``EXCEPTION | at
      FILE:LINE in FUNC: SOURCE``, where the frame is the innermost one of the
      user's code — not in site-packages/dist-packages, the standard library
      or ``<frozen …>`` — or the innermost frame if none is. ``FILE`` is
      relative to ``cwd`` when inside it, as given when relative, else its
      basename (a library file: its path inside site-packages or the stdlib).
      Lines that follow the exception line (a multi-line message, notes,
      later output) or an exception group's sub-exceptions come last.
    - Anything else: the last five non-empty lines joined with ``" | "``.

    The result has no newline or control character (terminal escapes are
    removed) and whitespace runs are collapsed. When too long, parts are cut in
    the middle with ``…``: the exception line is kept first, then the frame.
    Empty stderr gives ``""``.
    """
    if limit <= 0:
        return ""
    lines = _lines(stderr[-WINDOW_BYTES:])
    python = _python_summary(lines, cwd, limit)
    if python is not None:
        return python
    last = [clean for line in lines if (clean := one_line(line))][-TAIL_LINES:]
    return _cut(SEP.join(last), limit, head=0.3)


# --- text --------------------------------------------------------------------


def _lines(data: bytes) -> list[str]:
    """Decoded, escape-free lines; each keeps its indentation (the traceback's structure)."""
    text = _ANSI.sub("", data.decode("utf-8", "replace"))
    text = text.replace("\r\n", "\n").translate(_BIDI)
    out = []
    for raw in text.split("\n"):
        # A carriage return rewrites the line on a terminal (progress bars): keep what stays visible.
        segments = [s for s in raw.split("\r") if s.strip()]
        line = segments[-1] if segments else ""
        out.append(_CONTROL.sub("", line.replace("\t", "    ")).rstrip())
    return out


def _cut(text: str, limit: int, *, head: float = 0.5) -> str:
    """``text`` in at most ``limit`` characters: its start and end around ``…``."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    keep = limit - 1
    start = round(keep * head)
    end = keep - start
    return text[:start].rstrip() + ELLIPSIS + (text[len(text) - end :].lstrip() if end else "")


# --- Python tracebacks -------------------------------------------------------


def _python_summary(lines: list[str], cwd: str | os.PathLike[str] | None, limit: int) -> str | None:
    block = _last_block(lines)
    if block is None:
        return None
    body, rest = block
    frames, exception, after = _parse(body)
    if exception is None:
        return None
    extra = [one_line(line) for line in after if line.strip()]
    members = _group_members(rest) if rest is not None else []
    if members:
        extra.append("sub-exceptions: " + "; ".join(members))
    frame = _pick(frames)
    where, source = _describe(frame, cwd) if frame is not None else ("", "")
    return _assemble(one_line(exception), where, source, SEP.join(extra), limit)


def _last_block(lines: list[str]) -> tuple[list[str], list[str] | None] | None:
    """The last top-level traceback: its lines without the exception-group prefix, and what follows a group's own part."""
    headers = [(i, m.group("prefix")) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    top = [(i, p) for i, p in headers if p in ("", "  + ")]
    if top or headers:
        index, prefix = (top or headers)[-1]
        if not prefix:
            return lines[index + 1 :], None
        # Exception group: "  + Exception Group Traceback…", then "  | " lines up to "  +-+---- 1 ----".
        body_prefix = prefix.replace("+", "|")
        bare = body_prefix.rstrip()
        body: list[str] = []
        end = len(lines)
        for j in range(index + 1, len(lines)):
            line = lines[j]
            if line.startswith(body_prefix):
                body.append(line[len(body_prefix) :])
            elif line == bare:
                body.append("")
            else:
                end = j
                break
        return body, lines[end:]
    # A SyntaxError in the script itself has no header: '  File "x.py", line 3', source, caret, 'SyntaxError: …'.
    for i in range(len(lines) - 1, -1, -1):
        if _BARE_FRAME.match(lines[i]) and any(_EXC_NAME.match(line) for line in lines[i + 1 : i + 6]):
            body = lines[i:]
            body[0] = "  " + body[0].lstrip()
            return body, None
    return None


def _parse(body: list[str]) -> tuple[list[_Frame], str | None, list[str]]:
    """Frames, the exception line and the lines after it, from a traceback's body."""
    frames: list[_Frame] = []
    current: dict | None = None
    for k, line in enumerate(body):
        if m := _FRAME.match(line):
            if current is not None:
                frames.append(_Frame(**current))
            current = {"file": m.group("file"), "line": int(m.group("line")), "func": m.group("func"), "source": None}
        elif not line.strip() or _MARKERS.match(line) or _REPEATED.match(line):
            continue
        elif line.startswith(" "):
            if current is not None and current["source"] is None:
                current["source"] = one_line(line)
            # Other indented lines (3.13 multi-line source, "..." elisions) are not needed.
        else:
            if current is not None:
                frames.append(_Frame(**current))
            return frames, line, body[k + 1 :]
    if current is not None:
        frames.append(_Frame(**current))
    return frames, None, []


def _group_members(rest: list[str]) -> list[str]:
    """The exception lines of an exception group's members (deduplicated, in order)."""
    seen: list[str] = []
    for line in rest:
        m = _GROUP_MEMBER.match(line)
        if not m:
            continue
        text = one_line(m.group("text"))
        if _HEADER.match(text) or text.startswith(_CHAIN) or text.startswith("File ") or not text:
            continue
        if text not in seen:
            seen.append(text)
    return seen


def _pick(frames: list[_Frame]) -> _Frame | None:
    for frame in reversed(frames):
        if not _is_library(frame.file):
            return frame
    return frames[-1] if frames else None


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path) if p]


@lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.normcase(os.path.normpath(paths[k])) for k in ("stdlib", "platstdlib") if paths.get(k)}
    return tuple(sorted(dirs))


def _stdlib_root(path: str) -> str | None:
    normal = os.path.normcase(os.path.normpath(path))
    for root in _stdlib_dirs():
        if normal.startswith(root + os.sep):
            return root
    return None


def _is_library(path: str) -> bool:
    if path.startswith("<frozen"):
        return True
    parts = [p.lower() for p in _parts(path)]
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    if "/lib/python3." in path.replace("\\", "/").lower():
        return True
    # Windows: C:\Python311\Lib\json\decoder.py
    if any(a.startswith("python") and b == "lib" for a, b in zip(parts, parts[1:])):
        return True
    return _stdlib_root(path) is not None


def _display_path(path: str, cwd: str | os.PathLike[str] | None) -> str:
    if path.startswith("<"):
        return path
    parts = _parts(path)
    lowered = [p.lower() for p in parts]
    for marker in ("site-packages", "dist-packages"):
        if marker in lowered:
            inside = parts[len(lowered) - lowered[::-1].index(marker) :]
            return "/".join(inside) or path
    for i, part in enumerate(lowered[:-1]):
        if re.fullmatch(r"python3\.\d+", part) and i > 0 and lowered[i - 1] == "lib":
            return "/".join(parts[i + 1 :])
    root = _stdlib_root(path)
    if root is not None:
        return os.path.relpath(os.path.normpath(path), root).replace(os.sep, "/")
    if cwd is not None and os.path.isabs(path):
        base = os.path.normpath(os.fspath(cwd))
        normal = os.path.normpath(path)
        if normal.startswith(base.rstrip(os.sep) + os.sep):
            return os.path.relpath(normal, base).replace(os.sep, "/")
    if not os.path.isabs(path) and not re.match(r"^[A-Za-z]:[\\/]", path):
        return path
    return parts[-1] if parts else path


def _describe(frame: _Frame, cwd: str | os.PathLike[str] | None) -> tuple[str, str]:
    """``at FILE:LINE in FUNC`` and the frame's source line (possibly empty)."""
    where = f"at {one_line(_display_path(frame.file, cwd))}:{frame.line}"
    if frame.func:
        where += f" in {one_line(frame.func)}"
    return where, frame.source or ""


def _location(where: str, source: str, room: int) -> str:
    """``where: source`` in ``room`` characters, cutting the source before the place."""
    text = f"{where}: {source}" if source else where
    if len(text) <= room:
        return text
    if source and room - len(where) - 2 >= 12:
        return f"{where}: " + _cut(source, room - len(where) - 2, head=0.6)
    if len(where) <= room:
        return where
    place = where.split(" in ", 1)[0]  # "at FILE:LINE"
    return place if len(place) <= room else _cut(place, room, head=0.3)


def _assemble(exception: str, where: str, source: str, extra: str, limit: int) -> str:
    """``exception | where: source | extra`` in ``limit`` characters.

    Extra lines are cut first, then the location and the exception share the room
    (the exception keeps at least two thirds); too little room for the location drops it.
    """
    location = _location(where, source, 1 << 62) if where else ""
    text = SEP.join(p for p in (exception, location, extra) if p)
    if len(text) <= limit:
        return text
    core = SEP.join(p for p in (exception, location) if p)
    room = limit - len(core) - len(SEP)
    if extra and room >= 20:
        return core + SEP + _cut(extra, room, head=0.6)
    if len(core) <= limit:
        return core
    budget = limit - len(SEP)
    if len(exception) <= budget * 2 // 3:
        exception_room = len(exception)
    elif len(location) <= budget // 3:
        exception_room = budget - len(location)
    else:
        exception_room = budget - budget // 3
    location_room = budget - exception_room
    if not location or location_room < 20:
        return _cut(exception, limit, head=0.6)
    location = _location(where, source, location_room)
    return _cut(exception, budget - len(location), head=0.6) + SEP + location
