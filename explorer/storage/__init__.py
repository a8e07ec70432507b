"""Storage of checkpoints, studies, trials and evaluations (SQLAlchemy 2.x, any database URL)."""

from explorer.storage.models import Base, CheckpointRecord, Claim, EvaluationRecord, Job, Study, Trial, WorkerRecord
from explorer.storage.session import Database, StorageError

__all__ = [
    "Base",
    "CheckpointRecord",
    "Claim",
    "Database",
    "EvaluationRecord",
    "Job",
    "StorageError",
    "Study",
    "Trial",
    "WorkerRecord",
]
