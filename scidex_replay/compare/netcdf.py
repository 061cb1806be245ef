"""netCDF classic files (``CDF\\x01`` classic, ``CDF\\x02`` 64-bit offset, ``CDF\\x05`` 64-bit
data), via netCDF4: dimensions, variables and attributes, with the rules of ``hdf``.

netCDF-4 files are HDF5 and sniffed by ``hdf.HdfComparator`` first; this comparator opens
anything netCDF4 opens (groups included) when chosen by extension. Values are read raw
(``set_auto_maskandscale(False)``: stored numbers, not masked or scaled ones), a slab of the
first dimension at a time. Dimensions removed, added, resized or made (un)limited, variables
removed or added, another dtype or dimensions -> ``content``; values as ``_numeric.ValueDiff``
says; attributes as ``hdf.compare_attrs`` (``history``, ``date_created``… -> ``metadata``);
the file format (``NETCDF3_CLASSIC`` → ``NETCDF3_64BIT_OFFSET``) -> ``metadata``. The classic
formats hold no times of their own: equal data and attributes with differing bytes means
the header's padding or unused space differs -> ``metadata``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scidex_replay.compare._numeric import ValueDiff, is_numeric
from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance, require
from scidex_replay.compare.hdf import _result, compare_attrs, compare_values, locator

MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def _attrs(obj: Any) -> dict[str, Any]:
    return {k: obj.getncattr(k) for k in obj.ncattrs()}


class NetcdfComparator:
    """netCDF classic and 64-bit files (see the module docstring). Raises ``MissingExtra``
    without netCDF4; a file it cannot open raises ``OSError`` (the replay falls back to bytes)."""

    name = "netcdf"
    extensions = (".nc", ".cdf", ".nc3", ".netcdf")
    priority = 30

    def sniff(self, head: bytes, name: str) -> bool:
        return head[:4] in MAGICS

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        netCDF4 = require("netCDF4")
        with netCDF4.Dataset(live, "r") as da, netCDF4.Dataset(replayed, "r") as db:
            da.set_auto_maskandscale(False)
            db.set_auto_maskandscale(False)
            structure: list[Difference] = []
            attributes: list[Difference] = []
            values: dict[str, tuple[ValueDiff, int, Any]] = {}
            counted = [0]
            storage = []
            if da.data_model != db.data_model:
                storage.append(Difference("file", Kind.METADATA, f"format {da.data_model} → {db.data_model}"))
            self._group("/", da, db, tolerance, structure, attributes, values, counted)
        return _result(self.name, structure, attributes, storage, values, {}, counted[0], unit="variable",
                       header_note="data and attributes equal; bytes differ in the header's padding or unused space")

    def _group(self, path: str, ga: Any, gb: Any, tolerance: Tolerance, structure: list[Difference],
               attributes: list[Difference], values: dict[str, tuple[ValueDiff, int, Any]], counted: list[int]) -> None:
        prefix = path.rstrip("/")
        attributes += compare_attrs(path, _attrs(ga), _attrs(gb), tolerance)
        for dim in dict.fromkeys([*ga.dimensions, *gb.dimensions]):
            where = f"dimension {prefix}/{dim}"
            if dim not in gb.dimensions:
                structure.append(Difference(where, Kind.CONTENT, "not in the replayed file"))
            elif dim not in ga.dimensions:
                structure.append(Difference(where, Kind.CONTENT, f"added by the replay (size {len(gb.dimensions[dim])})"))
            else:
                a, b = ga.dimensions[dim], gb.dimensions[dim]
                if len(a) != len(b) or a.isunlimited() != b.isunlimited():
                    def show(d: Any) -> str:
                        return f"{len(d)}{' (unlimited)' if d.isunlimited() else ''}"
                    structure.append(Difference(where, Kind.CONTENT, f"size {show(a)} → {show(b)}"))
        for name in dict.fromkeys([*ga.variables, *gb.variables]):
            where = f"{prefix}/{name}"
            if name not in gb.variables:
                structure.append(Difference(f"variable {where}", Kind.CONTENT, "not in the replayed file"))
                continue
            if name not in ga.variables:
                structure.append(Difference(f"variable {where}", Kind.CONTENT, "added by the replay"))
                continue
            va, vb = ga.variables[name], gb.variables[name]
            attributes += compare_attrs(where, _attrs(va), _attrs(vb), tolerance)
            counted[0] += 1
            if va.dimensions != vb.dimensions or va.shape != vb.shape:
                structure.append(Difference(f"variable {where}", Kind.CONTENT,
                                            f"dimensions {va.dimensions} {va.shape} → {vb.dimensions} {vb.shape}"))
                continue
            da, db = va.dtype, vb.dtype
            numeric = not isinstance(da, type) and not isinstance(db, type) and is_numeric(da) and is_numeric(db)
            if da != db:
                structure.append(Difference(f"variable {where}", Kind.CONTENT, f"dtype {da} → {db}"))
                if not numeric:
                    continue
            shape = tuple(va.shape)
            diff = compare_values(lambda s, v=va: v[...] if s is None else v[s], lambda s, v=vb: v[...] if s is None else v[s],
                                  shape, None, numeric, tolerance)
            if diff.changed:
                size = 1
                for n in shape:
                    size *= n
                values[where] = (diff, size, locator(shape))
        for name in dict.fromkeys([*ga.groups, *gb.groups]):
            where = f"{prefix}/{name}"
            if name not in gb.groups or name not in ga.groups:
                structure.append(Difference(f"group {where}", Kind.CONTENT,
                                            "not in the replayed file" if name not in gb.groups else "added by the replay"))
                continue
            self._group(where, ga.groups[name], gb.groups[name], tolerance, structure, attributes, values, counted)
