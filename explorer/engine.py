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
from dataclasses import dataclass, field

import torch
from sqlalchemy import func, select

from explorer.config import Evaluation, SkipConfig, SkipSpace
from explorer.data import iterate_batches
from explorer.errors import ConfigError
from explorer.evaluators import BaseEvaluator, Subject
from explorer.pareto import front_indices, hypervolume
from explorer.search import BaseStrategy, Probe
from explorer.storage import CheckpointRecord, Database, EvaluationRecord, StorageError, Study, Trial
from explorer.storage.session import StudySettingsError
from explorer.workers import Worker, claim_scope

REFERENCE = "reference"  # pseudo-strategy of the full-depth configuration every study evaluates first
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
        self.scope = claim_scope(self.settings["evaluators"])
        if worker is not None:
            worker.set_study(study)
        self._probe: Probe | None = None
        self.full = self.evaluate([self.space.full()], REFERENCE)[0]

    # -- storage ---------------------------------------------------------------------------------

    def _register_checkpoint(self) -> int:
        ckpt = self.subject.checkpoint
        with self.db.session() as s:
            self.db.insert_ignore(
                s,
                CheckpointRecord,
                [
                    {
                        "sha256": ckpt.sha256,
                        "arch": ckpt.arch,
                        "dataset": ckpt.dataset,
                        "num_gates": ckpt.num_gates,
                        "path": str(ckpt.path),
                        "meta": ckpt.meta,
                    }
                ],
            )
            s.commit()
            return s.scalars(select(CheckpointRecord.id).where(CheckpointRecord.sha256 == ckpt.sha256)).one()

    def _open_study(self, name: str) -> int:
        with self.db.session() as s:
            self.db.insert_ignore(
                s, Study, [{"name": name, "checkpoint_id": self.checkpoint_id, "settings": self.settings}]
            )
            s.commit()
            study = s.scalars(select(Study).where(Study.name == name)).one()
            if study.checkpoint_id != self.checkpoint_id:
                other = s.get(CheckpointRecord, study.checkpoint_id)
                raise StorageError(
                    f"study {name!r} belongs to checkpoint {other.path} (sha256 {other.sha256[:12]}…), not "
                    f"{self.subject.checkpoint.path}: choose another --study name"
                )
            if study.settings != self.settings:
                err = StudySettingsError(
                    f"study {name!r} was created with other settings ({_settings_text(study.settings)}), "
                    f"this run uses {_settings_text(self.settings)}: use the same options or another --study name"
                )
                err.settings = self.settings
                raise err
            return study.id

    def _cached(self, ev: BaseEvaluator, configs: list[SkipConfig]) -> dict[str, dict]:
        keys = [str(c) for c in configs]
        with self.db.session() as s:
            rows = s.execute(
                select(EvaluationRecord.config, EvaluationRecord.metrics).where(
                    EvaluationRecord.checkpoint_id == self.checkpoint_id,
                    EvaluationRecord.evaluator == ev.name,
                    EvaluationRecord.context == ev.context,
                    EvaluationRecord.config.in_(keys),
                )
            ).all()
        return {config: metrics for config, metrics in rows}

    def _record_trials(self, configs: list[SkipConfig], strategy: str) -> None:
        with self.db.session() as s:
            start = s.scalar(select(func.count()).where(Trial.study_id == self.study_id, Trial.strategy == strategy))
            rows = [
                {"study_id": self.study_id, "strategy": strategy, "config": str(c), "seq": start + i}
                for i, c in enumerate(configs)
            ]
            self.db.insert_ignore(s, Trial, rows)
            s.execute(Study.__table__.update().where(Study.id == self.study_id).values(updated_at=func.now()))
            s.commit()

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
                        "metrics": {k: x for k, x in v.items() if not isinstance(x, bytes)},
                        "blob": next((x for x in v.values() if isinstance(x, bytes)), None),
                        "wall_time_s": per_config,
                        "study_id": self.study_id,
                        "strategy": strategy,
                    }
                    for c, v in zip(todo, values)
                ]
                with self.db.session() as s:
                    self.db.insert_ignore(s, EvaluationRecord, rows)
                    s.commit()
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


def _settings_text(settings: dict) -> str:
    parts = [f"cost {settings.get('cost_metric')}"]
    parts += [f"{k}[{v}]" if v else k for k, v in sorted(settings.get("evaluators", {}).items())]
    return ", ".join(parts)


# -- reading a study back --------------------------------------------------------------------------


