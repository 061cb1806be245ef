"""``Registry``: the one object through which every layer reads and writes records.

``Registry.open(url)`` connects (SQLite under the data home by default, or any
SQLAlchemy URL such as ``postgresql+psycopg://...``), creates or upgrades the
schema with Alembic on first use, and puts the content store at
``<home>/blobs``. Methods open a short session each and return frozen records.

Adding the same bytes twice stores them once (the store is content-addressed),
and ``add_artifact`` of the same bytes under the same name returns the artifact
already registered (one that no step produced), so ``add`` is idempotent. The
same bytes under another name get a new id pointing at the same blob: the name
is what a step sees as its input's file name, so it is part of the identity. Steps always create a new target
artifact, even when its bytes equal an existing one, so every artifact has at
most one producing step and a chain is unambiguous.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import Connection, Engine, create_engine, event, func, make_url, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, defer, selectinload, sessionmaker

from scidex_replay.config import busy_timeout_s, data_home, database_url
from scidex_replay.errors import BadInput, NotFound, RegistryUnavailable, regular_file, utf8_text
from scidex_replay.outcomes import REUSABLE, Outcome, Status
from scidex_replay.registry.jsonvalue import plain_json
from scidex_replay.registry.liveness import is_alive, this_host
from scidex_replay.registry.models import (
    CODE_ROLE,
    ArtifactRow,
    EnvironmentRow,
    ResultRow,
    RunRow,
    StepInputRow,
    StepOutputRow,
    StepRow,
)
from scidex_replay.registry.records import (
    Artifact,
    CodeInput,
    Environment,
    NewCode,
    NewOutput,
    Run,
    Step,
    StepOutput,
    StepResult,
)
from scidex_replay.store import open_store

if TYPE_CHECKING:
    from scidex_replay.registry.migrate import SchemaChange

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase
#: The metadata key of the file a source artifact was read from (``replay/drift.py`` reads it).
SOURCE_PATH = "source_path"


def new_id(prefix: str, n: int = 8) -> str:
    """A short, human-typable, random id such as ``a_k3f9x2qa``."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(n))


def input_hash_of(content_hashes: Sequence[str]) -> str:
    """The hash over a step's ordered source content hashes (one per line)."""
    return hashlib.sha256("\n".join(content_hashes).encode()).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc)


def _artifact(row: ArtifactRow) -> Artifact:
    return Artifact(
        id=row.id,
        content_hash=row.content_hash,
        size=row.size,
        kind=row.kind,
        name=row.name,
        created_at=row.created_at,
        metadata=dict(row.meta or {}),
    )


#: ``Step``'s fields that are columns of ``processing_steps``, in ``Step``'s order (``source_artifact_ids`` goes after the fifth).
_STEP_COLUMNS = (
    "step_id", "step_type", "method", "parameters", "target_artifact_id",
    "input_hash", "output_hash", "env_hash", "trace_id", "started_at", "completed_at",
)


#: What ``_step`` reads beyond the step's own row.
_STEP_LOADS = [selectinload(StepRow.inputs).selectinload(StepInputRow.artifact), selectinload(StepRow.outputs).selectinload(StepOutputRow.artifact)]


def _layout(input_paths: Sequence[str | None], outputs: Sequence[StepOutput]) -> dict[str, tuple[Any, ...]]:
    """``Step``'s ``input_paths`` and ``outputs``: empty for a step recorded with one output and
    placeholders only (a first-wave step), so that it reads exactly as it did."""
    return {
        "input_paths": tuple(input_paths) if any(input_paths) else (),
        "outputs": tuple(outputs) if len(outputs) > 1 or any(o.path for o in outputs) else (),
    }


def _step(row: StepRow) -> Step:
    data = [i for i in row.inputs if i.role != CODE_ROLE]
    code = tuple(
        CodeInput(i.artifact_id, i.artifact.content_hash, i.module or "", i.path or "", i.root or "")
        for i in row.inputs if i.role == CODE_ROLE
    )
    outputs = [StepOutput(o.artifact_id, o.artifact.content_hash, o.path) for o in row.outputs]
    return Step(
        **{name: getattr(row, name) for name in _STEP_COLUMNS}, source_artifact_ids=tuple(i.artifact_id for i in data),
        name=row.name, code_inputs=code, **_layout([i.path for i in data], outputs),
    )


def _run(row: RunRow, manifest: bool = True) -> Run:
    return Run(
        run_id=row.run_id,
        target_artifact_id=row.target_artifact_id,
        kind=row.kind,
        parent_run_id=row.parent_run_id,
        from_step=row.from_step,
        options=dict(row.options or {}),
        status=Status(row.status),
        started_at=row.started_at,
        completed_at=row.completed_at,
        manifest=row.manifest if manifest else None,
        pid=row.pid,
        host=row.host,
        env_hash=row.env_hash,
    )


def _result_row(run_id: str, r: StepResult) -> ResultRow:
    return ResultRow(
        run_id=run_id,
        step_id=r.step_id,
        position=r.position,
        output_hash_replayed=r.output_hash_replayed,
        outcome=r.outcome.value,
        ok=r.ok,
        reason=r.detail,
        reused_from_run=r.reused_from_run,
        duration_s=r.duration_s,
        replayed_blob=r.replayed_blob,
        reuse_key=r.reuse_key,
        outputs_replayed=list(r.outputs_replayed) if len(r.outputs_replayed) > 1 else None,
    )


def _result(row: ResultRow) -> StepResult:
    return StepResult(
        step_id=row.step_id,
        position=row.position,
        outcome=Outcome(row.outcome),
        ok=row.ok,
        detail=row.reason,
        output_hash_replayed=row.output_hash_replayed,
        reused_from_run=row.reused_from_run,
        duration_s=row.duration_s,
        replayed_blob=row.replayed_blob,
        reuse_key=row.reuse_key,
        outputs_replayed=tuple(row.outputs_replayed or ()),
    )


