"""What containers share: a bounded report of their differences, and members compared by
their own format's comparator.

``Report`` keeps a container's differences in bounded memory and writes its summary from
short phrases (``zip member times (9 members)``, ``docProps/core.xml dcterms:modified``).
``compare_payloads`` compares one member of two archives: equal streams cost one read;
an office metadata member is read by field, an xlsx worksheet by cell (``office.py``);
any other member is streamed to a temporary file on each side and handed to
``compare_files``, whose differences come back named by the member. Nesting is bounded by
``MAX_DEPTH`` (deeper members compare byte by byte).
"""

from __future__ import annotations

import contextvars
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from scidex_replay.compare import office
from scidex_replay.compare.base import MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance

CHUNK = 1 << 20
#: how deep containers are unpacked (a zip in a tar in a gzip is depth 3)
MAX_DEPTH = 3
#: the longest readable diff kept, in characters (the members' diffs, one after another)
MAX_FULL_DIFF = 1 << 20
#: the most members whose own metrics are kept under ``metrics["members"]``
MAX_MEMBER_METRICS = 10
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("scidex_replay_archive_depth", default=0)

Opener = Callable[[], IO[bytes]]


class Report:
    """Differences found in a container, in bounded memory: up to ``MAX_DIFFERENCES`` of each
    kind are kept (content first in ``differences``), every one is counted; ``facets`` are
    the short phrases its summary names, per kind, each with how many members it touched."""

    def __init__(self) -> None:
        self.kept: dict[Kind, list[Difference]] = {k: [] for k in Kind}
        self.counts: dict[Kind, int] = {k: 0 for k in Kind}
        self.facets: dict[Kind, dict[str, int]] = {k: {} for k in Kind}
        self.metrics: dict[str, Any] = {}
        self.attachments: dict[str, Path] = {}
        self.diffs: list[str] = []
        self._diff_chars = 0
        self.first_content: Difference | None = None

    def add(self, difference: Difference, facet: str | None = None) -> None:
        kind = difference.kind
        self.counts[kind] += 1
        if len(self.kept[kind]) < MAX_DIFFERENCES:
            self.kept[kind].append(difference)
        if kind is Kind.CONTENT and self.first_content is None:
            self.first_content = difference
        if facet:
            self.facets[kind][facet] = self.facets[kind].get(facet, 0) + 1

    def full_diff(self, member: str, text: str | None) -> None:
        if text and self._diff_chars < MAX_FULL_DIFF:
            text = f"=== {member}\n{text}"[: MAX_FULL_DIFF - self._diff_chars]
            self.diffs.append(text)
            self._diff_chars += len(text)

    @property
    def differences(self) -> list[Difference]:
        order = (Kind.CONTENT, Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA)
        return [d for k in order for d in self.kept[k]]

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())

    def phrase(self, kinds: Iterable[Kind]) -> str:
        parts = []
        for kind in kinds:
            for facet, n in self.facets[kind].items():
                per_member = facet.endswith("member times") or facet.startswith("member ") and facet != "member order"
                parts.append(f"{facet} ({n} member{'s' if n > 1 else ''})" if per_member else facet)
        if len(parts) > 6:
            parts = parts[:6] + [f"{len(parts) - 6} more"]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""

    def _facet_count(self, kinds: Iterable[Kind]) -> int:
        return sum(len(self.facets[k]) for k in kinds)

    def comparison(self, comparator: str, what: str) -> Comparison:
        """The ``Comparison`` these differences make, its summary naming ``what`` was compared."""
        if self.counts[Kind.CONTENT]:
            first = self.first_content
            changed = self.metrics.get("members_changed")
            total = self.metrics.get("members_live")
            head = what
            if changed is not None and total:
                names = list(self.facets[Kind.CONTENT])
                head = f"{changed} of {total} members ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
            summary = f"content differs: {head}; first: {first.where}: {first.detail}"
            others = self.phrase([Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA])
            if others:
                summary += f"; also {others}"
        else:
            kinds = [Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA]
            said = self.phrase(kinds) or " and ".join(k.value for k in kinds if self.counts[k])
            summary = f"equivalent: only {said} differ{'s' if self._facet_count(kinds) <= 1 else ''}"
        if len(summary) > 400:
            summary = summary[:399] + "…"
        self.metrics["differences_by_kind"] = {k.value: n for k, n in self.counts.items() if n}
        return Comparison(
            comparator, summary, self.differences, self.metrics, dict(self.attachments),
            full_diff="".join(self.diffs) or None,
        )


