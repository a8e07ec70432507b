"""`explorer search` and `explorer pareto`: find and show the accuracy/cost Pareto front."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import ConsoleListener, DataDirOption, ThreadsOption, make_console, set_threads
from explorer.errors import ConfigError, ExplorerError
from explorer.search import strategies_in_all, strategy_names
from explorer.storage import Database
from explorer.storage.coordination import DEFAULT_STALE_AFTER_S
from explorer.storage.results import StudyView, load_study
from explorer.study import DEFAULT_DB, SearchOptions, queue_search, resolve_strategies, run_study
from explorer.workers import Worker, WorkerStopped


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
        "sensitivity",
        "--strategy",
        help=f"One of {', '.join(strategy_names())}, or 'all' to compare {', '.join(strategies_in_all())}.",
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
    names = resolve_strategies(strategy)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    options = SearchOptions(names, budget=budget, limit=limit, seed=seed, objective=objective,
                            latency_evaluator=latency_evaluator, chunk_size=chunk_size, bn_recal=bn_recal,
                            bn_seed=bn_seed, data_dir=str(data_dir) if data_dir else None)  # fmt: skip
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
        view = run_study(database, checkpoint, name, options, worker, ConsoleListener(console, progress))
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
