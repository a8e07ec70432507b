"""Storage of checkpoints, studies, trials and evaluations (SQLAlchemy 2.x, any database URL)."""

from explorer.storage.models import Base, CheckpointRecord, EvaluationRecord, Study, Trial
from explorer.storage.session import Database, StorageError

__all__ = ["Base", "CheckpointRecord", "Database", "EvaluationRecord", "StorageError", "Study", "Trial"]
