"""`accuracy`: top-1 accuracy (fraction 0..1) on the validation split (search) or test split (reporting).

Many configurations are evaluated per pass over the data by sharing work between those with a
common prefix of gate decisions (`explorer.models.walk`), with results equal to per-configuration
evaluation bit for bit.
"""

from __future__ import annotations

import copy

import torch

from explorer.data import iterate_batches
from explorer.errors import DataError
from explorer.evaluators._base import BaseEvaluator, Subject, register_evaluator
from explorer.models.walk import walk_configs
from explorer.skip import SkipConfig


@register_evaluator
class AccuracyEvaluator(BaseEvaluator):
    """Top-1 accuracy; with `bn_recal=N`, each configuration is evaluated with BatchNorm statistics
    re-estimated for it on N seeded training images (`accuracy`), next to the stock statistics
    (`accuracy_plain`), and its statistics are returned for storage (`bn_stats`, bytes)."""

    name = "accuracy"
    metrics = ("accuracy",)
    artifact = "bn_stats"

    def __init__(
        self,
        subject: Subject,
        split: str = "val",
        limit: int | None = None,
        batch_size: int = 500,
        bn_recal: int = 0,
        bn_seed: int = 0,
    ):
        super().__init__(subject)
        if split not in ("val", "test"):
            raise DataError(f"accuracy is measured on 'val' (search) or 'test' (reporting), not {split!r}")
        if limit is not None and limit < 1:
            raise DataError(f"--limit must be positive, got {limit}")
        if bn_recal < 0 or bn_recal == 1:
            raise DataError(f"--bn-recal must be 0 (off) or at least 2 images, got {bn_recal}")
        self.split, self.limit, self.batch_size = split, limit, batch_size
        self.bn_recal, self.bn_seed = bn_recal, bn_seed

    @property
    def context(self) -> str:
        ctx = f"split={self.split};limit={self.limit or 'all'}"
        return ctx + (f";bn_recal={self.bn_recal};bn_seed={self.bn_seed}" if self.bn_recal else "")

    def evaluate(self, configs: list[SkipConfig]) -> list[dict]:
        data = self.subject.data
        x, y = data.split(self.split)
        if self.limit is not None:
            x, y = x[: self.limit], y[: self.limit]
        model = self.subject.checkpoint.model.eval()
        table = recal_model = None
        if self.bn_recal:
            from explorer.bn import calibration_images, reestimate_table

            images = calibration_images(data, self.bn_recal, self.bn_seed)
            table = reestimate_table(model, images, configs, mean=data.mean, std=data.std)
            recal_model = copy.deepcopy(model).eval()
        correct = torch.zeros(len(configs), dtype=torch.long)
        plain = torch.zeros(len(configs), dtype=torch.long)
        with torch.inference_mode():
            for xb, yb in iterate_batches(x, y, self.batch_size, mean=data.mean, std=data.std, channels_last=True):
                for i, logits in enumerate(walk_configs(model, xb, configs)):
                    plain[i] += int((logits.argmax(1) == yb).sum())
                if table is not None:
                    for i, logits in enumerate(walk_configs(recal_model, xb, configs, table.applier(recal_model))):
                        correct[i] += int((logits.argmax(1) == yb).sum())
        n = max(len(y), 1)
        if table is None:
            return [{"accuracy": int(c) / n} for c in plain]
        return [
            {"accuracy": int(c) / n, "accuracy_plain": int(p) / n, "bn_stats": table.stats(cfg).to_bytes()}
            for c, p, cfg in zip(correct, plain, configs)
        ]
