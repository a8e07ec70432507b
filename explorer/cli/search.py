"""`explorer search` and `explorer pareto`: find and show the accuracy/cost Pareto front."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from explorer.checkpoint import load_checkpoint
from explorer.cli import app
from explorer.cli.common import DataDirOption, ThreadsOption, make_console, set_threads
from explorer.config import SkipSpace
from explorer.engine import Engine, StudyView, load_study
from explorer.errors import ConfigError, ExplorerError
from explorer.evaluators import Subject, create_evaluator
from explorer.search import STRATEGIES, create_strategy, strategy_names
from explorer.search._optuna import OptunaStrategy, optuna_storage
from explorer.search.exhaustive import MAX_GATES
from explorer.storage import Database
from explorer.workers import DEFAULT_STALE_AFTER_S, Worker, WorkerStopped, submit_job

DEFAULT_DB = "sqlite:///explore.db"
COST_METRICS = {"latency": "latency_ms", "macs": "macs"}
ALL_ORDER = ["sensitivity", "l2-norm", "fisher", "hessian", "random", "nsga2", "exhaustive"]


def build_engine(
    db: Database,
    checkpoint: Path,
    study: str | None,
    *,
    objective: str = "latency",
    latency_evaluator: str = "latency-iree",
    split: str = "val",
    limit: int | None = None,
    data_dir: Path | None = None,
    chunk_size: int = 32,
    bn_recal: int = 0,
    bn_seed: int = 0,
    worker: Worker | None = None,
) -> Engine:
    if objective not in COST_METRICS:
        raise ConfigError(f"--objective must be 'latency' or 'macs', got {objective!r}")
    ckpt = load_checkpoint(checkpoint)
    subject = Subject(ckpt, data_dir)
    evaluators = [
        create_evaluator("accuracy", subject, split=split, limit=limit, bn_recal=bn_recal, bn_seed=bn_seed),
        create_evaluator("flops", subject),
    ]
    if objective == "latency":
        options = {"bn_input": True} if bn_recal and latency_evaluator == "latency-iree" else {}
        evaluators.append(create_evaluator(latency_evaluator, subject, **options))
    name = study or Path(checkpoint).resolve().name
    return Engine(db, subject, name, evaluators, COST_METRICS[objective], chunk_size=chunk_size, worker=worker)


def optuna_options(engine: Engine, name: str) -> dict:
    """optuna strategies share one optuna study per (study, strategy) in the same database."""
    if not issubclass(STRATEGIES[name], OptunaStrategy):
        return {}
    stale = engine.worker.stale_after_s if engine.worker else DEFAULT_STALE_AFTER_S
    storage = optuna_storage(engine.db.url, heartbeat_s=max(1, round(stale / 6)), grace_s=max(2, round(stale)))
    salt = int(engine.worker.id[:8], 16) if engine.worker else 0
    return {"storage": storage, "study_name": f"{engine.study}/{name}", "worker_salt": salt}


def run_strategies(
    engine: Engine, names: list[str], *, budget: int | None, seed: int, console: Console, progress: bool = True
) -> None:
    space = SkipSpace(engine.space.num_gates)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("HV {task.fields[hv]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    for name in names:
        # the exhaustive front is the ground truth the others are judged by: never cut short in a comparison
        strategy = create_strategy(
            name,
            space=space,
            seed=seed,
            budget=None if name == "exhaustive" and len(names) > 1 else budget,
            probe=engine.probe(),
            objectives=("accuracy", engine.cost_metric),
            **optuna_options(engine, name),
        )
        if isinstance(strategy, OptunaStrategy) and engine.worker is not None:
            engine.worker.beat_hooks.append(strategy.heartbeat)  # optuna's heartbeat for its running trials
        with Progress(*columns, console=console, transient=True, disable=not progress) as bar:
            task = bar.add_task(name, total=strategy.expected_evaluations(), hv="-")

            def on_progress(n: int, hv: float | None, task=task, bar=bar) -> None:
                bar.update(task, advance=n, hv=f"{hv:.4f}" if hv is not None else "-")

            result = engine.run(strategy, on_progress)
        console.print(
            f"{name}: {len(result.evaluations)} configurations, hypervolume {engine.hypervolume(result.evaluations):.4f}"
            f" ({result.wall_time_s:.1f} s)"
        )


def comparison_table(view: StudyView) -> Table:
    names = view.strategies()
    exhaustive = None
    if "exhaustive" in names and len(view.evaluations("exhaustive")) == 2**view.checkpoint.num_gates:
        exhaustive = view.hypervolume("exhaustive")
    table = Table(title=f"Strategies in study {view.name} (hypervolume of accuracy vs {view.cost_metric})")
    for col in ("strategy", "evaluations", "front size", "hypervolume", "÷ exhaustive", "eval time (s)"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for name in names:
        hv = view.hypervolume(name)
        table.add_row(
            name,
            str(len(view.evaluations(name))),
            str(len(view.front(name))),
            f"{hv:.4f}",
            f"{hv / exhaustive:.3f}" if exhaustive else "-",
            f"{view.wall_time_s(name):.1f}",
        )
    return table


def front_rows(view: StudyView, strategy: str | None = None) -> list[dict]:
    rows = []
    for e in sorted(view.front(strategy), key=lambda e: (e.config.num_skipped, -e["accuracy"])):
        rows.append(
            {
                "config": str(e.config),
                "skipped": list(e.config.skipped),
                "num_skipped": e.config.num_skipped,
                "accuracy": e["accuracy"],
                "latency_ms": e.metrics.get("latency_ms"),
                "latency_p95_ms": e.metrics.get("latency_p95_ms"),
                "macs": e.metrics.get("macs"),
            }
        )
    return rows


def front_table(view: StudyView, strategy: str | None = None) -> Table:
    title = f"Pareto front of study {view.name}" + (f", strategy {strategy}" if strategy else "")
    table = Table(title=f"{title}: accuracy vs {view.cost_metric} ({view.checkpoint.arch})")
    for col in ("skipped", "accuracy", "latency ms", "p95 ms", "MMACs", "skip vector", "skipped gates"):
        table.add_column(col, justify="right" if col not in ("skip vector", "skipped gates") else "left")
    for r in front_rows(view, strategy):
        table.add_row(
            str(r["num_skipped"]),
            f"{100 * r['accuracy']:.2f}%",
            f"{r['latency_ms']:.3f}" if r["latency_ms"] is not None else "-",
            f"{r['latency_p95_ms']:.3f}" if r["latency_p95_ms"] is not None else "-",
            f"{r['macs'] / 1e6:.2f}" if r["macs"] is not None else "-",
            r["config"],
            ",".join(map(str, r["skipped"])) or "-",
        )
    return table


@app.command("search")
def search_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint directory to explore."),
    strategy: str = typer.Option(
        "sensitivity", "--strategy", help=f"One of {', '.join(sorted(ALL_ORDER))}, or 'all' to compare them."
    ),
    budget: int | None = typer.Option(None, "--budget", help="Evaluations a strategy may use (random, nsga2, …)."),
    limit: int | None = typer.Option(None, "--limit", help="Validation images per accuracy evaluation (default: all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the strategies."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database (shared by workers)."),
    study: str | None = typer.Option(None, "--study", help="Study name (default: the checkpoint folder's name)."),
    objective: str = typer.Option("latency", "--objective", help="Cost to minimise: latency (ms) or macs."),
    latency_evaluator: str = typer.Option(
        "latency-iree",
        "--latency-evaluator",
        help="latency-iree (compiled module), latency-torch (PyTorch eager, quick) or latency-model (additive fit).",
    ),
    chunk_size: int = typer.Option(
        32,
        "--chunk-size",
        help="Configurations evaluated, claimed and stored together (smaller: finer-grained resume).",
    ),
    bn_recal: int = typer.Option(
        0, "--bn-recal", help="Re-estimate BatchNorm statistics per configuration on N training images (0: off)."
    ),
    bn_seed: int = typer.Option(0, "--bn-seed", help="Seed of the BatchNorm calibration images."),
    workers: int = typer.Option(
        1, "--workers", help="Local worker processes sharing the study (the same command on other machines joins it)."
    ),
    submit: bool = typer.Option(
        False, "--submit", help="Only queue the study; `explorer worker --db URL` processes work on it."
    ),
    stale_after: float = typer.Option(
        DEFAULT_STALE_AFTER_S,
        "--stale-after",
        help="Seconds without a heartbeat after which a worker's claims are taken over.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
    child: bool = typer.Option(
        False, "--child", hidden=True, help="Started by --workers: the parent prints the front."
    ),
) -> None:
    """Explore skip configurations of a checkpoint; every result is stored, re-runs resume.

    Any number of these processes, here (--workers K) or on other machines with the same --db,
    share one study: each configuration is claimed before it is evaluated, so none is evaluated
    twice, and the claims of a worker that dies are taken over. SIGTERM stops a worker cleanly.
    """
    set_threads(threads)
    console = make_console()
    names = check_strategies(strategy)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    options = search_options(names, budget=budget, limit=limit, seed=seed, objective=objective,
                             latency_evaluator=latency_evaluator, chunk_size=chunk_size, bn_recal=bn_recal,
                             bn_seed=bn_seed, data_dir=data_dir)  # fmt: skip
    if study is not None and not study.strip():
        raise ConfigError(
            "--study is empty: give the study a name, or leave --study out to name it after the checkpoint"
        )
    database = Database(db)  # creates the tables once, before any worker starts
    if database.in_memory:
        if workers > 1 or submit:
            raise ConfigError(f"--db {db} is an in-memory database, which other processes cannot see: use a file")
        console.print(
            f"[yellow]warning:[/] --db {db} keeps the results in memory: they are lost when this command ends "
            "(give a file, e.g. sqlite:///explore.db, to keep them)",
            highlight=False,
            soft_wrap=True,
        )
    name = study or Path(checkpoint).resolve().name
    if submit:
        added = queue_search(database, checkpoint, name, options)
        console.print(
            f"study [bold]{name}[/] {'queued' if added else 'was queued already'} in {db}; "
            f"start workers with: explorer worker --db {db}"
        )
        return
    if workers > 1:
        run_local_workers(workers, console)
        console.print(front_table(load_study(database, name)))
        return
    worker = Worker(database, stale_after_s=stale_after, study=name)
    worker.handle_signals()
    try:
        view = run_study(database, checkpoint, name, options, worker, console, progress=progress)
    except WorkerStopped:
        console.print(f"[yellow]stopped cleanly after measuring {worker.evaluated} configurations; run again to resume")
        raise typer.Exit(143) from None
    finally:
        worker.close()
    if child:
        return
    console.print(front_table(view))
    if len(view.strategies()) > 1:
        console.print(comparison_table(view))


def search_options(
    strategies: list[str], *, budget: int | None = None, limit: int | None = None, seed: int = 0,
    objective: str = "latency", latency_evaluator: str = "latency-iree", chunk_size: int = 32, bn_recal: int = 0,
    bn_seed: int = 0, data_dir: Path | None = None,
) -> dict:  # fmt: skip
    """Everything a worker needs to run a study, as stored in a queued job (JSON)."""
    if objective not in COST_METRICS:
        raise ConfigError(f"--objective must be 'latency' or 'macs', got {objective!r}")
    return {
        "strategies": strategies, "budget": budget, "limit": limit, "seed": seed, "objective": objective,
        "latency_evaluator": latency_evaluator, "chunk_size": chunk_size, "bn_recal": bn_recal, "bn_seed": bn_seed,
        "data_dir": str(data_dir) if data_dir else None,
    }  # fmt: skip


def queue_search(database: Database, checkpoint: Path, study: str, options: dict) -> bool:
    """Queue a study for `explorer worker` processes (explorer search --submit, the dashboard's Run page);
    False if it was queued already. A checkpoint that does not load is refused now, not by a worker later."""
    load_checkpoint(checkpoint)
    return submit_job(database, study, str(Path(checkpoint).resolve()), options)


def check_strategies(strategy: str) -> list[str]:
    names = ALL_ORDER if strategy == "all" else [strategy]
    for name in names:
        if name not in STRATEGIES:
            raise ConfigError(f"unknown strategy {name!r}: choose one of {', '.join(strategy_names())} or 'all'")
    return names


def run_study(
    database: Database, checkpoint: Path, name: str, options: dict, worker: Worker | None, console: Console,
    *, progress: bool = True,
) -> StudyView:  # fmt: skip
    """Build the engine for a study and run its strategies (options as stored in a queued job)."""
    data_dir = Path(options["data_dir"]) if options.get("data_dir") else None
    engine = build_engine(
        database, checkpoint, name, objective=options["objective"], latency_evaluator=options["latency_evaluator"],
        limit=options["limit"], data_dir=data_dir, chunk_size=options["chunk_size"], bn_recal=options["bn_recal"],
        bn_seed=options["bn_seed"], worker=worker,
    )  # fmt: skip
    names = options["strategies"]
    if len(names) > 1 and engine.space.num_gates > MAX_GATES:
        console.print(f"[yellow]exhaustive skipped: {engine.space.num_gates} gates is more than {MAX_GATES}")
        names = [n for n in names if n != "exhaustive"]
    console.print(
        f"study [bold]{engine.study}[/] in {database.url}: {engine.subject.checkpoint.arch}, {engine.space.num_gates} "
        f"gates, full depth accuracy {100 * engine.full['accuracy']:.2f}%, "
        f"{engine.cost_metric} {engine.full[engine.cost_metric]:.4g}"
    )
    run_strategies(engine, names, budget=options["budget"], seed=options["seed"], console=console, progress=progress)
    return load_study(database, engine.study)


def run_local_workers(count: int, console: Console) -> None:
    """Start `count` copies of this command as single workers, forward SIGTERM/SIGINT, wait for all."""
    from explorer.cli import invoked_args

    argv = invoked_args or sys.argv[1:]  # main(argv) called from Python: its own arguments, not sys.argv
    args = []
    skip = False
    for a in argv:  # drop --workers K / --workers=K, the children are single workers
        if skip:
            skip = False
            continue
        if a == "--workers":
            skip = True
            continue
        if a.startswith("--workers="):
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "explorer.cli", *args, "--workers", "1", "--no-progress", "--child"]
    children = [subprocess.Popen(cmd) for _ in range(count)]
    console.print(f"started {count} workers (pids {', '.join(str(c.pid) for c in children)})")

    def forward(signum, _frame):
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes = [c.wait() for c in children]
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if any(codes):
        raise ExplorerError(f"worker exit codes {codes}: see their messages above; run again to resume")


@app.command("pareto")
def pareto_cmd(
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database."),
    study: str = typer.Option(..., "--study", help="Study name."),
    strategy: str | None = typer.Option(None, "--strategy", help="Only this strategy's configurations."),
    device: str | None = typer.Option(None, "--device", help="Use latencies imported for this device."),
    plain_bn: bool = typer.Option(
        False, "--plain-bn", help="In a --bn-recal study: the front with the stock BatchNorm statistics."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the front as JSON."),
) -> None:
    """Print a study's Pareto front, sorted by number of skipped blocks."""
    view = load_study(Database(db, create=False), study, device=device, plain_bn=plain_bn)
    if strategy is not None and strategy not in view.strategies():
        raise ConfigError(
            f"study {study!r} has no results of strategy {strategy!r} (it has {', '.join(view.strategies())})"
        )
    if as_json:
        doc = {
            "study": view.name,
            "checkpoint_sha256": view.checkpoint.sha256,
            "arch": view.checkpoint.arch,
            "cost_metric": view.cost_metric,
            "hypervolume": view.hypervolume(strategy),
            "front": front_rows(view, strategy),
        }
        print(json.dumps(doc, indent=2))
        return
    console = make_console()
    console.print(front_table(view, strategy))
    if len(view.strategies()) > 1 and strategy is None:
        console.print(comparison_table(view))