@contextmanager
def deeper():
    token = _depth.set(_depth.get() + 1)
    try:
        yield _depth.get() > MAX_DEPTH
    finally:
        _depth.reset(token)


def same_stream(a: IO[bytes], b: IO[bytes]) -> bool:
    """Whether two streams hold the same bytes, read a chunk at a time."""
    while True:
        x, y = a.read(CHUNK), b.read(CHUNK)
        if x != y:
            return False
        if not x:
            return True


def compare_payloads(
    report: Report, member: str, live: Opener, replayed: Opener, tolerance: Tolerance, *,
    context: MemberContext | None = None,
) -> bool:
    """Compare one member (or a gzip payload) of two containers, opened by ``live()`` and
    ``replayed()``; its differences go to ``report`` under ``member``. True when they differ
    in content (a ``content`` difference was added)."""
    with live() as a, replayed() as b:
        if same_stream(a, b):
            return False
    context = context or MemberContext()
    before = report.counts[Kind.CONTENT]
    if office.is_metadata_member(member) and context.small(member):
        with live() as a, replayed() as b:
            fields = office.metadata_fields(member, a.read(), b.read())
        if fields is not None:
            for label, x, y in fields:
                report.add(Difference(f"{member} {label}", Kind.METADATA, f"{x} → {y}"))
            if fields:
                report.facets[Kind.METADATA][f"{member} {', '.join(f[0] for f in fields)}"] = 1
            else:  # the same fields, written differently (whitespace, attribute order)
                report.add(Difference(member, Kind.METADATA, "the same fields, serialised differently"), member)
            return False
    if context.sheets is not None and office.SHEET.match(member):
        where = f"{member} (sheet {context.sheets[member]!r})" if member in context.sheets else member
        with live() as a, replayed() as b:
            differences, metrics = office.compare_sheet(a, b, where=where, tolerance=tolerance, strings=context.strings)
        if not differences:
            differences = [Difference(where, Kind.METADATA, "the same cells and layout, serialised differently")]
            report.facets[Kind.METADATA][f"{member} serialisation"] = 1
        for d in differences:
            report.add(d, member if d.kind is Kind.CONTENT else None)
        if metrics["cells_within_tolerance"]:
            n = metrics["cells_within_tolerance"]
            report.facets[Kind.NUMERIC][f"numbers within tolerance in {member} ({n} cell{'s' if n > 1 else ''}, max abs diff {metrics['max_abs_diff']:.3g})"] = 1
        report.metrics.setdefault("members", {})[member] = metrics
        return report.counts[Kind.CONTENT] > before
    with tempfile.TemporaryDirectory(prefix="scidex-member-") as tmp:
        a_path, b_path = Path(tmp) / "live", Path(tmp) / "replayed"
        for opener, path in ((live, a_path), (replayed, b_path)):
            with opener() as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        compare_extracted(report, member, a_path, b_path, tolerance)
    return report.counts[Kind.CONTENT] > before


def compare_extracted(report: Report, member: str, a_path: Path, b_path: Path, tolerance: Tolerance) -> Comparison:
    """Compare two extracted members with the comparator the registry chooses for ``member``
    (bytes only beyond ``MAX_DEPTH`` nested containers); their differences, prefixed with the
    member's name, metrics, attachments and readable diff go to ``report``."""
    from scidex_replay.compare.registry import compare_files, load_comparators

    with deeper() as too_deep:
        if too_deep:
            inner = load_comparators().get("bytes").compare(a_path, b_path, name=member, tolerance=tolerance)
        else:
            inner = compare_files(a_path, b_path, name=member, tolerance=tolerance)
    for d in inner.differences:
        where = d.where if d.where == member or d.where.startswith(f"{member} ") or d.where.startswith(f"{member}:") else f"{member}: {d.where}"
        report.add(Difference(where, d.kind, d.detail), member if d.kind is Kind.CONTENT else None)
    others = [k for k in inner.kinds if k != Kind.CONTENT.value]
    if others:
        said = inner.summary.removeprefix("equivalent: ").replace("only ", "", 1).removesuffix(" differs").removesuffix(" differ")
        facet = f"{member} ({said})" if inner.equivalent else f"{member} ({', '.join(others)})"
        report.facets[Kind(others[-1])][facet] = 1
    if not inner.differences:  # a comparator that found nothing in bytes that differ
        report.add(Difference(member, Kind.CONTENT, inner.summary), member)
    members = report.metrics.setdefault("members", {})
    if len(members) < MAX_MEMBER_METRICS:
        members[member] = {"comparator": inner.comparator, "summary": inner.summary, **inner.metrics}
    for label, path in inner.attachments.items():
        report.attachments[label if label not in report.attachments else f"{label}:{member}"] = path
    report.full_diff(member, inner.full_diff)
    return inner


