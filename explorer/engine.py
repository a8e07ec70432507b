"""The exploration engine: ask/tell between a strategy and the evaluators, with storage and caching.

A study fixes a checkpoint and the evaluators' settings. For each batch a strategy asks for, the
engine records the proposals as trials, evaluates in chunks only what the database does not hold
yet for (checkpoint, evaluator, context, configuration), stores each chunk as soon as it is done,
and tells the strategy the results. A search killed at any moment and run again replays the
strategy (same seed, same stored results, so the same proposals) and evaluates only what is
missing: nothing is lost and nothing is evaluated twice.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from explorer.data import iterate_batches
from explorer.errors import ConfigError
from explorer.evaluators import BaseEvaluator, Subject
from explorer.pareto import hypervolume
from explorer.search import BaseStrategy, Probe
from explorer.skip import Evaluation, SkipConfig, SkipSpace
from explorer.storage import Database
from explorer.storage import results as store
from explorer.storage.results import REFERENCE
from explorer.workers import Worker, claim_scope

ProgressFn = Callable[[int, float | None], None]  # (configurations done in this call, hypervolume so far)


def make_probe(subject: Subject, images: int = 512, batch_size: int = 128, seed: int = 0) -> Probe:
    """A few seeded batches of training images (no augmentation) and an eval-mode copy of the model."""
    data = subject.data
    pick = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(seed))[:images]
    batches = list(iterate_batches(data.train_x[pick], data.train_y[pick], batch_size, mean=data.mean, std=data.std))
    model = copy.deepcopy(subject.checkpoint.model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return Probe(model=model, batches=batches)


@dataclass
class StrategyRun:
    strategy: str
    evaluations: list[Evaluation]
    wall_time_s: float


class Engine:
    """Evaluates configurations of one checkpoint for one study, through the database cache."""

    def __init__(
        self,
        db: Database,
        subject: Subject,
        study: str,
        evaluators: list[BaseEvaluator],
        cost_metric: str,
        *,
        chunk_size: int = 32,
        worker: Worker | None = None,
        poll_s: float = 1.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        if not any("accuracy" in ev.metrics for ev in evaluators):
            raise ConfigError("a study needs the accuracy evaluator")
        if not any(cost_metric in ev.metrics for ev in evaluators):
            raise ConfigError(f"no evaluator measures the cost objective {cost_metric!r}")
        self.db, self.subject, self.evaluators = db, subject, evaluators
        self.cost_metric, self.chunk_size = cost_metric, chunk_size
        self.space = SkipSpace(subject.checkpoint.num_gates)
        self.checkpoint_id = self._register_checkpoint()
        self.settings = {"cost_metric": cost_metric, "evaluators": {ev.name: ev.context for ev in evaluators}}
        self.study_id = self._open_study(study)
        self.study = study
        # parallel workers: claims keyed by the evaluator settings, so other settings never collide
        self.worker, self.poll_s = worker, poll_s
        # a resumed search can sit still for a minute on its own dead run's claims: say why
        self.on_wait = on_wait or (lambda text: None)
        self.scope = claim_scope(self.settings["evaluators"])
        if worker is not None:
            worker.set_study(study)
        self._probe: Probe | None = None
        self.full = self.evaluate([self.space.full()], REFERENCE)[0]

    # -- storage (explorer.storage.results holds the SQL) ------------------------------------------

    def _register_checkpoint(self) -> int:
        ckpt = self.subject.checkpoint
        return store.register_checkpoint(self.db, sha256=ckpt.sha256, arch=ckpt.arch, dataset=ckpt.dataset,
                                           num_gates=ckpt.num_gates, path=str(ckpt.path), meta=ckpt.meta)  # fmt: skip

    def _open_study(self, name: str) -> int:
        return store.open_study(self.db, name, self.checkpoint_id, self.settings, str(self.subject.checkpoint.path))

    def _cached(self, ev: BaseEvaluator, configs: list[SkipConfig]) -> dict[str, dict]:
        return store.cached_metrics(self.db, self.checkpoint_id, ev.name, ev.context, [str(c) for c in configs])

    def _record_trials(self, configs: list[SkipConfig], strategy: str) -> None:
        store.record_trials(self.db, self.study_id, strategy, [str(c) for c in configs])

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(
        self, configs: list[SkipConfig], strategy: str, on_chunk: Callable[[list[Evaluation]], None] | None = None
    ) -> list[Evaluation]:
        """Metrics of every configuration from every evaluator, from the cache or freshly measured.

        With a worker, a configuration is measured only after claiming it; those claimed by other
        live workers are waited for (after the chunks this worker could claim), those of dead
        workers taken over. Results come back in the order of `configs`.
        """
        configs = list(dict.fromkeys(configs))
        for c in configs:
            if len(c) != self.space.num_gates:
                raise ConfigError(f"configuration {c} has {len(c)} bits, the model has {self.space.num_gates} gates")
        self._record_trials(configs, strategy)
        results: dict[SkipConfig, Evaluation] = {}

        def deliver(done: list[Evaluation]) -> None:
            for e in done:
                results[e.config] = e
            if on_chunk and done:
                on_chunk(done)

        pending: list[SkipConfig] = []
        for start in range(0, len(configs), self.chunk_size):
            chunk = configs[start : start + self.chunk_size]
            if self.worker is None:
                deliver(self._measure(chunk, strategy))
                continue
            self.worker.check_stop()
            mine, others = self._claim(chunk)
            pending += others
            deliver(self._measure([c for c in chunk if c not in set(others)], strategy))
            self._finish(mine)
        if pending:
            self.on_wait(
                f"waiting for {len(pending)} configuration(s) other workers claimed; a worker silent for "
                f"{self.worker.stale_after_s:g} s counts as dead and its claims are taken over (--stale-after)"
            )
        while pending:  # configurations other workers were measuring
            self.worker.check_stop()
            mine, others = self._claim(pending)
            ready = [c for c in pending if c not in set(others)]
            deliver(self._measure(ready, strategy))
            self._finish(mine)
            pending = others
            if pending:
                time.sleep(self.poll_s)
        return [results[c] for c in configs]

    def _missing(self, configs: list[SkipConfig]) -> list[SkipConfig]:
        """Configurations some evaluator has not stored yet."""
        have = [set(self._cached(ev, configs)) for ev in self.evaluators]
        return [c for c in configs if not all(str(c) in h for h in have)]

    def _claim(self, configs: list[SkipConfig]) -> tuple[list[SkipConfig], list[SkipConfig]]:
        """(claimed by this worker, held by other live workers) among the configurations still missing."""
        missing = self._missing(configs)
        got = set(self.worker.claim(self.checkpoint_id, self.scope, self.study, [str(c) for c in missing]))
        return [c for c in missing if str(c) in got], [c for c in missing if str(c) not in got]

    def _finish(self, mine: list[SkipConfig]) -> None:
        self.worker.finish(self.checkpoint_id, self.scope, [str(c) for c in mine])

    def _measure(self, chunk: list[SkipConfig], strategy: str) -> list[Evaluation]:
        """Evaluate and store what the cache lacks for `chunk`, then return the chunk's metrics."""
        if not chunk:
            return []
        metrics: dict[str, dict[str, float]] = {str(c): {} for c in chunk}
        measured: set[SkipConfig] = set()
        for ev in self.evaluators:
            cached = self._cached(ev, chunk)
            todo = [c for c in chunk if str(c) not in cached]
            if todo:
                t0 = time.perf_counter()
                values = ev.evaluate(todo)
                per_config = (time.perf_counter() - t0) / len(todo)
                measured.update(todo)
                rows = [
                    {
                        "checkpoint_id": self.checkpoint_id,
                        "evaluator": ev.name,
                        "context": ev.context,
                        "config": str(c),
                        "num_skipped": c.num_skipped,
                        "metrics": _numbers(ev, v),
                        "blob": v.get(ev.artifact) if ev.artifact else None,
                        "wall_time_s": per_config,
                        "study_id": self.study_id,
                        "strategy": strategy,
                    }
                    for c, v in zip(todo, values)
                ]
                store.store_evaluations(self.db, rows)
                # read back: if another worker stored a configuration first, everyone uses its values
                cached.update(self._cached(ev, todo))
            for key in metrics:
                metrics[key].update(cached[key])
        if self.worker is not None and measured:
            self.worker.count_evaluated(len(measured))
        return [Evaluation(c, metrics[str(c)]) for c in chunk]

    def probe(self) -> Probe:
        if self._probe is None:
            self._probe = make_probe(self.subject)
        return self._probe

    def run(self, strategy: BaseStrategy, on_progress: ProgressFn | None = None) -> StrategyRun:
        """Drive one strategy to completion; returns every evaluation it received."""
        seen: dict[SkipConfig, Evaluation] = {}
        t0 = time.perf_counter()

        def on_chunk(done: list[Evaluation]) -> None:
            for e in done:
                seen[e.config] = e
            if on_progress:
                on_progress(len(done), self.hypervolume(list(seen.values())))

        while True:
            configs = strategy.ask()
            if not configs:
                break
            results = self.evaluate(configs, strategy.name, on_chunk)
            strategy.tell(results)
        return StrategyRun(strategy.name, list(seen.values()), time.perf_counter() - t0)

    def hypervolume(self, evaluations: list[Evaluation]) -> float:
        return hypervolume(
            [e["accuracy"] for e in evaluations],
            [e[self.cost_metric] for e in evaluations],
            self.full[self.cost_metric],
        )


def _numbers(ev: BaseEvaluator, values: dict) -> dict[str, float]:
    """An evaluation's metrics without its artifact; anything else that is not a number is refused
    before it reaches the database."""
    metrics = {k: x for k, x in values.items() if k != ev.artifact}
    for k, x in metrics.items():
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise TypeError(f"evaluator {ev.name!r} returned {k}={type(x).__name__}: metrics are numbers "
                            "(bytes belong under its declared `artifact`)")  # fmt: skip
    return metrics
