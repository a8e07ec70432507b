"""The evaluator interface and its registry.

An evaluator turns a batch of skip configurations into metrics (one dict per configuration,
metric names with units: `accuracy` fraction 0..1, `latency_ms`, `macs`). It gets a `Subject`
(the checkpoint and, lazily, its data set) and its own options. `context` is the canonical
string of every setting that changes its results; the engine caches results by (checkpoint,
evaluator name, context, configuration), so two evaluators with equal contexts must give equal
results.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from explorer.checkpoint import Checkpoint
from explorer.data import DataSplits, load_checkpoint_data
from explorer.errors import ConfigError
from explorer.skip import SkipConfig
from explorer.storage.results import is_latency_evaluator


@dataclass
class Subject:
    """What is being evaluated: a checkpoint, and the data set it was trained on (loaded on first use)."""

    checkpoint: Checkpoint
    data_dir: Path | None = None
    _data: DataSplits | None = field(default=None, repr=False)

    @property
    def data(self) -> DataSplits:
        if self._data is None:
            # npz: the file recorded at training time when no --data-dir is given; channels,
            # classes and image size checked against the checkpoint
            data = load_checkpoint_data(self.checkpoint.meta, self.data_dir, self.checkpoint.path)
            self._data = data
        return self._data

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's input, from the checkpoint metadata (no data needed)."""
        ds = self.checkpoint.meta["dataset"]
        h, w = ds.get("image_size", (32, 32))
        return int(self.checkpoint.meta["in_channels"]), int(h), int(w)


class BaseEvaluator(abc.ABC):
    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]  # what it measures, names with units (a study's cost is one of them)
    # bytes it may return beside the metrics, under this key (stored apart from the metrics, one per
    # evaluation): the accuracy evaluator's re-estimated BatchNorm statistics
    artifact: ClassVar[str | None] = None

    def __init__(self, subject: Subject):
        self.subject = subject

    @property
    def context(self) -> str:
        """Canonical settings that change the results (part of the cache key)."""
        return ""

    @abc.abstractmethod
    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float | bytes]]:
        """Metrics (numbers) of each configuration, in order, and its `artifact` (bytes) if it has one."""


EVALUATORS: dict[str, type[BaseEvaluator]] = {}


def register_evaluator(cls: type[BaseEvaluator]) -> type[BaseEvaluator]:
    if cls.name in EVALUATORS and EVALUATORS[cls.name] is not cls:
        raise ValueError(f"evaluator {cls.name!r} is registered already (by {EVALUATORS[cls.name].__qualname__})")
    # stored studies tell their latency evaluator by this prefix (explorer.storage.results)
    if ("latency_ms" in cls.metrics) != is_latency_evaluator(cls.name):
        raise ValueError(f"evaluator {cls.name!r}: those that measure latency_ms, and only they, are named latency-*")
    EVALUATORS[cls.name] = cls
    return cls


def create_evaluator(name: str, subject: Subject, **options) -> BaseEvaluator:
    if name not in EVALUATORS:
        raise ConfigError(f"unknown evaluator {name!r}: choose one of {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name](subject, **options)


def evaluator_names() -> list[str]:
    return sorted(EVALUATORS)


def artifact_producers(artifact: str) -> list[str]:
    """The evaluators that declare `artifact` (e.g. "bn_stats"): where a study's artifacts of that
    kind are stored (the store keys artifacts by evaluator, not by what they hold)."""
    return sorted(name for name, cls in EVALUATORS.items() if cls.artifact == artifact)


def host_cpu() -> str:
    """A short name of this machine's CPU, part of latency contexts (latency depends on it)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