class MemberContext:
    """What a zip's members need from the rest of it: member sizes (to read metadata members
    in memory only when small), and for an xlsx the sheet names and shared strings."""

    def __init__(self, sizes: dict[str, int] | None = None, sheets: dict[str, str] | None = None,
                 strings: tuple[list[str] | None, list[str] | None] = (None, None)):
        self.sizes, self.sheets, self.strings = sizes or {}, sheets, strings

    def small(self, member: str) -> bool:
        return self.sizes.get(member, 0) <= office.MAX_METADATA_MEMBER


def keyed(names: Iterable[str]) -> list[tuple[str, int]]:
    """Member names made unique by their occurrence (an archive may hold a name twice)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append((n, seen[n]))
    return out


def member_label(key: tuple[str, int]) -> str:
    return key[0] if key[1] == 1 else f"{key[0]} (#{key[1]})"


def compare_membership(report: Report, a_keys: list[tuple[str, int]], b_keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Members only in one archive (``content``) and members in another order (``order``);
    the members both hold, in the live order."""
    a_set, b_set = set(a_keys), set(b_keys)
    for key in a_keys:
        if key not in b_set:
            report.add(Difference(member_label(key), Kind.CONTENT, "member not replayed (only in the recorded archive)"), member_label(key))
    for key in b_keys:
        if key not in a_set:
            report.add(Difference(member_label(key), Kind.CONTENT, "member only in the replayed archive"), member_label(key))
    common_a = [k for k in a_keys if k in b_set]
    common_b = [k for k in b_keys if k in a_set]
    if common_a != common_b:
        i = next(i for i, (x, y) in enumerate(zip(common_a, common_b)) if x != y)
        report.add(Difference(f"member #{i + 1}", Kind.ORDER,
                              f"the same members in another order: {member_label(common_a[i])!r} recorded, {member_label(common_b[i])!r} replayed"), "member order")
    report.metrics.update(members_live=len(a_keys), members_replayed=len(b_keys),
                          members_added=len(b_set - a_set), members_removed=len(a_set - b_set))
    return common_a


class Tally:
    """Counts the members both archives hold that differ in content (``members_changed``,
    with the added and removed ones) and those that differ with their content equal
    (``members_equivalent``): ``with tally:`` around each member's comparison."""

    def __init__(self, report: Report):
        self.report, self.changed, self.equivalent = report, 0, 0

    def __enter__(self) -> None:
        self.before = dict(self.report.counts)

    def __exit__(self, *exc: object) -> None:
        after = self.report.counts
        if after[Kind.CONTENT] > self.before[Kind.CONTENT]:
            self.changed += 1
        elif after != self.before:
            self.equivalent += 1

    def done(self) -> None:
        m = self.report.metrics
        m.update(members_changed=self.changed + m["members_added"] + m["members_removed"], members_equivalent=self.equivalent)


def header_change(report: Report, where: str, field: str, a: Any, b: Any, facet: str, shown: Callable[[Any], str] = repr) -> None:
    if a != b:
        report.add(Difference(where, Kind.METADATA, f"{field} {shown(a)} → {shown(b)}"), facet)


def layout_only(report: Report, what: str, detail: str = "every member reads equal; the compressed streams or the archive layout differ",
                 facet: str = "compressed streams or archive layout") -> None:
    """Bytes differ, yet every header field and member read equal: the encoding differs."""
    if report.empty:
        report.add(Difference(what, Kind.METADATA, detail), facet)
