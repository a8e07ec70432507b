"""`explorer evaluate` and `explorer info`: look at one checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from explorer.checkpoint import load_checkpoint
from explorer.cli import app
from explorer.cli.common import DataDirOption, ThreadsOption, load_for_checkpoint, make_console, set_threads
from explorer.errors import DataError
from explorer.models.predict import accuracy
from explorer.skip import check_skip


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint directory."),
    skip: str | None = typer.Option(
        None,
        "--skip",
        help="Skip vector as bits in block order, 1 = execute, 0 = skip (e.g. 110111); default: all ones.",
    ),
    split: str = typer.Option("val", "--split", help="val (used for search) or test (for reporting only)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate only the first N images of the split."),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
) -> None:
    """Top-1 accuracy of a checkpoint with one skip configuration."""
    set_threads(threads)
    ckpt, data = load_for_checkpoint(checkpoint, data_dir)
    bits = check_skip(skip, ckpt.num_gates) if skip is not None else [1] * ckpt.num_gates
    x, y = data.split(split)
    if limit is not None:
        if limit < 1:
            raise DataError(f"--limit must be positive, got {limit}")
        x, y = x[:limit], y[:limit]
    acc = accuracy(ckpt.model, x, y, mean=ckpt.mean, std=ckpt.std, skip=bits)
    print(f"{ckpt.arch} skip={''.join(map(str, bits))} {split}[{len(y)}]: accuracy {100 * acc:.2f}%")


@app.command("info")
def info_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole metadata as JSON."),
) -> None:
    """Show a checkpoint's architecture, data set, training and accuracy (after verifying it loads)."""
    # the same checks as every command that uses it: weights sha256, a readable safetensors file,
    # weights that fit the recorded architecture; a damaged checkpoint is an error, not a table
    ckpt = load_checkpoint(checkpoint)
    meta = ckpt.meta
    if as_json:
        print(json.dumps(meta, indent=2))
        return
    tr = meta.get("training", {})
    acc = meta.get("accuracy", {})
    ds = meta["dataset"]
    size = "×".join(str(v) for v in ds["image_size"]) + ", " if "image_size" in ds else ""
    table = Table(show_header=False, box=None)
    rows = [
        ("architecture", f"{ckpt.arch} ({ckpt.model.num_blocks} blocks, {ckpt.num_gates} gates)"),
        ("data set", f"{ds['name']} ({size}{meta['in_channels']} ch, {meta['num_classes']} classes)"),
    ]
    if ds.get("source"):
        rows.append(("data file", f"{ds['source']['path']} (sha256 {ds['source']['sha256'][:12]}…)"))
    rows += [
        (
            "training",
            f"{tr.get('method', '?')}, p_L={tr.get('sd_pl', '?')}, {tr.get('epochs', '?')} epochs, seed {tr.get('seed', '?')}",
        ),
        (
            "accuracy",
            f"val {100 * acc.get('val', float('nan')):.2f}%  test {100 * acc.get('test', float('nan')):.2f}% (all blocks)",
        ),
        ("weights sha256", f"{ckpt.sha256} (verified)"),
        ("made by", f"skip-explorer {meta.get('project_version', '?')} at {meta.get('created_at', '?')}"),
    ]
    for k, v in rows:
        table.add_row(f"[bold]{k}", str(v))
    make_console().print(table)
