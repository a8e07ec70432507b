"""User-facing errors: one type per area, each message names the file or value and the fix.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""


class ExplorerError(Exception):
    """Base of every error whose message is meant for the user."""


class DataError(ExplorerError):
    """A data set is missing, corrupt, or has the wrong shape."""


class CheckpointError(ExplorerError):
    """A checkpoint is missing, corrupt, or does not match what it claims to be."""


class ConfigError(ExplorerError, ValueError):
    """A skip configuration or a model specification is invalid."""


class TrainingError(ExplorerError):
    """A training run cannot start or resume as asked."""


class WorkloadError(ExplorerError):
    """A runtime input is invalid: workload, arrival trace, policy, or power profile."""