def walk_cte(artifact_id: str, *, distinct: bool = True) -> Any:
    """Recursive CTE of the ids of the steps that contributed to ``artifact_id`` (portable SQL).

    Each recursion is one probe of ``ix_step_inputs_walk`` per edge. UNION visits each step
    once, so diamonds and even a corrupt cycle terminate; ``distinct=False`` (UNION ALL) gives
    a step once per path to it, which only ``walk_step_ids``'s fast path may use.
    """
    outputs_t, used = StepOutputRow.__table__, StepInputRow.__table__.alias("used")
    # The step that produced the artifact, as any of its outputs: one probe of uq_step_outputs_artifact_id.
    walk = select(outputs_t.c.step_id).where(outputs_t.c.artifact_id == artifact_id).cte("walk", recursive=True)
    parents = (
        select(used.c.producer_step_id)
        .join(walk, walk.c.step_id == used.c.step_id)
        .where(used.c.producer_step_id.is_not(None))
    )
    return walk.union(parents) if distinct else walk.union_all(parents)


def walk_step_ids(conn: Connection, artifact_id: str) -> list[str]:
    """The ids of the steps that contributed to ``artifact_id``, each once, unordered."""
    return _walk(conn, artifact_id)[0]


def _walk(conn: Connection, artifact_id: str) -> tuple[list[str], bool]:
    """``walk_step_ids``, and whether the UNION walk was needed (False: UNION ALL gave each step once).

    Most ancestries are trees, where every step has one path to the target: there UNION ALL
    gives the same rows as UNION without the database's duplicate check, about twice as fast
    on SQLite. Its rows are streamed, and the first step that comes twice (a diamond, or a
    corrupt cycle) abandons it for the UNION walk; by then at most one row more than the
    chain has steps has been read, so the fast path never costs more than one extra walk.
    An artifact's ancestry never changes (steps only ever create new artifacts), so the
    answer holds for later queries on the same walk.
    """
    if conn.dialect.name == "postgresql":
        # PostgreSQL cannot estimate the walk's size and may hash-join each recursion against the
        # whole step_inputs table (chain length x table size: 69 s for 25k steps); an index
        # probe per edge is always right here. Nor may it scan the table for each recursion
        # (a small table's default estimates, with wider rows since revision 0005, tipped it to a
        # materialized seq scan). SET LOCAL ends with the connection's transaction.
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    seen: set[str] = set()
    fast = select(walk_cte(artifact_id, distinct=False).c.step_id).execution_options(yield_per=5000)
    rows = conn.scalars(fast)
    for step_id in rows:
        if step_id in seen:
            rows.close()
            return list(conn.scalars(select(walk_cte(artifact_id).c.step_id))), True
        seen.add(step_id)
    return list(seen), False


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_timeout_s: float = 30.0) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _prepare_sqlite_file(path: Path, url: str) -> None:
    """Refuse a 0-byte file (never taken for an empty registry: it was one, or is not one); create
    an absent one, so that it never exists empty. A file that is not SQLite at all is refused by
    SQLite itself when the schema is read (``ensure_schema``).

    The file is only stat'ed, never opened here: closing a descriptor of a database file drops
    every POSIX lock this process holds on it, those of its open SQLite connections included,
    which corrupts it. A new file is made aside as a valid empty SQLite database in WAL mode and
    linked into place (a concurrent first use finds either no file or that one).
    """
    if path.is_dir():
        raise RegistryUnavailable(f"cannot open database {url!r}: it is a directory")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        _create_sqlite_file(path, url)
        return
    except OSError as exc:
        raise RegistryUnavailable(f"cannot open database {url!r}: {exc.strerror or exc}") from exc
    if size == 0:
        raise RegistryUnavailable(
            f"cannot open database {url!r}: it is an empty (0-byte) file, not a scidex-replay registry; "
            "restore it from a backup, or remove it to start an empty registry"
        )


def _create_sqlite_file(path: Path, url: str) -> None:
    import sqlite3

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp, whose file is 0600: a registry in a shared home is made as the umask says.
        tmp = str(path.parent / f".{path.name}.new-{secrets.token_hex(8)}")
        os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # writes the database header
            finally:
                conn.close()
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it meanwhile: use theirs
            except OSError:  # a filesystem without hard links
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
                Path(leftover).unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        raise RegistryUnavailable(f"cannot create database {url!r}: {getattr(exc, 'strerror', None) or exc}") from exc


def _engine(url: str, *, create: bool) -> Engine:
    """An engine for ``url`` whose database errors come out as this package's (``errors_of``).

    SQLite: an absent file is created when ``create`` (else ``NotFound``), a 0-byte one refused
    (``_prepare_sqlite_file``); one this process may not write is opened read-only."""
    busy = busy_timeout_s()
    try:  # PostgreSQL waits for a locked row as long as SQLite for a locked file
        postgres = make_url(url).get_backend_name() == "postgresql"
        engine = create_engine(url, connect_args={"options": f"-c lock_timeout={int(busy * 1000)}"} if postgres else {})
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, OSError) as exc:
        raise RegistryUnavailable(f"cannot open database {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        db_path = engine.url.database
        if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
            path = Path(db_path)
            if not create and not path.exists():
                raise NotFound(f"no registry at {path}: nothing to upgrade (a registry is created on first use)")
            _prepare_sqlite_file(path, url)
            if not _writable(path):
                engine.dispose()
                engine = create_engine(url, creator=_read_only_connector(path))
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout_s=busy))
    event.listen(engine, "handle_error", errors_of(engine.url.render_as_string(hide_password=True), busy))
    return engine


