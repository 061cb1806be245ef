"""HDF5 files (and netCDF-4, which is HDF5), via h5py: structure, datasets, attributes, header times.

Both files are walked (links not followed, each object once). What is compared:

- the structure: groups, datasets, named datatypes and links removed or added, an object of
  another type, a soft or external link to another target -> ``content``;
- each dataset's shape and dtype (-> ``content``), then its values a slab of the first axis at
  a time (about ``_numeric.BLOCK`` elements, whole HDF5 chunks when the dataset is chunked),
  so memory is bounded by a slab: the maximum absolute and relative difference and the index
  where each is largest, and how many elements differ (``_numeric.ValueDiff``: within the
  tolerance -> ``numeric``, beyond -> ``content``); its storage (chunk shape, compression,
  filters, fill value) -> ``metadata``;
- the attributes of every object: removed, added or changed -> ``content``, unless the
  attribute is a time or provenance stamp (``TIME_ATTRIBUTES``: the netCDF/CF ``history``,
  ACDD ``date_created``/``date_modified``, netCDF-4's ``_NCProperties``…) -> ``metadata``.
  Object references (netCDF-4's ``DIMENSION_LIST``) are compared by the paths they point to;
- when all that is equal and the bytes still differ, the difference is in the object headers:
  HDF5 stores an object's access/modification/change/birth times in its header when
  ``track_times`` is on (h5py#1919, #1953; ``h5py.h5o.get_info`` reads them), and the objects
  whose times differ are named -> ``metadata``; with no time differing, the difference is in
  the file layout (allocation, free space) -> ``metadata``.

The netCDF classic formats (``CDF\\x01``/``CDF\\x02``) are compared by ``netcdf.NetcdfComparator``
with the same rules. Dataset indices are 0-based.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from scidex_replay.compare._numeric import BLOCK, ValueDiff, is_numeric
from scidex_replay.compare.base import MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, require

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: attributes that stamp when or by what a file was made (compared as ``metadata``); the
#: netCDF User Guide and CF conventions (``history``), ACDD 1.3 (``date_*``), netCDF-4 itself
#: (``_NCProperties``: library versions), NCO (``NCO``, ``history_of_appended_files``)
TIME_ATTRIBUTES = frozenset({
    "history", "date_created", "date_modified", "date_issued", "date_metadata_modified",
    "creation_date", "creation_time", "created", "modified", "modification_date", "timestamp",
    "production_date", "processing_time", "_ncproperties", "nco", "history_of_appended_files",
    "software_version", "producer", "created_by",
})
_TIME_FIELDS = ("atime", "mtime", "ctime", "btime")


def is_time_attribute(name: str) -> bool:
    return name.lower() in TIME_ATTRIBUTES


def blocks_of(shape: tuple[int, ...], chunks: tuple[int, ...] | None = None) -> Iterator[tuple[slice, int]]:
    """Slabs of the first axis covering an array of ``shape``, each of about ``BLOCK`` elements
    (a whole number of ``chunks[0]`` when chunked): ``(slice, flat offset of its first element)``."""
    per_row = 1
    for n in shape[1:]:
        per_row *= n
    rows = max(1, BLOCK // max(1, per_row))
    if chunks and chunks[0] and rows > chunks[0]:
        rows -= rows % chunks[0]
    for start in range(0, shape[0], rows):
        yield slice(start, min(shape[0], start + rows)), start * per_row


def locator(shape: tuple[int, ...]):
    """Flat position -> ``index 17`` or ``index (3, 4)``."""
    np = require("numpy")

    def at(pos: int | None) -> str:
        if pos is None or not shape:
            return "index ()"
        idx = tuple(int(i) for i in np.unravel_index(pos, shape))
        return f"index {idx[0]}" if len(idx) == 1 else f"index {idx}"
    return at


def compare_values(read_a, read_b, shape: tuple[int, ...], chunks, numeric: bool, tolerance: Tolerance) -> ValueDiff:
    """Feed ``ValueDiff`` slab by slab: ``read_x(slice_or_None)`` returns the values (whole array for None)."""
    diff = ValueDiff(tolerance, numeric=numeric)
    if not shape:
        diff.update(_flat(read_a(None)), _flat(read_b(None)), 0)
        return diff
    for sl, offset in blocks_of(shape, chunks):
        diff.update(_flat(read_a(sl)), _flat(read_b(sl)), offset)
    return diff


def _flat(x: Any) -> Any:
    np = require("numpy")
    return np.asarray(x).reshape(-1)


def plain(value: Any, deref=None) -> Any:
    """An attribute value as plain Python (lists, tuples, bytes, numbers), object references
    replaced by ``deref(ref)`` (the path they point to), so that two files compare by meaning."""
    np = require("numpy")
    if deref is not None and type(value).__name__ in ("Reference", "RegionReference"):
        return deref(value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.names:
            return [plain(v, deref) for v in value.tolist()] if not value.dtype.names else [plain(v, deref) for v in value]
        return value.tolist()
    if isinstance(value, np.void) and value.dtype.names:
        return tuple(plain(value[n], deref) for n in value.dtype.names)
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v, deref) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def compare_attrs(where: str, a: Mapping[str, Any], b: Mapping[str, Any], tolerance: Tolerance, deref_a=None, deref_b=None) -> list[Difference]:
    """Differences between two objects' attributes (names -> values): ``metadata`` for the
    ``TIME_ATTRIBUTES``, numbers within the tolerance ``numeric``, anything else ``content``."""
    np = require("numpy")
    out = []
    for key in dict.fromkeys([*a, *b]):
        kind = Kind.METADATA if is_time_attribute(key) else Kind.CONTENT
        at = f"{where} attribute {key!r}" if where != "/" else f"/ attribute {key!r}"
        if key not in b:
            out.append(Difference(at, kind, "not in the replayed file"))
            continue
        if key not in a:
            out.append(Difference(at, kind, f"added by the replay: {_short(plain(b[key], deref_b))}"))
            continue
        va, vb = a[key], b[key]
        xa, xb = np.asarray(va) if _is_array_like(va) else None, np.asarray(vb) if _is_array_like(vb) else None
        if xa is not None and xb is not None and is_numeric(xa.dtype) and is_numeric(xb.dtype) and xa.shape == xb.shape:
            diff = ValueDiff(tolerance)
            diff.update(xa.reshape(-1), xb.reshape(-1))
            if diff.changed:
                k = Kind.METADATA if kind is Kind.METADATA else diff.kind
                out.append(Difference(at, k, f"{_short(plain(va))} → {_short(plain(vb))}"))
            continue
        pa, pb = plain(va, deref_a), plain(vb, deref_b)
        if pa != pb:
            out.append(Difference(at, kind, f"{_short(pa)} → {_short(pb)}"))
    return out


def _is_array_like(v: Any) -> bool:
    np = require("numpy")
    return isinstance(v, (np.ndarray, np.generic, int, float)) and not isinstance(v, (np.bytes_, np.str_, bool))


def _short(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    text = repr(v)
    return text if len(text) <= 100 else text[:99] + "…"


class _Walk:
    """Every object of an HDF5 file by path: ``(type, h5py object or link target)``."""

    def __init__(self, f: Any):
        h5py = require("h5py")
        self.file = f
        self.objects: dict[str, tuple[str, Any]] = {"/": ("group", f)}
        seen = {h5py.h5o.get_info(f.id).addr}
        stack = [("/", f)]
        while stack:
            path, group = stack.pop()
            for name in group:
                child = f"{path.rstrip('/')}/{name}"
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink):
                    self.objects[child] = ("soft link", link.path)
                    continue
                if isinstance(link, h5py.ExternalLink):
                    self.objects[child] = ("external link", f"{link.filename}:{link.path}")
                    continue
                obj = group[name]
                kind = "group" if isinstance(obj, h5py.Group) else "dataset" if isinstance(obj, h5py.Dataset) else "datatype"
                addr = h5py.h5o.get_info(obj.id).addr
                if addr in seen:
                    self.objects[child] = ("hard link", _name_of(obj))
                    continue
                seen.add(addr)
                self.objects[child] = (kind, obj)
                if kind == "group":
                    stack.append((child, obj))

    def deref(self, ref: Any) -> Any:
        return self.file[ref].name if ref else None


def _name_of(obj: Any) -> str:
    return obj.name


def _storage(ds: Any) -> dict[str, Any]:
    np = require("numpy")
    fill = ds.fillvalue
    return {"chunks": ds.chunks, "compression": ds.compression, "compression_opts": ds.compression_opts,
            "shuffle": ds.shuffle, "fletcher32": ds.fletcher32, "scaleoffset": ds.scaleoffset,
            "fillvalue": plain(fill) if not isinstance(fill, np.ndarray) else fill.tolist()}


def _when(t: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "unset"


def _times(obj: Any) -> dict[str, int]:
    h5py = require("h5py")
    info = h5py.h5o.get_info(obj.id)
    return {k: getattr(info, k, 0) for k in _TIME_FIELDS}


class HdfComparator:
    """HDF5 and netCDF-4 files (signature ``\\x89HDF\\r\\n\\x1a\\n`` at byte 0, 512, 1024 or 2048
    of the head): structure, datasets, attributes, object header times (see the module
    docstring). Raises ``MissingExtra`` without h5py; a file h5py cannot open raises ``OSError``
    (the replay then falls back to bytes)."""

    name = "hdf5"
    extensions = (".h5", ".hdf5", ".hdf", ".he5", ".nc4")
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        return any(head[o:o + len(SIGNATURE)] == SIGNATURE for o in (0, 512, 1024, 2048))

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        h5py = require("h5py")
        with h5py.File(live, "r") as fa, h5py.File(replayed, "r") as fb:
            return self._compare(_Walk(fa), _Walk(fb), tolerance)

    def _compare(self, wa: _Walk, wb: _Walk, tolerance: Tolerance) -> Comparison:
        structure: list[Difference] = []
        attributes: list[Difference] = []
        storage: list[Difference] = []
        values: dict[str, tuple[ValueDiff, int, Any]] = {}
        time_paths: dict[str, str] = {}
        datasets = 0
        for path in dict.fromkeys([*wa.objects, *wb.objects]):
            if path not in wb.objects:
                structure.append(Difference(path, Kind.CONTENT, f"{wa.objects[path][0]} not in the replayed file"))
                continue
            if path not in wa.objects:
                structure.append(Difference(path, Kind.CONTENT, f"{wb.objects[path][0]} added by the replay"))
                continue
            (ka, oa), (kb, ob) = wa.objects[path], wb.objects[path]
            if ka != kb:
                structure.append(Difference(path, Kind.CONTENT, f"{ka} → {kb}"))
                continue
            if ka in ("soft link", "external link", "hard link"):
                if oa != ob:
                    structure.append(Difference(path, Kind.CONTENT, f"{ka} to {oa} → {ob}"))
                continue
            attributes += compare_attrs(path, oa.attrs, ob.attrs, tolerance, wa.deref, wb.deref)
            ta, tb = _times(oa), _times(ob)
            if ta != tb:
                time_paths[path] = "; ".join(f"{k} {_when(ta[k])} → {_when(tb[k])}" for k in _TIME_FIELDS if ta[k] != tb[k])
            if ka != "dataset":
                continue
            datasets += 1
            if oa.shape != ob.shape:
                structure.append(Difference(f"dataset {path}", Kind.CONTENT, f"shape {oa.shape} → {ob.shape}"))
                continue
            numeric = is_numeric(oa.dtype) and is_numeric(ob.dtype)
            if oa.dtype != ob.dtype:
                structure.append(Difference(f"dataset {path}", Kind.CONTENT, f"dtype {oa.dtype} → {ob.dtype}"))
                if not numeric:
                    continue
            sa, sb = _storage(oa), _storage(ob)
            for key in sa:
                if sa[key] != sb[key]:
                    storage.append(Difference(f"dataset {path}", Kind.METADATA, f"storage {key} {sa[key]!r} → {sb[key]!r}"))
            if oa.shape is None:  # an empty (null dataspace) dataset
                continue
            shape = oa.shape
            diff = compare_values(lambda s, o=oa: o[()] if s is None else o[s], lambda s, o=ob: o[()] if s is None else o[s],
                                  shape, oa.chunks, numeric, tolerance)
            if diff.changed:
                values[path] = (diff, int(oa.size), locator(shape))
        return _result(self.name, structure, attributes, storage, values, time_paths, datasets)


def _result(comparator: str, structure: list[Difference], attributes: list[Difference], storage: list[Difference],
            values: dict[str, tuple[ValueDiff, int, Any]], time_paths: Mapping[str, str], datasets: int,
            unit: str = "dataset", header_note: str | None = None) -> Comparison:
    """The comparison of an HDF5 or netCDF file from its parts; also used by ``netcdf``."""
    value_diffs = [d.difference(f"{unit} {p}", n, loc) for p, (d, n, loc) in values.items()]
    differences = structure + [d for d in value_diffs if d is not None] + attributes + storage
    metrics: dict[str, Any] = {f"{unit}s_compared": datasets, f"{unit}s_differ": len(values)}
    if values:
        metrics[f"{unit}s"] = {p: d.metrics(loc) for p, (d, n, loc) in list(values.items())[:MAX_DIFFERENCES]}
        numeric = [d for d, _, _ in values.values() if d.max_abs_at is not None]
        if numeric:
            metrics["max_abs_diff"] = max(d.max_abs for d in numeric)
            metrics["max_rel_diff"] = max(d.max_rel for d in numeric)
    if time_paths:
        metrics["header_times_differ"] = list(time_paths)[:MAX_DIFFERENCES]
        for path, detail in list(time_paths.items())[:MAX_DIFFERENCES]:
            differences.append(Difference(path, Kind.METADATA, f"object header times differ (track_times): {detail}"))
    if not differences:
        differences.append(Difference("file", Kind.METADATA, header_note or
                                      "data and attributes equal; bytes differ in object headers or file layout"))
    content = [d for d in differences if d.kind is Kind.CONTENT]
    beyond = [(p, d, n, loc) for p, (d, n, loc) in values.items() if d.kind is Kind.CONTENT]
    if content:
        if beyond:
            p, d, n, loc = beyond[0]
            head = f"{d.headline(f'{unit} {p}', loc)}, {d.changed} of {n} elements"
        else:
            head = f"{content[0].where}: {content[0].detail}"
        rest = len(content) - 1
        summary = f"content differs: {head}" + (f" (and {rest} more difference{'s' if rest > 1 else ''})" if rest else "")
    else:
        parts = []
        for p, (d, n, loc) in list(values.items())[:1]:
            parts.append(f"{d.headline(f'{unit} {p}', loc)} within tolerance, {d.changed} of {n} elements")
        meta_attrs = [d.where for d in attributes if d.kind is Kind.METADATA]
        if meta_attrs:
            parts.append("time/history attributes differ (" + ", ".join(meta_attrs[:3]) + (", …" if len(meta_attrs) > 3 else "") + ")")
        if storage:
            parts.append(f"storage differs ({storage[0].where}: {storage[0].detail})")
        if time_paths:
            paths = list(time_paths)
            parts.append(f"object header times differ (track_times): {', '.join(paths[:3])}" + (", …" if len(paths) > 3 else ""))
        if not parts:
            parts.append(differences[-1].detail.removeprefix("data and attributes equal; "))
        lead = "data and attributes equal; " if not values and not meta_attrs else "data equal; " if not values else ""
        summary = "equivalent: " + lead + "; ".join(parts)
    return Comparison(comparator, summary, differences, metrics)
