"""Steps that ran but could not be recorded, kept aside until the registry takes them.

A command can run for an hour; when the registry then refuses the write (a database locked
past its busy timeout, a server that went away), the step is not thrown away: its outputs,
its new input files and its code go to the blob store (a directory, writable while the
database is not) and everything else the registry needs goes to
``<home>/pending/<time>-<id>.json`` (schema ``scidex-replay/pending-step/v1``).
``scidex-replay recover`` (``record_pending``) records each one in the registry it was meant
for, verifying every blob against its hash first, and removes the file.

On a shared store (``--store URL``, ``RemoteBlobStore``) the record also goes to the store, as
``<prefix>/pending/<name>`` (a key no blob has): ``<home>/pending`` is seen by its own data home
only, and ``gc`` run from any other home must keep the blobs a pending step needs
(``shared_pending_blobs``). ``record_pending`` deletes it once the step is recorded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.errors import BadInput, IntegrityError, StoreUnavailable, one_line
from scidex_replay.registry import Artifact, Registry
from scidex_replay.registry.records import Environment, NewCode, NewOutput

SCHEMA = "scidex-replay/pending-step/v1"


def pending_dir(registry: Registry) -> Path:
    return registry.home / "pending"


def registry_url(registry: Registry) -> str:
    return registry.engine.url.render_as_string(hide_password=True)


def keep(registry: Registry, record: dict[str, Any]) -> Path:
    """Write ``record`` (the keyword arguments of ``Registry.record_step`` as JSON, blobs by
    digest: see ``record_pending``) as a new pending file, atomically, and on a shared store file
    it there too; returns its path. ``StoreUnavailable`` (the file kept all the same, and named)
    when the shared store refuses the record."""
    folder = pending_dir(registry)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:16]}.json"
    text = json.dumps({"schema": SCHEMA, "registry": registry_url(registry), **record}, indent=1)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    share = getattr(registry.store, "put_pending", None)
    if share is not None:  # a shared store: gc from another data home must see what the step keeps
        try:
            share(path.name, text.encode())
        except StoreUnavailable as exc:
            raise StoreUnavailable(
                f"the step is kept in {path} (`scidex-replay recover` records it), but its record could not be filed "
                f"in the shared store, so a gc from another data home may take its blobs meanwhile: {one_line(exc)}"
            ) from exc
    return path


def environment_json(env: Environment) -> dict[str, Any]:
    return dataclasses.asdict(env)


def pending_files(registry: Registry) -> list[Path]:
    """The pending steps kept for ``registry``'s home, oldest first."""
    folder = pending_dir(registry)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: not a pending step ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"{path}: not a pending step (schema {data.get('schema') if isinstance(data, dict) else None!r})")
    return data


def pending_blobs(path: Path) -> list[str]:
    """The digests of the blobs the pending step of ``path`` keeps (``[]`` for a file that is not one)."""
    try:
        data = _load(path)
    except BadInput:
        return []
    return _blobs_of(data)


def _blobs_of(data: Any) -> list[str]:
    try:
        return [s["blob"] for s in data["sources"] if "blob" in s] + [o["blob"] for o in data["outputs"]] + [c["blob"] for c in data["code"]]
    except (KeyError, TypeError):
        return []


def shared_pending_blobs(registry: Registry) -> dict[str, list[str]]:
    """Digest -> ``pending:<name>`` of each pending step whose record is filed in ``registry``'s
    store (a shared store: the steps kept by every data home), ``{}`` for a store that keeps none
    (the local one: ``pending_files`` has them all). ``StoreUnavailable`` when the store cannot be read."""
    records = getattr(registry.store, "pending_records", None)
    found: dict[str, list[str]] = {}
    for name, raw in records() if records is not None else ():
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            for digest in _blobs_of(data):
                found.setdefault(digest, []).append(f"pending:{name}")
    return found


def record_pending(registry: Registry, path: Path) -> list[Artifact]:
    """Record the pending step of ``path`` in ``registry`` and remove the file; returns the
    step's output artifacts in order. Raises ``BadInput`` for a file that is not a pending
    step or was kept for another registry, ``IntegrityError`` for a blob that no longer
    matches its hash (nothing is recorded then)."""
    data = _load(path)
    if data["registry"] != registry_url(registry):
        raise BadInput(f"{path} was kept for the registry {data['registry']}, not {registry_url(registry)}: use --db")
    store = registry.store
    for digest in pending_blobs(path):
        if not store.has(digest) or not store.verify(digest):
            raise IntegrityError(f"{path}: blob {digest[:12]} is missing or damaged in the store; nothing was recorded")
    sources = [
        s["artifact"] if "artifact" in s else registry.add_artifact(store.path(s["blob"]), name=s["name"], source_path=s["source_path"]).id
        for s in data["sources"]
    ]
    step, _ = registry.record_step(
        step_type=data["step_type"],
        method=data["method"],
        parameters=data["parameters"],
        sources=sources,
        outputs=[NewOutput(digest=o["blob"], name=o["name"], path=o["path"]) for o in data["outputs"]],
        input_hash=data["input_hash"],
        env=Environment(**data["env"]) if data["env"] else None,
        started_at=datetime.fromisoformat(data["started_at"]),
        completed_at=datetime.fromisoformat(data["completed_at"]),
        trace_id=data["trace_id"],
        kind=data["kind"],
        step_name=data["step_name"],
        input_paths=data["input_paths"],
        code=[NewCode(c["module"], c["path"], c["root"], store.path(c["blob"]).read_bytes()) for c in data["code"]],
    )
    path.unlink()
    unshare = getattr(store, "remove_pending", None)
    if unshare is not None:  # recorded: the registry references its blobs now
        unshare(path.name)
    by_id = registry.artifacts(step.output_ids)
    return [by_id[a] for a in step.output_ids]