@dataclass
class StudyView:
    """Everything stored for one study: its settings, checkpoint, and per-strategy evaluations."""

    name: str
    settings: dict
    checkpoint: CheckpointRecord
    rows: list[dict]  # one per (strategy, configuration): config, strategy, seq, metrics, wall_time_s
    bn_stats: dict[str, bytes] = field(default_factory=dict)  # config → re-estimated BatchNorm statistics

    @property
    def cost_metric(self) -> str:
        return self.settings["cost_metric"]

    @property
    def latency_evaluator(self) -> str | None:
        """The evaluator whose latency_ms this view uses (a measured one, or an imported device)."""
        return next((name for name in self.settings["evaluators"] if name.startswith("latency")), None)

    def evaluations(self, strategy: str | None = None) -> list[Evaluation]:
        seen: dict[str, Evaluation] = {}
        for r in self.rows:
            if (strategy is None or r["strategy"] == strategy) and r["config"] not in seen:
                seen[r["config"]] = Evaluation(SkipConfig(tuple(int(b) for b in r["config"])), r["metrics"])
        return list(seen.values())

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(r["strategy"] for r in self.rows if r["strategy"] != REFERENCE))

    @property
    def full(self) -> Evaluation:
        full = "1" * self.checkpoint.num_gates
        for e in self.evaluations():
            if str(e.config) == full:
                return e
        if DEVICE_EVALUATOR in self.settings["evaluators"]:
            raise StorageError(
                f"no latency of the full-depth configuration {full} was imported for "
                f"{self.settings['evaluators'][DEVICE_EVALUATOR]}: it is the reference of the front; "
                "include it in the CSV (bench.sh does)"
            )
        raise StorageError(f"study {self.name!r} has no full-depth evaluation yet: run explorer search first")

    def front(self, strategy: str | None = None) -> list[Evaluation]:
        evs = [e for e in self.evaluations(strategy) if self.cost_metric in e.metrics and "accuracy" in e.metrics]
        idx = front_indices([e["accuracy"] for e in evs], [e[self.cost_metric] for e in evs])
        return [evs[i] for i in idx]

    def hypervolume(self, strategy: str | None = None) -> float:
        evs = [e for e in self.evaluations(strategy) if self.cost_metric in e.metrics]
        return hypervolume(
            [e["accuracy"] for e in evs], [e[self.cost_metric] for e in evs], self.full[self.cost_metric]
        )

    def wall_time_s(self, strategy: str) -> float:
        """Seconds its configurations cost to evaluate (all evaluators), whoever evaluated them first."""
        return sum(r["wall_time_s"] for r in self.rows if r["strategy"] == strategy)


DEVICE_EVALUATOR = "latency-device"  # latencies imported from a board (explorer import-latency)
ENERGY_EVALUATOR = "energy-device"  # energy per inference metered on a board (explorer import-energy)


def load_study(db: Database, name: str, device: str | None = None, plain_bn: bool = False) -> StudyView:
    """Read a study and the evaluations of all its trials under the study's evaluator settings.

    `device`: use the latencies imported for that device instead of the study's own latency
    evaluator (only configurations measured on the device are then part of the view).
    `plain_bn`: in a study searched with BatchNorm re-estimation, use the accuracy with the stock
    statistics (`accuracy_plain`) instead, to compare both fronts.
    """
    with db.session() as s:
        study = s.scalars(select(Study).where(Study.name == name)).first()
        if study is None:
            names = s.scalars(select(Study.name).order_by(Study.name)).all()
            hint = f"studies here: {', '.join(names)}" if names else "this database has no studies yet"
            raise StorageError(f"no study named {name!r} in {db.url} ({hint})")
        checkpoint = s.get(CheckpointRecord, study.checkpoint_id)
        settings = study.settings
        if device is not None:
            evaluators = {k: v for k, v in settings["evaluators"].items() if not k.startswith("latency")}
            evaluators[DEVICE_EVALUATOR] = device_context(device)
            evaluators[ENERGY_EVALUATOR] = device_context(device)  # merged where imported, else absent
            settings = {**settings, "evaluators": evaluators, "cost_metric": "latency_ms"}
        contexts = settings["evaluators"]
        q = (
            select(Trial.strategy, Trial.config, Trial.seq, EvaluationRecord.evaluator, EvaluationRecord.context,
                   EvaluationRecord.metrics, EvaluationRecord.wall_time_s, EvaluationRecord.blob)
            .join(EvaluationRecord, (EvaluationRecord.config == Trial.config)
                  & (EvaluationRecord.checkpoint_id == study.checkpoint_id))
            .where(Trial.study_id == study.id)
            .order_by(Trial.strategy, Trial.seq)
        )  # fmt: skip
        merged: dict[tuple[str, str], dict] = {}
        blobs: dict[str, bytes] = {}
        for strategy, config, seq, evaluator, context, metrics, wall, blob in s.execute(q):
            if contexts.get(evaluator) != context:
                continue  # measured under other settings (another study's split, another machine)
            row = merged.setdefault(
                (strategy, config),
                {"strategy": strategy, "config": config, "seq": seq, "metrics": {}, "wall_time_s": 0.0, "by": set()},
            )
            row["metrics"].update(metrics)
            row["wall_time_s"] += wall
            row["by"].add(evaluator)
            if blob is not None and evaluator == "accuracy" and not plain_bn:
                blobs[config] = blob
        # a configuration counts once every evaluator of the study has measured it (metered energy
        # is optional: merged where imported)
        required = set(contexts) - {ENERGY_EVALUATOR}
        rows = [r for r in merged.values() if r.pop("by") >= required]
        if plain_bn:
            if rows and not all("accuracy_plain" in r["metrics"] for r in rows):
                raise StorageError(f"study {name!r} was not searched with --bn-recal: it has only one accuracy")
            for r in rows:
                r["metrics"] = {**r["metrics"], "accuracy_recal": r["metrics"]["accuracy"],
                                "accuracy": r["metrics"]["accuracy_plain"]}  # fmt: skip
        if device is not None and not rows:
            raise StorageError(
                f"study {name!r} has no latencies imported for device {device!r}: run explorer import-latency"
            )
        return StudyView(study.name, settings, checkpoint, rows, blobs)


def device_context(device: str) -> str:
    return f"device={device}"
