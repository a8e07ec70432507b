"""Evaluators (installed as `explorer.evaluators`): one evaluator per file, registry by name.

`create_evaluator("accuracy", subject, split="val")`; see `_base.BaseEvaluator` for the interface.
"""

from explorer.evaluators import accuracy, flops, latency_iree, latency_model, latency_torch  # noqa: F401  (registration)
from explorer.evaluators._base import (
    EVALUATORS,
    BaseEvaluator,
    Subject,
    artifact_producers,
    create_evaluator,
    evaluator_names,
    register_evaluator,
)

__all__ = [
    "EVALUATORS",
    "BaseEvaluator",
    "Subject",
    "artifact_producers",
    "create_evaluator",
    "evaluator_names",
    "register_evaluator",
]
