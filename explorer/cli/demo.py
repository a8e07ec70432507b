"""`explorer demo`: the whole product in a few minutes on the embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import DataDirOption, ThreadsOption, load_for_checkpoint, set_threads
from explorer.errors import CheckpointError
from explorer.evaluate import accuracy

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
    limit: int | None = typer.Option(None, "--limit", help="Validation images to use (default: the whole split)."),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
) -> None:
    """Evaluate the reference checkpoint with all blocks and with each block skipped alone."""
    set_threads(threads)
    console = Console()
    path = checkpoint or reference_checkpoint()
    ckpt, data = load_for_checkpoint(path, data_dir)
    x, y = data.val_x[:limit], data.val_y[:limit]
    console.print(
        f"[bold]{ckpt.arch}[/] trained on {ckpt.dataset} (p_L = {ckpt.meta['training']['sd_pl']}), "
        f"{ckpt.num_gates} skippable blocks, {len(y)} validation images"
    )
    table = Table(title="Accuracy with one block skipped (validation split)")
    table.add_column("skipped gate", justify="right")
    table.add_column("skip vector")
    table.add_column("accuracy", justify="right")
    table.add_column("Δ vs all blocks", justify="right")
    full = accuracy(ckpt.model, x, y, mean=ckpt.mean, std=ckpt.std)
    table.add_row("none", "1" * ckpt.num_gates, f"{100 * full:.2f}%", "")
    for g in range(ckpt.num_gates):
        bits = [1] * ckpt.num_gates
        bits[g] = 0
        acc = accuracy(ckpt.model, x, y, mean=ckpt.mean, std=ckpt.std, skip=bits)
        table.add_row(str(g), "".join(map(str, bits)), f"{100 * acc:.2f}%", f"{100 * (acc - full):+.2f}")
    console.print(table)
