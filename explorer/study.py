"""The application layer of a study: its options, the engine that runs it, running or queueing it.

`explorer search`, `explorer worker`, `explorer demo`, the dashboard's Run page and the benchmarks
all go through here; they only parse their input and present what comes back. A study's options
travel as `SearchOptions`, which round-trips through the JSON of a queued job (`to_json` /
`from_json`), so a worker runs exactly what was queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from explorer.checkpoint import load_checkpoint
from explorer.engine import Engine, ProgressFn
from explorer.errors import ConfigError
from explorer.evaluators import Subject, create_evaluator
from explorer.search import StrategyContext, check_strategy, create_strategy, strategies_in_all
from explorer.search.exhaustive import MAX_GATES
from explorer.skip import SkipSpace
from explorer.storage import Database
from explorer.storage.coordination import DEFAULT_STALE_AFTER_S, submit_job
from explorer.storage.results import StudyView, load_study
from explorer.workers import Worker

DEFAULT_DB = "sqlite:///explore.db"
COST_METRICS = {"latency": "latency_ms", "macs": "macs"}  # --objective → the metric it minimises


@dataclass(frozen=True)
class SearchOptions:
    """Everything that decides what a study measures and how it searches (a queued job's JSON)."""

    strategies: tuple[str, ...] = ("sensitivity",)
    budget: int | None = None  # evaluations a strategy may use (None: its own default)
    limit: int | None = None  # validation images per accuracy evaluation (None: all)
    seed: int = 0
    objective: str = "latency"  # a key of COST_METRICS
    latency_evaluator: str = "latency-iree"
    chunk_size: int = 32  # configurations evaluated, claimed and stored together
    bn_recal: int = 0  # training images per BatchNorm re-estimation (0: the checkpoint's statistics)
    bn_seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategies", tuple(self.strategies))
        if self.objective not in COST_METRICS:
            raise ConfigError(f"--objective must be 'latency' or 'macs', got {self.objective!r}")
        for name in self.strategies:
            check_strategy(name)
        if self.chunk_size < 1:
            raise ConfigError(f"--chunk-size must be at least 1, got {self.chunk_size}")

    @property
    def cost_metric(self) -> str:
        return COST_METRICS[self.objective]

    def to_json(self) -> dict:
        return {**asdict(self), "strategies": list(self.strategies)}

    @classmethod
    def from_json(cls, doc: dict) -> SearchOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(f"a queued study has options this version does not know: {', '.join(unknown)}")
        return cls(**doc)


def resolve_strategies(strategy: str) -> list[str]:
    """`--strategy` as a list of registered names ('all': the registry's comparison set)."""
    names = strategies_in_all() if strategy == "all" else [strategy]
    for name in names:
        check_strategy(name)
    return names


def build_engine(
    db: Database,
    checkpoint: Path,
    study: str | None,
    options: SearchOptions,
    *,
    split: str = "val",
    worker: Worker | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Engine:
    """The engine of a study: accuracy, MACs and (for the latency objective) a latency evaluator."""
    ckpt = load_checkpoint(checkpoint)
    subject = Subject(ckpt, Path(options.data_dir) if options.data_dir else None)
    evaluators = [
        create_evaluator("accuracy", subject, split=split, limit=options.limit, bn_recal=options.bn_recal,
                         bn_seed=options.bn_seed),
        create_evaluator("flops", subject),
    ]  # fmt: skip
    if options.objective == "latency":
        bn_input = options.bn_recal and options.latency_evaluator == "latency-iree"
        evaluators.append(
            create_evaluator(options.latency_evaluator, subject, **({"bn_input": True} if bn_input else {}))
        )
    name = study or Path(checkpoint).resolve().name
    return Engine(db, subject, name, evaluators, options.cost_metric, chunk_size=options.chunk_size, worker=worker,
                  on_wait=on_wait)  # fmt: skip


def strategy_context(engine: Engine) -> StrategyContext:
    """What the strategies of this engine's study may need: the database, the study, the worker."""
    worker = engine.worker
    return StrategyContext(
        db_url=engine.db.url,
        study=engine.study,
        worker_salt=int(worker.id[:8], 16) if worker else 0,
        stale_after_s=worker.stale_after_s if worker else DEFAULT_STALE_AFTER_S,
        on_heartbeat=worker.beat_hooks.append if worker else None,
    )


class StudyListener:
    """What a running study reports. This one ignores everything; the CLI's draws progress bars."""

    def message(self, text: str) -> None:
        """A line for the user (may carry rich markup such as [bold]…[/])."""

    @contextmanager
    def strategy(self, name: str, total: int | None) -> Iterator[ProgressFn]:
        """Around one strategy's run: yields the callback that receives its progress."""
        yield lambda n, hv: None


def run_strategies(
    engine: Engine, names: list[str], *, budget: int | None, seed: int, listener: StudyListener | None = None
) -> None:
    listener = listener or StudyListener()
    space = SkipSpace(engine.space.num_gates)
    for name in names:
        # the exhaustive front is the ground truth the others are judged by: never cut short in a comparison
        strategy = create_strategy(
            name,
            space=space,
            seed=seed,
            budget=None if name == "exhaustive" and len(names) > 1 else budget,
            probe=engine.probe(),
            objectives=("accuracy", engine.cost_metric),
            context=strategy_context(engine),
        )
        with listener.strategy(name, strategy.expected_evaluations()) as on_progress:
            result = engine.run(strategy, on_progress)
        listener.message(
            f"{name}: {len(result.evaluations)} configurations, hypervolume {engine.hypervolume(result.evaluations):.4f}"
            f" ({result.wall_time_s:.1f} s)"
        )


def run_study(
    database: Database, checkpoint: Path, name: str, options: SearchOptions, worker: Worker | None = None,
    listener: StudyListener | None = None,
) -> StudyView:  # fmt: skip
    """Build the engine of a study, run its strategies, and read the study back."""
    listener = listener or StudyListener()
    engine = build_engine(database, checkpoint, name, options, worker=worker, on_wait=listener.message)
    names = list(options.strategies)
    if len(names) > 1 and engine.space.num_gates > MAX_GATES:
        listener.message(f"[yellow]exhaustive skipped: {engine.space.num_gates} gates is more than {MAX_GATES}")
        names = [n for n in names if n != "exhaustive"]
    listener.message(
        f"study [bold]{engine.study}[/] in {database.url}: {engine.subject.checkpoint.arch}, {engine.space.num_gates} "
        f"gates, full depth accuracy {100 * engine.full['accuracy']:.2f}%, "
        f"{engine.cost_metric} {engine.full[engine.cost_metric]:.4g}"
    )
    run_strategies(engine, names, budget=options.budget, seed=options.seed, listener=listener)
    return load_study(database, engine.study)


def queue_search(database: Database, checkpoint: Path, study: str, options: SearchOptions) -> bool:
    """Queue a study for `explorer worker` processes (explorer search --submit, the dashboard's Run page);
    False if it was queued already. A checkpoint that does not load is refused now, not by a worker later."""
    load_checkpoint(checkpoint)
    return submit_job(database, study, str(Path(checkpoint).resolve()), options.to_json())
