"""`explorer demo`: the whole product in a few minutes on the embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import DataDirOption, ThreadsOption, set_threads
from explorer.cli.search import build_engine, front_table, run_strategies
from explorer.config import SkipConfig
from explorer.engine import load_study
from explorer.errors import CheckpointError
from explorer.storage import Database

REFERENCE = "resnet20-sd-fmnist"


def models_dir() -> Path:
    """The reference checkpoints: $EXPLORER_MODELS, else models/ of the source checkout."""
    env = os.environ.get("EXPLORER_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def reference_checkpoint(name: str = REFERENCE) -> Path:
    path = models_dir() / name
    if not (path / "metadata.json").is_file():
        raise CheckpointError(
            f"reference checkpoint {name} not found in {models_dir()}: install skip-explorer from its "
            "source checkout (pip install -e .) or set EXPLORER_MODELS to the folder holding models/"
        )
    return path


@app.command("demo")
def demo_cmd(
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help=f"Checkpoint to use (default: models/{REFERENCE})."
    ),
    db: str = typer.Option(
        "sqlite:///explorer-demo.db", "--db", help="Results database (default: a SQLite file here)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Validation images per evaluation (default: all 5,000)."),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
) -> None:
    """The whole product in a few minutes: single-block skips, a search, the Pareto front."""
    set_threads(threads)
    console = Console()
    path = checkpoint or reference_checkpoint()
    database = Database(db)
    engine = build_engine(database, path, f"demo-{Path(path).resolve().name}", limit=limit, data_dir=data_dir)
    ckpt = engine.subject.checkpoint
    console.rule("[bold]1. The model")
    console.print(
        f"{ckpt.arch} trained on {ckpt.dataset} with Stochastic Depth p_L = {ckpt.meta['training']['sd_pl']}: "
        f"{ckpt.num_gates} skippable blocks, one executable for all {2**ckpt.num_gates} configurations"
    )
    console.rule("[bold]2. Search (sensitivity ranking, accuracy on the validation split, latency-torch)")
    run_strategies(engine, ["sensitivity"], budget=None, seed=0, console=console)
    view = load_study(database, engine.study)
    full = view.full
    table = Table(title="Accuracy with one block skipped (validation split)")
    for col in ("skipped gate", "skip vector", "accuracy", "Δ vs all blocks", "latency ms"):
        table.add_column(col, justify="left" if col == "skip vector" else "right")
    table.add_row("none", str(full.config), f"{100 * full['accuracy']:.2f}%", "", f"{full['latency_ms']:.3f}")
    by_config = {str(e.config): e for e in view.evaluations("sensitivity")}
    for g in range(ckpt.num_gates):
        e = by_config[str(SkipConfig.skipping([g], ckpt.num_gates))]
        table.add_row(
            str(g), str(e.config), f"{100 * e['accuracy']:.2f}%",
            f"{100 * (e['accuracy'] - full['accuracy']):+.2f}", f"{e['latency_ms']:.3f}",
        )  # fmt: skip
    console.print(table)
    console.rule("[bold]3. Pareto front")
    console.print(front_table(view))
    console.print(f"Results are stored in {db} (study {engine.study}); show them again with:")
    console.print(f"  explorer pareto --db {db} --study {engine.study}", highlight=False)
