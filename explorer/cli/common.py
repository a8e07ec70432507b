"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from explorer.checkpoint import Checkpoint, load_checkpoint
from explorer.data import DEFAULT_VAL_SIZE, DataSplits, load_dataset
from explorer.errors import CheckpointError

DataDirOption = typer.Option(
    None, "--data-dir", help="Folder (or .npz file) holding the data set; default: installed copy or download."
)
ThreadsOption = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores).")


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def load_for_checkpoint(checkpoint: Path, data_dir: Path | None) -> tuple[Checkpoint, DataSplits]:
    """Load a checkpoint and the data set it was trained on, split exactly as in training."""
    ckpt = load_checkpoint(checkpoint)
    ds = ckpt.meta["dataset"]
    data = load_dataset(
        ds["name"], data_dir, val_size=ds.get("val_size", DEFAULT_VAL_SIZE), split_seed=ds.get("split_seed", 0)
    )
    if data.in_channels != ckpt.meta["in_channels"] or data.num_classes != ckpt.meta["num_classes"]:
        raise CheckpointError(
            f"{checkpoint} expects {ckpt.meta['in_channels']}-channel images and {ckpt.meta['num_classes']} "
            f"classes, but data set {ds['name']} here has {data.in_channels} and {data.num_classes}: "
            "pass the --data-dir of the data set it was trained on"
        )
    return ckpt, data