def _lock_for_add(s: Session, digest: str) -> None:
    """Hold, until the transaction of ``s`` ends, the lock that makes ``add_artifact``'s look-up
    and insert of the bytes ``digest`` one step: two registries adding the same file at once
    otherwise both find nothing and both insert. PostgreSQL: a transaction-level advisory lock
    keyed by the hash (other hashes do not wait); SQLite: the database's write lock, taken by a
    write that changes nothing (SQLite has one writer at a time anyway)."""
    if s.bind.dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(digest[:15], 16)})
    elif s.bind.dialect.name == "sqlite":
        s.execute(text("UPDATE artifacts SET id = id WHERE 0"))


def _writable(path: Path) -> bool:
    """Whether this process may write the SQLite file ``path`` and make its ``-wal``/``-shm`` beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _read_only_connector(path: Path) -> Any:
    """Connect to ``path`` read-only. Without a ``-shm`` file beside it (none is left once every
    writer closed it) and no way to make one, SQLite can read a WAL database only as immutable:
    no other process writes it then, since none may."""
    import sqlite3
    from urllib.parse import quote

    def connect() -> Any:
        shared = Path(f"{path}-shm").exists() and os.access(f"{path}-shm", os.R_OK)
        options = "mode=ro" if shared else "mode=ro&immutable=1"
        return sqlite3.connect(f"file:{quote(str(path.resolve()))}?{options}", uri=True, check_same_thread=False)

    return connect


#: SQLite's primary result codes that ``errors_of`` words (``sqlite3.Error.sqlite_errorcode & 0xff``).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_CORRUPT, _SQLITE_FULL = 5, 6, 8, 11, 13


def errors_of(url: str, busy_timeout_s: float) -> Any:
    """A ``handle_error`` listener that raises this package's one-line errors for the database
    errors a user can meet (never a bug's: an integrity or programming error stays as it is).

    SQLite: locked past the busy timeout, damaged pages, a read-only file, a full disk ->
    ``RegistryUnavailable`` naming the registry; PostgreSQL: a value it cannot store ->
    ``BadInput``, a lost or refused connection -> ``RegistryUnavailable``."""
    from scidex_replay.config import BUSY_TIMEOUT_ENV
    from scidex_replay.errors import one_line

    def translate(context: Any) -> None:
        exc = context.original_exception
        reason = one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            code &= 0xFF
            if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
                raise RegistryUnavailable(
                    f"the registry {url} is locked by another process: waited {busy_timeout_s:g} s "
                    f"(the busy timeout, {BUSY_TIMEOUT_ENV} sets it); try again when it is free"
                ) from exc
            if code == _SQLITE_CORRUPT:
                raise RegistryUnavailable(
                    f"the registry {url} is damaged: {reason}; restore it from a backup "
                    "(an upgrade leaves one beside it, named after the file with .bak-REVISION)"
                ) from exc
            if code == _SQLITE_READONLY:
                raise RegistryUnavailable(
                    f"the registry {url} is read-only here ({reason}): commands that only read it work"
                ) from exc
            if code == _SQLITE_FULL:
                raise RegistryUnavailable(f"the registry {url} cannot grow: {reason}; nothing more was written") from exc
            return
        if context.engine is not None and context.engine.dialect.name == "postgresql":
            if isinstance(context.sqlalchemy_exception, sa_exc.DataError):
                raise BadInput(f"the registry {url} cannot store a value: {reason}") from exc
            if isinstance(context.sqlalchemy_exception, sa_exc.OperationalError):
                raise RegistryUnavailable(f"cannot use database {url}: {reason}") from exc

    return translate


class Registry:
    """Artifacts, processing steps, environments and replay runs, plus the blob store."""

    def __init__(self, engine: Engine, home: Path):
        self.engine = engine
        self.home = home
        self.store = open_store(home)  # the local <home>/blobs, or the shared --store URL
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, home: str | os.PathLike[str] | None = None) -> "Registry":
        """Open (and create or upgrade) the registry at ``url``; see ``config.database_url``.

        A SQLite file that this process may not write (a read-only data home) is opened read-only:
        commands that read it work, a write raises ``RegistryUnavailable``. Database errors come
        out as this package's errors (``errors_of``): ``RegistryUnavailable`` for a registry
        locked past the busy timeout, damaged, read-only or unreachable; ``BadInput`` for a
        value the database refuses.
        """
        home_path = Path(home) if home is not None else data_home()
        url = database_url(url)
        try:
            home_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryUnavailable(f"cannot create the data home {home_path}: {exc.strerror or exc}") from exc
        engine = _engine(url, create=True)
        from scidex_replay.registry.migrate import ensure_schema

        ensure_schema(engine)
        return cls(engine, home_path)

    @staticmethod
    def upgrade(url: str | None = None) -> "SchemaChange":
        """Upgrade the registry at ``url`` (``config.database_url``) to the newest schema, a SQLite
        file backed up first; ``SchemaChange.before == after`` when it was already there.

        Raises ``NotFound`` when no SQLite file is there (a registry is created on first use),
        ``RegistryUnavailable`` for a newer schema (naming both revisions), a database that is
        not a registry, or one that cannot be opened or backed up.
        """
        from scidex_replay.registry.migrate import HEAD, SchemaChange, upgrade_schema

        url = database_url(url)
        engine = _engine(url, create=False)
        try:
            change = upgrade_schema(engine)
        finally:
            engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        return SchemaChange(HEAD, HEAD, None, shown) if change is None else dataclasses.replace(change, url=shown)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # -- artifacts -------------------------------------------------------
    def add_artifact(
        self,
        data: str | os.PathLike[str] | bytes,
        kind: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        source_path: str | os.PathLike[str] | None = None,
    ) -> Artifact:
        """Store a file (path) or bytes as a source artifact; same bytes and name, same artifact.

        ``source_path``: the file the bytes were read from (``data`` may be a copy of it), kept
        absolute as ``metadata["source_path"]`` so that a replay can tell when it changed since
        (source drift, ``replay/drift.py``). Given, it is part of the identity: the same bytes and
        name read from another file are another artifact. Raises ``BadInput`` for a missing file,
        one that is not a regular file (a FIFO, a directory), or a name or path that is not valid
        UTF-8, before anything is stored; ``StorageError`` when the file cannot be read or the
        store has no room for it (nothing is stored).
        """
        if source_path is not None:
            metadata = {**(metadata or {}), SOURCE_PATH: utf8_text(os.path.abspath(source_path), "file")}
        if not isinstance(data, bytes):
            path = Path(data)
            name = name or path.name
            regular_file(path)  # BadInput: missing, or a FIFO, a directory...
        if name is not None:
            utf8_text(name, "artifact name")
        _fits(name, ArtifactRow.name, "artifact name")
        _fits(kind, ArtifactRow.kind, "artifact kind")
        if isinstance(data, bytes):
            digest, size = self.store.put_bytes(data)
        else:
            # Bytes of a size already registered are likely those bytes again (`add` is
            # idempotent): then the store only hashes them instead of writing a temp copy.
            digest, size = self.store.put_file(path, expected=self._digest_of_size(path.stat().st_size))
        with self.session() as s:
            _lock_for_add(s, digest)
            candidates = s.scalars(
                select(ArtifactRow)
                .where(
                    ArtifactRow.content_hash == digest,
                    ArtifactRow.name.is_(None) if name is None else ArtifactRow.name == name,
                    ~ArtifactRow.produced_by.has(),
                )
                .order_by(ArtifactRow.created_at)
            )
            wanted = (metadata or {}).get(SOURCE_PATH) if source_path is not None else None
            existing = next((r for r in candidates if wanted is None or (r.meta or {}).get(SOURCE_PATH) == wanted), None)
            if existing is not None:
                return _artifact(existing)
            row = ArtifactRow(
                id=new_id("a"),
                content_hash=digest,
                size=size,
                kind=kind or _guess_kind(name),
                name=name,
                created_at=now(),
                meta=metadata or {},
            )
            s.add(row)
            s.flush()
            return _artifact(row)

    def _get(self, model: type, key: str, what: str, record: Any, **options: Any) -> Any:
        """The record of the ``model`` row ``key``; ``NotFound`` naming ``what`` when there is none."""
        with self.session() as s:
            row = s.get(model, _check_id(key, what), **options)
            if row is None:
                raise NotFound(f"unknown {what} id: {key}")
            return record(row)

    def get_artifact(self, artifact_id: str) -> Artifact:
        return self._get(ArtifactRow, artifact_id, "artifact", _artifact)

    def has_artifact(self, artifact_id: str) -> bool:
        with self.session() as s:
            return s.get(ArtifactRow, artifact_id) is not None

    def _digest_of_size(self, size: int) -> str | None:
        """The content hash of some artifact of ``size`` bytes, if there is one."""
        with self.engine.connect() as conn:
            return conn.scalar(select(ArtifactRow.content_hash).where(ArtifactRow.size == size).limit(1))

    def _producers(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Each known artifact id in ``ids`` -> the id of the step that produced it (None: a source)."""
        query = (
            select(ArtifactRow.id, StepOutputRow.step_id)
            .outerjoin(StepOutputRow, StepOutputRow.artifact_id == ArtifactRow.id)
            .where(ArtifactRow.id.in_(set(ids)))
        )
        with self.engine.connect() as conn:
            return {artifact_id: step_id for artifact_id, step_id in conn.execute(query)}

    def produced(self, content_hash: str, name: str) -> Artifact | None:
        """The newest artifact named ``name`` with these bytes that a recorded step produced
        (None: no step did): how a file an earlier ``run`` saved is known again as its output."""
        with self.session() as s:
            rows = s.scalars(
                select(ArtifactRow)
                .join(StepOutputRow, StepOutputRow.artifact_id == ArtifactRow.id)
                .where(ArtifactRow.content_hash == content_hash, ArtifactRow.name == name)
                .order_by(ArtifactRow.created_at.desc(), ArtifactRow.id.desc())
                .limit(1)
            ).all()
            return _artifact(rows[0]) if rows else None

    def artifacts(self, ids: Iterable[str]) -> dict[str, Artifact]:
        ids = list(dict.fromkeys(ids))
        with self.session() as s:
            rows = s.scalars(select(ArtifactRow).where(ArtifactRow.id.in_(ids))).all()
            return {r.id: _artifact(r) for r in rows}

    def search_artifacts(
        self, q: str | None = None, kind: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[Artifact], int]:
        """One page of artifacts, newest first (``created_at``, then id), and how many match in all.

        ``q`` matches an id prefix or a substring of the name, case-insensitively (on SQLite, for
        ASCII letters: its ``LIKE``); ``kind`` is exact. The indexes of revision 0007 hold
        ``created_at``, ``id`` and ``name``, so a page walks one index, and the count reads one
        index, not the table; the count is skipped when the page says it (a page not full). On
        PostgreSQL, revision 0008's trigram index on the name and pattern index on the id make
        a ``q`` of 3 characters or more a bitmap index scan (under 3, no trigram helps: the
        count reads every name, as before); its count adds the name matches to the id matches
        whose name does not match, which reads each matching name once, not twice as the
        ``OR`` does (its recheck and its filter).
        """
        kinds = [ArtifactRow.kind == kind] if kind else []
        where = list(kinds)
        count = select(func.count()).select_from(ArtifactRow)
        counted = None
        if q:
            pattern = "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
            sqlite = self.engine.dialect.name == "sqlite"
            name = (
                ArtifactRow.name.like(pattern, escape="/")  # SQLite's LIKE ignores ASCII case; lower() would cost a scan more
                if sqlite
                else ArtifactRow.name.ilike(pattern, escape="/")  # estimated well by PostgreSQL, unlike lower(name) LIKE
            )
            id_prefix = ArtifactRow.id.startswith(q.lower(), autoescape=True)
            where.append(id_prefix | name)
            if not sqlite:  # two disjoint sets, each counted through its own index (SQLite: one
                # scan of its covering index, where the OR costs little)
                by_name = count.where(*kinds, name).scalar_subquery()
                by_id_only = count.where(*kinds, id_prefix, ArtifactRow.name.is_(None) | ~name).scalar_subquery()
                counted = select(by_name + by_id_only)
        page = select(ArtifactRow).where(*where).order_by(ArtifactRow.created_at.desc(), ArtifactRow.id.desc())
        with self.session() as s:
            rows = s.scalars(page.limit(limit).offset(offset)).all()
            if len(rows) < limit and (rows or not offset):
                total = offset + len(rows)
            else:
                total = s.scalar(count.where(*where) if counted is None else counted) or 0
            return [_artifact(r) for r in rows], total

    def producers(self, artifact_ids: Iterable[str]) -> dict[str, tuple[str, str | None, str]]:
        """Each of ``artifact_ids`` that a recorded step produced -> that step's ``(step_id, name,
        step_type)`` (sources are left out): one query, for a page of artifacts."""
        ids = list(dict.fromkeys(artifact_ids))
        query = (
            select(StepOutputRow.artifact_id, StepRow.step_id, StepRow.name, StepRow.step_type)
            .join(StepRow, StepRow.step_id == StepOutputRow.step_id)
            .where(StepOutputRow.artifact_id.in_(ids))
        )
        with self.engine.connect() as conn:
            return {artifact_id: (step_id, name, step_type) for artifact_id, step_id, name, step_type in conn.execute(query)}

    def latest_runs(self, artifact_ids: Iterable[str]) -> dict[str, Run]:
        """Each of ``artifact_ids`` that was replayed -> its newest run (liveness applied, see ``get_run``),
        without its manifest (``manifest`` None: read ``get_run`` for it)."""
        ids = list(dict.fromkeys(artifact_ids))
        newest = (
            select(RunRow.target_artifact_id, func.max(RunRow.started_at).label("at"))
            .where(RunRow.target_artifact_id.in_(ids))
            .group_by(RunRow.target_artifact_id)
            .subquery()
        )
        query = (
            select(RunRow)
            .join(newest, (RunRow.target_artifact_id == newest.c.target_artifact_id) & (RunRow.started_at == newest.c.at))
            .order_by(RunRow.run_id)
        )
        return {run.target_artifact_id: run for run in self._runs(query, manifest=False)}

    # -- environments ----------------------------------------------------
    def ensure_environment(self, env: Environment) -> None:
        """Store ``env`` once per env_hash; safe when other processes store it at the same time
        (``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL)."""
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            from importlib import import_module

            insert = import_module(f"sqlalchemy.dialects.{dialect}").insert
            with self.session() as s:
                s.execute(insert(EnvironmentRow).values(**vars(env)).on_conflict_do_nothing(index_elements=["env_hash"]))
            return
        with self.session() as s:
            if s.get(EnvironmentRow, env.env_hash) is None:
                s.add(EnvironmentRow(**vars(env)))

    def get_environment(self, env_hash: str) -> Environment | None:
        with self.session() as s:
            row = s.get(EnvironmentRow, env_hash)
            if row is None:
                return None
            return Environment(row.env_hash, row.python, row.platform, row.requirements_lock)

    # -- steps -----------------------------------------------------------
    def record_step(
        self,
        *,
        step_type: str,
        method: str,
        parameters: dict[str, Any],
        sources: Sequence[str],
        output: str | os.PathLike[str] | bytes | None = None,
        output_hash: str | None = None,
        input_hash: str,
        env: Environment | None,
        started_at: datetime,
        completed_at: datetime,
        trace_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        outputs: Sequence[NewOutput] = (),
        step_name: str | None = None,
        input_paths: Sequence[str | None] = (),
        code: Sequence[NewCode] = (),
    ) -> tuple[Step, Artifact]:
        """Store the step's output(s) and record the step that produced them from ``sources``
        (artifact ids, in order); returns the step and its first output's artifact.

        One output: ``output`` (a file or bytes) or ``output_hash`` (bytes already in the store),
        named ``name``. Several: ``outputs``, each its own artifact (``kind`` and ``metadata``
        apply to all). ``input_paths`` says where each input was staged in the working directory,
        ``step_name`` names the step; ``code`` are the source files of the modules it imports, each
        stored as an artifact and linked as a code input (in its lineage, not among ``sources``). ``input_hash`` is the hash of the sources' content as the
        caller hashed it *before* running the step (see ``input_hash_of``).
        Raises ``NotFound`` for an unknown source, ``BadInput`` for naive timestamps.
        """
        parameters = plain_json(parameters)
        if started_at.tzinfo is None or completed_at.tzinfo is None:
            raise BadInput("started_at and completed_at must be timezone-aware datetimes")
        _fits(method, StepRow.method, "step method")
        _fits(step_name, StepRow.name, "step name")
        for what, value, column in (("artifact kind", kind, ArtifactRow.kind), ("artifact name", name, ArtifactRow.name)):
            _fits(value, column, what)
        for o in outputs:
            _fits(o.name, ArtifactRow.name, "artifact name")
            _fits(o.kind, ArtifactRow.kind, "artifact kind")
        producers = self._producers(sources)
        if missing := [a for a in sources if a not in producers]:
            raise NotFound(f"unknown artifact id: {missing[0]}")
        if not outputs:
            outputs = [NewOutput(file=output, digest=output_hash, name=name)]
        stored = [(*self._store_output(o), o) for o in outputs]
        if env is not None:
            self.ensure_environment(env)
        paths = list(input_paths) + [None] * (len(sources) - len(input_paths))
        code_ids = [self.add_artifact(c.data, kind="py", name=Path(c.path).name).id for c in code]
        with self.session() as s:
            targets = [
                ArtifactRow(
                    id=new_id("a"), content_hash=digest, size=size, kind=o.kind or kind or _guess_kind(out_name),
                    name=out_name, created_at=completed_at, meta=o.metadata or metadata or {},
                )
                for digest, size, out_name, o in stored
            ]
            row = StepRow(
                step_id=new_id("s"),
                step_type=step_type,
                method=method,
                parameters=parameters,
                target=targets[0],
                input_hash=input_hash,
                output_hash=stored[0][0],
                env_hash=env.env_hash if env else None,
                trace_id=trace_id,
                started_at=started_at,
                completed_at=completed_at,
                name=step_name,
                inputs=[
                    StepInputRow(position=i, artifact_id=a, producer_step_id=producers[a], path=p)
                    for i, (a, p) in enumerate(zip(sources, paths))
                ] + [
                    StepInputRow(
                        position=len(sources) + i, artifact_id=a, path=c.path, role=CODE_ROLE, module=c.module, root=c.root
                    )
                    for i, (a, c) in enumerate(zip(code_ids, code))
                ],
            )
            row.outputs = [
                StepOutputRow(position=i, artifact=target, path=o.path) for i, (target, o) in enumerate(zip(targets, outputs))
            ]
            s.add(row)
            s.flush()
            return _step(row), _artifact(targets[0])

    def _store_output(self, out: NewOutput) -> tuple[str, int, str | None]:
        """(digest, size, artifact name) of an output, its bytes put in the store."""
        if out.digest is not None:
            return out.digest, self.store.size(out.digest), out.name
        if isinstance(out.file, bytes):
            return *self.store.put_bytes(out.file), out.name
        if out.file is None:
            raise BadInput("a step output needs a file, bytes or a stored digest")
        digest, size = self.store.put_file(out.file)
        return digest, size, out.name or Path(out.file).name

    def step_names(self, artifact_ids: Iterable[str]) -> set[str]:
        """The names of the steps that contributed to any of ``artifact_ids`` (their chains)."""
        names: set[str] = set()
        with self.engine.connect() as conn:
            for artifact_id in set(artifact_ids):
                ids = walk_step_ids(conn, artifact_id)
                if ids:
                    query = select(StepRow.name).where(StepRow.step_id.in_(ids), StepRow.name.is_not(None))
                    names.update(conn.scalars(query))
        return names

    def get_step(self, step_id: str) -> Step:
        return self._get(StepRow, step_id, "step", _step, options=_STEP_LOADS)

    def producing_step(self, artifact_id: str) -> Step | None:
        """The step that produced ``artifact_id`` (any of its outputs), or None for a source artifact."""
        with self.session() as s:
            row = s.scalars(
                select(StepRow)
                .join(StepOutputRow, StepOutputRow.step_id == StepRow.step_id)
                .where(StepOutputRow.artifact_id == artifact_id)
                .options(*_STEP_LOADS)
            ).first()
            return _step(row) if row else None

    def chain(self, artifact_id: str) -> list[Step]:
        """Every step that contributed to ``artifact_id`` (``walk_step_ids``), unordered: ``replay.plan`` orders it."""
        self.get_artifact(artifact_id)
        steps_t, inputs_t, outputs_t = StepRow.__table__, StepInputRow.__table__, StepOutputRow.__table__
        artifacts_t = ArtifactRow.__table__
        columns = [steps_t.c[name] for name in _STEP_COLUMNS]
        steps: list[Step] = []
        with self.engine.connect() as conn:
            _, distinct = _walk(conn, artifact_id)
            # Core rows, not ORM objects (hydrating 100k ORM instances costs more than the walk),
            # joined with the walk that gave each step once: no list of ids goes back to the database.
            walk = walk_cte(artifact_id, distinct=distinct)
            sources: dict[str, list[tuple[str, str | None]]] = {}
            code: dict[str, list[tuple[str, str, str, str]]] = {}
            inputs = select(
                inputs_t.c.step_id, inputs_t.c.artifact_id, inputs_t.c.path, inputs_t.c.role, inputs_t.c.module, inputs_t.c.root
            ).join(walk, walk.c.step_id == inputs_t.c.step_id)
            for step_id, source, path, role, module, root in conn.execute(inputs.order_by(inputs_t.c.step_id, inputs_t.c.position)):
                if role == CODE_ROLE:
                    code.setdefault(step_id, []).append((source, module or "", path or "", root or ""))
                else:
                    sources.setdefault(step_id, []).append((source, path))
            code_hashes = _content_hashes(conn, {a for refs in code.values() for a, *_ in refs})
            outputs: dict[str, list[StepOutput]] = {}
            # Only steps recorded with several outputs or output paths need theirs read (first-wave steps have one).
            produced = (
                select(outputs_t.c.step_id, outputs_t.c.artifact_id, artifacts_t.c.content_hash, outputs_t.c.path)
                .join(walk, walk.c.step_id == outputs_t.c.step_id)
                .join(artifacts_t, artifacts_t.c.id == outputs_t.c.artifact_id)
                .where((outputs_t.c.position > 0) | outputs_t.c.path.is_not(None))
                .order_by(outputs_t.c.step_id, outputs_t.c.position)
            )
            for step_id, out_id, digest, path in conn.execute(produced):
                outputs.setdefault(step_id, []).append(StepOutput(out_id, digest, path))
            for row in conn.execute(select(*columns, steps_t.c.name).join(walk, walk.c.step_id == steps_t.c.step_id)):
                step_id, step_type, method, parameters, target, *rest, name = row
                ins = sources.get(step_id, [])
                outs = outputs.get(step_id, [])
                if outs and outs[0].artifact_id != target:  # the first output is the target, read above only with a path
                    outs.insert(0, StepOutput(target, rest[1]))
                steps.append(Step(
                    step_id, step_type, method, parameters, target, tuple(a for a, _ in ins), *rest,
                    name=name, code_inputs=tuple(CodeInput(a, code_hashes[a], *ref) for a, *ref in code.get(step_id, ())),
                    **_layout([p for _, p in ins], outs),
                ))
        return steps

    def step_types(self) -> list[tuple[str, int]]:
        with self.session() as s:
            rows = s.execute(
                select(StepRow.step_type, func.count()).group_by(StepRow.step_type).order_by(StepRow.step_type)
            ).all()
            return [(t, n) for t, n in rows]

    # -- replay runs -----------------------------------------------------
    def create_run(
        self,
        *,
        target_artifact_id: str,
        kind: str,
        options: dict[str, Any],
        parent_run_id: str | None = None,
        from_step: str | None = None,
        env_hash: str | None = None,
    ) -> Run:
        """Insert a run with status ``running``, run by this process (see ``liveness``) in the
        environment ``env_hash``."""
        started = now()
        with self.session() as s:
            row = RunRow(
                run_id=new_id("r"),
                target_artifact_id=target_artifact_id,
                kind=kind,
                parent_run_id=parent_run_id,
                from_step=from_step,
                options=plain_json(options, "options"),
                status=Status.RUNNING.value,
                started_at=started,
                pid=os.getpid(),
                host=this_host(),
                heartbeat_at=started,
                env_hash=env_hash,
            )
            s.add(row)
            s.flush()
            return _run(row)

    def check_writable(self) -> None:
        """``RegistryUnavailable`` (a SQLite file this process cannot write) or ``StoreUnwritable``
        when a new step could not be kept here: for a caller about to run one, so that nothing runs
        for an hour to be lost."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
            if not _writable(Path(database)):
                url = self.engine.url.render_as_string(hide_password=True)
                raise RegistryUnavailable(f"the registry {url} is read-only here, so a step recorded now could not be kept; nothing was run")
        self.store.check_writable()

    def add_result(self, run_id: str, result: StepResult) -> None:
        """Write one step's result as soon as the step is done (a run killed later keeps it, and
        ``--restart`` reuses it); also a heartbeat of the run."""
        with self.writing("write a step's result"), self.session() as s:
            s.add(_result_row(run_id, result))
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(heartbeat_at=now()))

    def heartbeat(self, run_id: str) -> None:
        """Say that the process running ``run_id`` is alive (see ``liveness``)."""
        with self.writing("write a heartbeat"), self.session() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(heartbeat_at=now()))

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Turns a write the database refuses (locked past its busy timeout, read-only, gone)
        into ``RegistryUnavailable("cannot WHAT: ...")``, for callers that go on without it
        or try again."""
        try:
            yield
        except sa_exc.OperationalError as exc:
            raise RegistryUnavailable(f"cannot {what}: {exc.orig or exc}") from exc

    def finish_run(self, run_id: str, *, status: str, results: Sequence[StepResult], manifest: dict[str, Any]) -> Run:
        """Give a run its final status and manifest, and write those of its ``results`` that
        ``add_result`` could not (one transaction)."""
        with self.session() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFound(f"unknown run id: {run_id}")
            written = set(s.scalars(select(ResultRow.step_id).where(ResultRow.run_id == run_id)))
            s.add_all(_result_row(run_id, r) for r in results if r.step_id not in written)
            row.status = Status(status).value
            row.completed_at = now()
            row.heartbeat_at = row.completed_at
            row.manifest = manifest
            s.flush()
            return _run(row)

    def get_run(self, run_id: str) -> Run:
        """The run ``run_id``; one whose process died is ``interrupted`` (see ``liveness``)."""
        query = select(RunRow).where(RunRow.run_id == _check_id(run_id, "run"))
        return self._runs(query, missing=f"unknown run id: {run_id}")[0]

    def _runs(self, query: Any, missing: str | None = None, *, manifest: bool = True) -> list[Run]:
        """The runs of ``query``; a ``running`` one whose process died is ``interrupted``, and is
        marked so in the registry when it can be written (``NotFound(missing)`` for none).
        ``manifest=False``: without their manifests (not read from the database)."""
        if not manifest:
            query = query.options(defer(RunRow.manifest, raiseload=True))
        with self.session() as s:
            rows = list(s.scalars(query))
            if not rows and missing:
                raise NotFound(missing)
            runs = [_run(r, manifest) for r in rows]
            when = now()
            dead = {
                r.run_id: r.heartbeat_at or r.started_at for r in rows
                if r.status == Status.RUNNING.value and not is_alive(r.pid, r.host, r.started_at, r.heartbeat_at, when)
            }
        if not dead:
            return runs
        try:
            with self.writing("mark dead runs interrupted"), self.session() as s:
                s.execute(
                    update(RunRow)
                    .where(RunRow.run_id.in_(list(dead)), RunRow.status == Status.RUNNING.value)
                    .values(status=Status.INTERRUPTED.value, completed_at=func.coalesce(RunRow.heartbeat_at, RunRow.started_at))
                )
        except RegistryUnavailable:  # a read-only or locked registry: shown interrupted all the same
            pass
        return [
            dataclasses.replace(r, status=Status.INTERRUPTED, completed_at=dead[r.run_id]) if r.run_id in dead else r
            for r in runs
        ]

    def results(self, run_id: str) -> list[StepResult]:
        with self.session() as s:
            rows = s.scalars(select(ResultRow).where(ResultRow.run_id == run_id).order_by(ResultRow.position)).all()
            return [_result(r) for r in rows]

    def referenced_digests(self) -> dict[str, list[str]]:
        """Every digest the registry points at -> who points at it (artifact ids, ``run:`` ids)."""
        refs: dict[str, list[str]] = {}
        with self.session() as s:
            for art_id, digest in s.execute(select(ArtifactRow.id, ArtifactRow.content_hash)):
                refs.setdefault(digest, []).append(art_id)
            for run_id, digest in s.execute(
                select(ResultRow.run_id, ResultRow.replayed_blob).where(ResultRow.replayed_blob.is_not(None)).distinct()
            ):
                refs.setdefault(digest, []).append(f"run:{run_id}")
            for run_id, digests in s.execute(select(ResultRow.run_id, ResultRow.outputs_replayed).where(ResultRow.outputs_replayed.is_not(None))):
                for digest in digests or ():
                    if isinstance(digest, str) and f"run:{run_id}" not in refs.get(digest, ()):
                        refs.setdefault(digest, []).append(f"run:{run_id}")
        return refs

    def manifest_blobs(self) -> set[str]:
        """The digests the runs' manifests name under a ``*_blob`` key (a comparator's diff or image)."""
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(k, str) and k.endswith("_blob") and isinstance(v, str) and len(v) == 64:
                        found.add(v)
                    else:
                        walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        with self.session() as s:
            for manifest in s.scalars(select(RunRow.manifest).where(RunRow.manifest.is_not(None))):
                walk(manifest)
        return found

    def runs(self, target_artifact_id: str | None = None) -> list[Run]:
        """Runs, oldest first; of one target artifact when given."""
        query = select(RunRow).order_by(RunRow.started_at, RunRow.run_id)
        if target_artifact_id is not None:
            self.get_artifact(target_artifact_id)
            query = query.where(RunRow.target_artifact_id == target_artifact_id)
        return self._runs(query)

    def ancestry(self, run_id: str) -> list[str]:
        """``run_id`` and every run it restarted or forked from, nearest first."""
        chain: list[str] = []
        current: str | None = run_id
        with self.session() as s:
            while current is not None and current not in chain:
                row = s.get(RunRow, current)
                if row is None:
                    raise NotFound(f"unknown run id: {current}")
                chain.append(current)
                current = row.parent_run_id
        return chain

    def reusable_results(
        self, step_ids: Iterable[str], run_ids: Sequence[str] | None = None
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        """reuse_key -> (run that executed it, every output's digest) for results that reproduced, in one query.

        Only results of ``step_ids`` are considered, and only those of ``run_ids``
        when given (``None`` means every run). The earliest succeeded result wins;
        a result that was itself reused points at the run that executed it.
        """
        query = (
            select(
                ResultRow.reuse_key, ResultRow.run_id, ResultRow.reused_from_run, ResultRow.output_hash_replayed,
                ResultRow.outputs_replayed,
            )
            .join(RunRow, RunRow.run_id == ResultRow.run_id)
            .where(
                ResultRow.step_id.in_(list(step_ids)),
                ResultRow.outcome.in_([o.value for o in REUSABLE]),
                ResultRow.reuse_key.is_not(None),
                ResultRow.output_hash_replayed.is_not(None),
            )
            .order_by(RunRow.started_at.desc(), RunRow.run_id.desc())
        )
        if run_ids is not None:
            query = query.where(ResultRow.run_id.in_(list(run_ids)))
        with self.session() as s:
            # Walk newest to oldest so the earliest result is the one left in the dict.
            return {
                key: (reused_from or run_id, tuple(outputs or (digest,)))
                for key, run_id, reused_from, digest, outputs in s.execute(query)
            }


def _content_hashes(conn: Connection, ids: set[str]) -> dict[str, str]:
    """artifact id -> content hash, for ``ids`` (no query when there are none)."""
    if not ids:
        return {}
    return dict(conn.execute(select(ArtifactRow.id, ArtifactRow.content_hash).where(ArtifactRow.id.in_(ids))).all())


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 32 or not value.replace("_", "").isalnum():
        raise BadInput(f"malformed {what} id: {value!r:.60}")
    return value


def _fits(value: str | None, column: Any, what: str) -> None:
    """``BadInput`` when ``value`` holds a NUL (PostgreSQL cannot store one; SQLite would cut the
    name short in most readers) or is longer than ``column`` (an ORM column) holds."""
    if value is None:
        return
    if "\x00" in value:
        shown = value.replace("\x00", "\\0")[:80]
        raise BadInput(f"{what} '{shown}' contains a NUL character, which a registry cannot store")
    limit = getattr(column.type, "length", None)
    if limit is not None and len(value) > limit:
        raise BadInput(f"{what} is {len(value)} characters long, more than the {limit} a registry holds: {value[:40]!r}...")


def _guess_kind(name: str | None) -> str:
    suffix = Path(name).suffix.lower().lstrip(".") if name else ""
    return suffix[: ArtifactRow.kind.type.length] or "blob"
