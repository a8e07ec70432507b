"""Every ORM class of the project, in one module.

- `checkpoints`: one row per distinct weights file (sha256).
- `explorer_studies`: a named search on one checkpoint with fixed evaluation settings.
- `explorer_trials`: which configurations a study's strategy proposed, in order (unique per study,
  strategy and configuration: re-running a strategy adds no rows).
- `evaluations`: the cache. One row per (checkpoint, evaluator, context, configuration), where
  `context` is the evaluator's canonical settings (split and limit for accuracy, CPU and threads
  for latency). The unique constraint makes every write idempotent, so a configuration is never
  evaluated twice for the same checkpoint, evaluator and settings, across studies and strategies.
- `workers`, `claims`, `jobs`: the service (explorer/workers.py). A worker heart-beats in
  `workers`; before evaluating a configuration it claims it in `claims` (insert-or-skip on the
  unique key), so parallel workers never evaluate the same configuration; `jobs` queues studies
  for `explorer worker` processes.

Tables are named so that optuna's own tables (`studies`, `trials`, …) fit in the same database.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

REFERENCE = "reference"  # pseudo-strategy of the full-depth configuration every study evaluates first
DEVICE_EVALUATOR = "latency-device"  # latencies imported from a board (explorer import-latency)
ENERGY_EVALUATOR = "energy-device"  # energy per inference metered on a board (explorer import-energy)

# 2: evaluations.blob (per-configuration BatchNorm statistics); 3: ix_evaluation_config;
# 4: studies/trials renamed explorer_studies/explorer_trials (optuna's names), workers, claims, jobs
SCHEMA_VERSION = 4


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SchemaInfo(Base):
    __tablename__ = "schema_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class CheckpointRecord(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    arch: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(64))
    num_gates: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    meta: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Study(Base):
    __tablename__ = "explorer_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    # {"objective": metric name of the cost, "evaluators": {name: context}, "split": ..., "limit": ...}
    settings: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Trial(Base):
    __tablename__ = "explorer_trials"
    __table_args__ = (UniqueConstraint("study_id", "strategy", "config", name="uq_trial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("explorer_studies.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    config: Mapped[str] = mapped_column(String(512))
    seq: Mapped[int] = mapped_column(Integer)  # proposal order within the strategy (for histories)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EvaluationRecord(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("checkpoint_id", "evaluator", "context", "config", name="uq_evaluation"),
        Index("ix_evaluation_lookup", "checkpoint_id", "evaluator", "context"),
        # load_study joins trials to evaluations on (checkpoint, config): without this index SQLite
        # scans every evaluation of the checkpoint per trial (89 s for a 10,000-configuration study)
        Index("ix_evaluation_config", "checkpoint_id", "config"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    evaluator: Mapped[str] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(512))
    config: Mapped[str] = mapped_column(String(512))
    num_skipped: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON)
    # evaluator output that is not a number, e.g. re-estimated BatchNorm statistics (float32 little-endian)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, default=None)
    wall_time_s: Mapped[float] = mapped_column(Float)  # seconds this configuration's evaluation cost
    study_id: Mapped[int | None] = mapped_column(ForeignKey("explorer_studies.id"), nullable=True)  # first study to ask
    strategy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WorkerRecord(Base):
    """A search process: it writes `heartbeat_at` every few seconds while it lives."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    study: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the study it works on now
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # set on a clean stop
    evaluated: Mapped[int] = mapped_column(Integer, default=0)  # configurations it measured itself


class Claim(Base):
    """A configuration a worker is evaluating (done=False) or has evaluated (done=True) under one set
    of evaluator settings (`scope`). The unique key is what makes claiming atomic."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("checkpoint_id", "scope", "config", name="uq_claim"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    scope: Mapped[str] = mapped_column(String(40))  # sha1 of the evaluators' contexts
    config: Mapped[str] = mapped_column(String(512))
    worker_id: Mapped[str] = mapped_column(String(32), index=True)
    study: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class Job(Base):
    """A study queued with `explorer search --submit`, worked on by `explorer worker` processes."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(200), unique=True)
    checkpoint: Mapped[str] = mapped_column(String(1024))  # path, as workers will open it
    options: Mapped[dict] = mapped_column(JSON)  # strategies, budget, seed, objective, limit, …
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, done, failed
    message: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
