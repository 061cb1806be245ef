"""Tables in columnar files: Parquet, Arrow IPC (file and stream) and Feather v2, via pyarrow.

Both files are read in step, a record batch at a time (``ParquetFile.iter_batches`` reads
one row group's columns at a time; ``ipc.open_file`` one batch), and batches of different
lengths are sliced to align them, so memory is bounded by a row group or batch of each
file, not the table. What is compared, in this order:

- the schema: columns removed, added, renamed (same position and type, another name) and
  dtype changes -> ``content``; the row count -> ``content``;
- the values, column by column: a column whose batch is equal (``Array.equals``, a byte
  comparison) costs nothing more; otherwise the per-column maximum absolute and relative
  difference with its row, and the changed-row count (``_numeric.ValueDiff``: numbers within
  the tolerance -> ``numeric``, beyond it, nulls against values and other types -> ``content``);
- rows that differ only by position: each differing row of each file is hashed
  (``pandas.util.hash_pandas_object``, two keys) into a sum that does not depend on order;
  equal sums mean the same rows as a multiset in another order -> ``order`` (rows equal at
  the same position add the same to both sums, so only differing rows are hashed);
- the file metadata: Parquet ``created_by``, format version, key-value metadata (the
  ``pandas`` and ``ARROW:schema`` entries), row groups and compression; Arrow schema
  metadata and batch count -> ``metadata``. Data equal and none of these different means the
  encoding differs (pages, statistics, padding): also ``metadata``.

Rows are numbered from 0 (pandas' ``iloc``). Galaxy's verifier has no table comparator of
this kind; the kinds follow ``base``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scidex_replay.compare._numeric import ValueDiff
from scidex_replay.compare.base import MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, require

#: rows per batch read from a Parquet file (a row group is read column chunk by column chunk)
BATCH_ROWS = 1 << 16
_HASH_KEYS = ("0123456789123456", "scidex-replay-rw")


class _Table:
    """One columnar file: its format, schema, row count, batches and metadata fields."""

    def __init__(self, path: Path):
        pa = require("pyarrow")
        self.path = path
        with open(path, "rb") as fh:
            magic = fh.read(6)
        self.parquet = None
        if magic[:4] == b"PAR1":
            pq = require("pyarrow.parquet")
            self.format = "parquet"
            # pre_buffer=False: with it, iter_batches reads ahead whole row groups (5x the memory)
            self.parquet = pq.ParquetFile(path, pre_buffer=False)
            self.schema = self.parquet.schema_arrow
            self.rows: int | None = self.parquet.metadata.num_rows
        elif magic == b"ARROW1":
            self.format = "arrow"
            self._reader = pa.ipc.open_file(pa.OSFile(str(path)))
            self.schema = self._reader.schema
            self.rows = None  # counted while reading
        else:
            self.format = "arrow-stream"
            self._reader = pa.ipc.open_stream(pa.OSFile(str(path)))
            self.schema = self._reader.schema
            self.rows = None

    def batches(self) -> Iterator[Any]:
        if self.parquet is not None:
            yield from self.parquet.iter_batches(batch_size=BATCH_ROWS)
        elif self.format == "arrow":
            for i in range(self._reader.num_record_batches):
                yield self._reader.get_batch(i)
        else:
            yield from self._reader

    def metadata(self) -> dict[str, Any]:
        """Fields that describe the file, not the data: compared as ``metadata``."""
        if self.parquet is not None:
            md = self.parquet.metadata
            out: dict[str, Any] = {"created_by": md.created_by, "format_version": md.format_version,
                                   "row_groups": md.num_row_groups}
            for key, value in sorted((md.metadata or {}).items()):
                out[f"key_value_metadata {key.decode(errors='replace')!r}"] = value
            if md.num_row_groups and md.num_columns:
                rg = md.row_group(0)
                out["compression"] = sorted({rg.column(i).compression for i in range(md.num_columns)})
            return out
        out = {"format": self.format}
        for key, value in sorted((self.schema.metadata or {}).items()):
            out[f"schema metadata {key.decode(errors='replace')!r}"] = value
        if self.format == "arrow":
            out["record_batches"] = self._reader.num_record_batches
        return out


def _aligned(a: Iterator[Any], b: Iterator[Any]) -> Iterator[tuple[Any, Any, int]]:
    """Pairs of equally long slices of the two batch streams, with the first row's number;
    stops at the end of the shorter one. Slices are zero-copy."""
    x = y = None
    offset = 0
    while True:
        while x is None or len(x) == 0:
            x = next(a, None)
            if x is None:
                return
        while y is None or len(y) == 0:
            y = next(b, None)
            if y is None:
                return
        n = min(len(x), len(y))
        yield x.slice(0, n), y.slice(0, n), offset
        x, y, offset = x.slice(n), y.slice(n), offset + n


def _is_number(pa: Any, t: Any) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _row(i: int | None) -> str:
    return f"row {i}"


class ColumnarComparator:
    """Parquet (``PAR1``), Arrow IPC files and Feather v2 (``ARROW1``), Arrow IPC streams by
    extension: schema, row count, per-column differences, reordered rows and file metadata
    (see the module docstring). Raises ``MissingExtra`` without pyarrow; a file pyarrow cannot
    read raises its error (the replay then falls back to bytes)."""

    name = "columnar"
    extensions = (".parquet", ".pq", ".arrow", ".feather", ".ipc", ".arrows")
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        return head[:4] == b"PAR1" or head[:6] == b"ARROW1"

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        pa = require("pyarrow")
        a, b = _Table(live), _Table(replayed)
        differences: list[Difference] = []
        metrics: dict[str, Any] = {"format": a.format, "columns_live": len(a.schema), "columns_replayed": len(b.schema)}

        # -- schema: which columns, renamed, dtypes
        names_a, names_b = a.schema.names, b.schema.names
        removed = [n for n in names_a if n not in names_b]
        added = [n for n in names_b if n not in names_a]
        pairs = [(names_a.index(n), names_b.index(n)) for n in names_a if n in names_b]
        for i in range(min(len(names_a), len(names_b))):
            na, nb = names_a[i], names_b[i]
            if na in removed and nb in added and a.schema.field(i).type == b.schema.field(i).type:
                removed.remove(na)
                added.remove(nb)
                pairs.append((i, i))
                differences.append(Difference(f"column {na!r}", Kind.CONTENT, f"renamed {na!r} → {nb!r}"))
        for n in removed:
            differences.append(Difference(f"column {n!r}", Kind.CONTENT, f"column {n!r} ({a.schema.field(n).type}) not in the replayed file"))
        for n in added:
            differences.append(Difference(f"column {n!r}", Kind.CONTENT, f"column {n!r} ({b.schema.field(n).type}) added by the replay"))
        compared = []
        for ia, ib in sorted(pairs):
            ta, tb = a.schema.field(ia).type, b.schema.field(ib).type
            if ta != tb:
                differences.append(Difference(f"column {names_a[ia]!r}", Kind.CONTENT, f"dtype {ta} → {tb}"))
                if not (_is_number(pa, ta) and _is_number(pa, tb)):
                    continue  # values of different kinds: the dtype says it
            compared.append((ia, ib, names_a[ia], _is_number(pa, ta) and _is_number(pa, tb)))
        schema_equal = not differences
        structural = list(differences)

        # -- values, batch by batch
        diffs = {col: ValueDiff(tolerance, numeric=num) for _, _, col, num in compared}
        rows_changed = 0
        hashable = schema_equal
        sums = np.zeros((2, len(_HASH_KEYS)), dtype=np.uint64)
        rows = [0, 0]
        ita, itb = a.batches(), b.batches()

        def counted(it: Iterator[Any], k: int) -> Iterator[Any]:
            for batch in it:
                rows[k] += len(batch)
                yield batch

        ita, itb = counted(ita, 0), counted(itb, 1)
        for x, y, offset in _aligned(ita, itb):
            changed = None
            for ia, ib, col, _ in compared:
                mask = _column_diff(pa, x.column(ia), y.column(ib), offset, diffs[col])
                if mask is not None:
                    changed = mask if changed is None else changed | mask
            if changed is not None:
                idx = np.flatnonzero(changed)
                rows_changed += int(idx.size)
                if hashable:
                    try:
                        sums[0] += _row_hashes(x, idx)
                        sums[1] += _row_hashes(y, idx)
                    except (TypeError, ValueError):  # values pandas cannot hash (lists, maps)
                        hashable = False
        for _ in ita:
            pass  # count the rows the other file does not have
        for _ in itb:
            pass
        rows_a, rows_b = rows
        metrics.update(rows_live=rows_a, rows_replayed=rows_b, rows_changed=rows_changed)
        if rows_a != rows_b:
            structural.append(Difference("row count", Kind.CONTENT, f"{rows_a} rows recorded, {rows_b} replayed ({rows_b - rows_a:+d})"))
            differences.append(structural[-1])

        # -- the same rows in another order?
        reordered = hashable and rows_a == rows_b and rows_changed and bool((sums[0] == sums[1]).all())
        column_metrics = {}
        if reordered:
            differences.append(Difference("rows", Kind.ORDER, f"the same {rows_a} rows in another order ({rows_changed} rows moved)"))
        else:
            for col, d in diffs.items():
                diff = d.difference(f"column {col!r}", rows_a, _row, unit="rows")
                if diff is not None:
                    differences.append(diff)
                    if len(column_metrics) < MAX_DIFFERENCES:
                        column_metrics[col] = d.metrics(_row)
        if column_metrics:
            metrics["columns"] = column_metrics
            numeric = [d for d in diffs.values() if d.changed and d.max_abs_at is not None]
            if numeric:
                metrics["max_abs_diff"] = max(d.max_abs for d in numeric)
                metrics["max_rel_diff"] = max(d.max_rel for d in numeric)

        # -- file metadata
        meta_a, meta_b = a.metadata(), b.metadata()
        changed_meta = [k for k in dict.fromkeys([*meta_a, *meta_b]) if meta_a.get(k) != meta_b.get(k)]
        for k in changed_meta:
            differences.append(Difference(k, Kind.METADATA, _meta_detail(k, meta_a.get(k), meta_b.get(k))))
        if not differences:
            differences.append(Difference("file", Kind.METADATA, "data, schema and file metadata equal; the encoding differs (pages, statistics or padding)"))
        metrics["metadata_changed"] = changed_meta
        summary = _summary(structural, diffs, rows_a, rows_changed, reordered, changed_meta)
        return Comparison(self.name, summary, differences, metrics)


def _column_diff(pa: Any, ca: Any, cb: Any, offset: int, diff: ValueDiff) -> np.ndarray | None:
    """Feed one aligned pair of column slices to ``diff``; the mask of differing rows, or None.

    Numbers go through ``ValueDiff.update`` (nulls filled alike on both sides); a null against
    a value, and any difference of other types (``pyarrow.compute.equal``, or Python equality
    for nested types), are counted by ``ValueDiff.mismatch`` as ``content``."""
    if ca.equals(cb):
        return None
    pc = require("pyarrow.compute")
    null_a = ca.is_null().to_numpy(zero_copy_only=False)
    null_b = cb.is_null().to_numpy(zero_copy_only=False)
    if diff.numeric:
        va = pc.fill_null(ca, 0).to_numpy(zero_copy_only=False)
        vb = pc.fill_null(cb, 0).to_numpy(zero_copy_only=False)
        odd = null_a != null_b
        if odd.any():
            vb = vb.copy()
            vb[odd] = va[odd]  # counted below, not as a number
        mask = diff.update(va, vb, offset)
    else:
        try:
            same = pc.fill_null(pc.equal(ca, cb), False).to_numpy(zero_copy_only=False)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):  # nested types
            same = np.array([x == y for x, y in zip(ca.to_pylist(), cb.to_pylist())], dtype=bool)
        odd = ~same & ~(null_a & null_b)
        mask = None
    if odd.any():
        idx = np.flatnonzero(odd)
        shown = pa.array(idx[:3])
        diff.mismatch(idx + offset, ca.take(shown).to_pylist(), cb.take(shown).to_pylist())
        mask = odd if mask is None else mask | odd
    return mask


def _row_hashes(batch: Any, idx: np.ndarray) -> np.ndarray:
    """Per hash key, the wrapping sum of the hashes of rows ``idx`` of ``batch`` (order-independent)."""
    import pandas as pd

    frame = batch.take(idx).to_pandas()
    return np.array(
        [pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy().sum(dtype=np.uint64) for key in _HASH_KEYS],
        dtype=np.uint64,
    )


def _meta_detail(key: str, a: Any, b: Any) -> str:
    """``1 → 3``, or for long texts (pandas metadata) the part around their first change."""
    from scidex_replay.compare.text import excerpt

    if a is None or b is None:
        return f"{'absent' if a is None else 'present'} → {'absent' if b is None else 'present'}" + (
            f" ({_short(b if a is None else a)})")
    if isinstance(a, bytes) and isinstance(b, bytes):
        if key.endswith("'ARROW:schema'"):
            return f"serialized Arrow schema differs ({len(a)} → {len(b)} bytes)"
        a, b = a.decode("utf-8", errors="replace"), b.decode("utf-8", errors="replace")
    if isinstance(a, str) and isinstance(b, str) and max(len(a), len(b)) > 80:
        x, y, col = excerpt(a, b, 40)
        return f"at character {col}: {x!r} → {y!r}"
    return f"{_short(a)} → {_short(b)}"


def _short(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    text = repr(v)
    return text if len(text) <= 80 else text[:79] + "…"


def _summary(structural: list[Difference], diffs: dict[str, ValueDiff], rows: int, rows_changed: int,
             reordered: bool, changed_meta: list[str]) -> str:
    """``content differs: column 'mean' max abs diff 0.25 (row 17), 3 of 120 rows`` and the like."""
    valued = [(col, d) for col, d in diffs.items() if d.changed]
    beyond = [(col, d) for col, d in valued if d.kind is Kind.CONTENT]
    if structural or (beyond and not reordered):
        parts = [f"{d.where}: {d.detail}" for d in structural[:2]]
        if len(structural) > 2:
            parts.append(f"{len(structural) - 2} more schema differences")
        if beyond and not reordered:
            col, d = max(beyond, key=lambda cd: (cd[1].max_abs_at is not None, cd[1].max_abs))
            more = f" (and {len(beyond) - 1} more column{'s' if len(beyond) > 2 else ''})" if len(beyond) > 1 else ""
            parts.insert(0, f"{d.headline(f'column {col!r}', _row)}{more}, {rows_changed} of {rows} rows")
        return "content differs: " + "; ".join(parts)
    parts = []
    if reordered:
        parts.append(f"the same {rows} rows in another order ({rows_changed} moved)")
    elif valued:
        col, d = max(valued, key=lambda cd: cd[1].max_abs)
        parts.append(f"{d.headline(f'column {col!r}', _row)} within tolerance, {rows_changed} of {rows} rows")
    if changed_meta:
        parts.append("file metadata differs (" + ", ".join(changed_meta[:4]) + (", …" if len(changed_meta) > 4 else "") + ")")
    if not parts:
        return "equivalent: data and file metadata equal; only the encoding differs"
    only = "" if reordered or valued else "data equal; only "
    return f"equivalent: {only}" + "; ".join(parts)


__all__ = ["ColumnarComparator"]
