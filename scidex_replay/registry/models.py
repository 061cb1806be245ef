"""SQLAlchemy 2 models. ORM rows stay inside ``registry/``; other layers get the
frozen records of ``records.py``. Every schema change ships with an Alembic
revision under ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, MetaData, String, Text
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)
#: ``step_inputs.role`` of a code input (null: a data input)
CODE_ROLE = "code"
HASH = String(64)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as UTC, read back timezone-aware, on every backend (SQLite keeps no tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: scidex-replay stores timezone-aware datetimes only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


UTC_DT = UTCDateTime()

#: Indexes a revision makes on PostgreSQL only, and there only if it can (0008: ``pg_trgm``'s
#: trigram index on the name, a pattern index on the id): not in the models, so that the
#: models are the same on every backend; ``include_object`` hides them from autogenerate.
OPTIONAL_INDEXES = frozenset({"ix_artifacts_name_trgm", "ix_artifacts_id_pattern"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's ``include_object`` hook: everything but ``OPTIONAL_INDEXES``."""
    return not (type_ == "index" and name in OPTIONAL_INDEXES)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTC_DT}


class ArtifactRow(Base):
    __tablename__ = "artifacts"
    #: the workbench's search, newest first, of all artifacts or of one kind; with the name, so
    #: that matching a name reads the index, not the table (revision 0007)
    __table_args__ = (
        Index("ix_artifacts_created_at", "created_at", "id", "name"),
        Index("ix_artifacts_kind_created_at", "kind", "created_at", "id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    content_hash: Mapped[str] = mapped_column(HASH, index=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[Optional[str]] = mapped_column(String(255))
    created_at: Mapped[datetime]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)

    produced_by: Mapped[Optional["StepRow"]] = relationship(back_populates="target")


class EnvironmentRow(Base):
    __tablename__ = "environments"

    env_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    python: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(255))
    requirements_lock: Mapped[str] = mapped_column(Text)


class StepRow(Base):
    __tablename__ = "processing_steps"

    step_id: Mapped[str] = mapped_column(ID, primary_key=True)
    step_type: Mapped[str] = mapped_column(String(128), index=True)
    method: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]]
    target_artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), unique=True)
    input_hash: Mapped[str] = mapped_column(HASH)
    output_hash: Mapped[str] = mapped_column(HASH)
    env_hash: Mapped[Optional[str]] = mapped_column(ForeignKey("environments.env_hash"))
    trace_id: Mapped[Optional[str]] = mapped_column(String(64))
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime]
    name: Mapped[Optional[str]] = mapped_column(String(64))  # the step's name (``run --step``), unique in its chain

    target: Mapped[ArtifactRow] = relationship(back_populates="produced_by")
    inputs: Mapped[list["StepInputRow"]] = relationship(
        order_by="StepInputRow.position",
        cascade="all, delete-orphan",
        back_populates="step",
        foreign_keys="StepInputRow.step_id",
    )
    outputs: Mapped[list["StepOutputRow"]] = relationship(
        order_by="StepOutputRow.position", cascade="all, delete-orphan", back_populates="step"
    )


class StepInputRow(Base):
    """Input ``position`` of a step. ``producer_step_id`` is the step that produced the input
    (null for a source artifact), copied at record time: an artifact's producer never changes,
    and with it the chain walk is one probe of ``ix_step_inputs_walk`` per edge."""

    __tablename__ = "step_inputs"
    __table_args__ = (Index("ix_step_inputs_walk", "step_id", "producer_step_id"),)

    step_id: Mapped[str] = mapped_column(ForeignKey("processing_steps.step_id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), index=True)
    producer_step_id: Mapped[Optional[str]] = mapped_column(ForeignKey("processing_steps.step_id"))
    path: Mapped[Optional[str]] = mapped_column(Text)  # where it is staged in the working dir; null: in{N}-{name}
    #: null: a data input, handed to the step; ``code``: the source file of a module the step imports,
    #: read from ``path`` (absolute) as ``module`` under the ``sys.path`` entry ``root``
    role: Mapped[Optional[str]] = mapped_column(String(16))
    module: Mapped[Optional[str]] = mapped_column(String(255))
    root: Mapped[Optional[str]] = mapped_column(Text)

    step: Mapped[StepRow] = relationship(back_populates="inputs", foreign_keys=[step_id])
    artifact: Mapped[ArtifactRow] = relationship()


class StepOutputRow(Base):
    """Output ``position`` of a step (position 0 is the step's ``target_artifact_id``); ``path`` is
    where the command wrote it, relative to its working directory (null: the single ``{out}``)."""

    __tablename__ = "step_outputs"

    step_id: Mapped[str] = mapped_column(ForeignKey("processing_steps.step_id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), unique=True)
    path: Mapped[Optional[str]] = mapped_column(Text)

    step: Mapped[StepRow] = relationship(back_populates="outputs")
    artifact: Mapped[ArtifactRow] = relationship()


class RunRow(Base):
    __tablename__ = "replay_runs"

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    target_artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    parent_run_id: Mapped[Optional[str]] = mapped_column(ForeignKey("replay_runs.run_id"))
    from_step: Mapped[Optional[str]] = mapped_column(ID)
    options: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # a scidex_replay.outcomes.Status value
    started_at: Mapped[datetime]
    completed_at: Mapped[Optional[datetime]]
    manifest: Mapped[Optional[dict[str, Any]]]
    pid: Mapped[Optional[int]]  # the process running it, on ``host``; null for runs before revision 0006
    host: Mapped[Optional[str]] = mapped_column(String(255))
    heartbeat_at: Mapped[Optional[datetime]]  # last seen alive: at each step's result, and every HEARTBEAT_S
    env_hash: Mapped[Optional[str]] = mapped_column(HASH)  # of the replaying interpreter (the manifest's env.replay)


class ResultRow(Base):
    __tablename__ = "replay_results"
    __table_args__ = (Index("ix_replay_results_reuse_key_outcome", "reuse_key", "outcome"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("replay_runs.run_id"), primary_key=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("processing_steps.step_id"), primary_key=True)
    position: Mapped[int]
    output_hash_replayed: Mapped[Optional[str]] = mapped_column(HASH)
    outcome: Mapped[str] = mapped_column(String(16))  # a scidex_replay.outcomes.Outcome value
    ok: Mapped[Optional[bool]]  # null for a step that was not checked (frozen)
    reason: Mapped[str] = mapped_column(Text)  # the words only; the outcome is its own column
    reused_from_run: Mapped[Optional[str]] = mapped_column(ForeignKey("replay_runs.run_id"))
    duration_s: Mapped[float]
    replayed_blob: Mapped[Optional[str]] = mapped_column(HASH)
    reuse_key: Mapped[Optional[str]] = mapped_column(HASH)
    outputs_replayed: Mapped[Optional[list[str]]] = mapped_column(JSON)  # every output's digest; null: one output
