"""`latency-iree`: batch-1 latency of the compiled IREE module on this machine, median and p95 in ms.

The module is compiled once for the host (cached) and loaded once; only the skip vector changes
between configurations. Timing protocol as `latency-torch` (interleaved shuffled rounds after a
warm-up). Device `local-sync` runs on the calling thread: one thread, the most stable batch-1
latency for the gated module.
"""

from __future__ import annotations

import numpy as np

from explorer.deploy.iree import IreeModule, compile_checkpoint, get_target, iree_version, module_key
from explorer.evaluators._base import BaseEvaluator, Subject, host_cpu, register_evaluator
from explorer.evaluators.latency_torch import interleaved_timings, summarize_ms
from explorer.skip import SkipConfig


@register_evaluator
class IreeLatencyEvaluator(BaseEvaluator):
    name = "latency-iree"
    metrics = ("latency_ms", "latency_p95_ms")

    def __init__(
        self, subject: Subject, device: str = "local-sync", rounds: int = 10, reps: int = 3, warmup: int = 3,
        warmup_s: float = 0.5, bn_input: bool = False,
    ):  # fmt: skip
        super().__init__(subject)
        self.device, self.rounds, self.reps, self.warmup, self.warmup_s = device, rounds, reps, warmup, warmup_s
        self.bn_input = bn_input
        self._module: IreeModule | None = None

    @property
    def context(self) -> str:
        key = module_key(self.subject.checkpoint, get_target("host"), 1, None, self.bn_input)
        return f"cpu={host_cpu()};device={self.device};batch=1;iree={iree_version()};module={key}"

    def module(self) -> IreeModule:
        if self._module is None:
            path = compile_checkpoint(self.subject.checkpoint, "host", bn_input=self.bn_input)
            self._module = IreeModule(path, device=self.device)
        return self._module

    def evaluate(self, configs: list[SkipConfig]) -> list[dict[str, float]]:
        module = self.module()
        c, h, w = self.subject.image_shape
        image = np.random.default_rng(0).standard_normal((1, h, w, c)).astype(np.float32)
        skips = [np.array(cfg.bits, dtype=np.int32) for cfg in configs]
        bn = None
        if self.bn_input:  # the values do not change the work done: the checkpoint's own statistics
            from explorer.bn import BNStats

            model = self.subject.checkpoint.model
            bn = np.concatenate(BNStats.of_model(model).scale_shift(model))
        times = interleaved_timings(
            lambda i: module(image, skips[i], bn), len(configs), rounds=self.rounds, reps=self.reps,
            warmup=self.warmup, warmup_s=self.warmup_s,
        )  # fmt: skip
        return [summarize_ms(t) for t in times]
