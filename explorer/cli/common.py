"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from explorer.checkpoint import Checkpoint, load_checkpoint
from explorer.data import DataSplits
from explorer.evaluators import Subject

DataDirOption = typer.Option(
    None, "--data-dir", help="Folder (or .npz file) holding the data set; default: installed copy or download."
)
ThreadsOption = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores).")


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def load_for_checkpoint(checkpoint: Path, data_dir: Path | None) -> tuple[Checkpoint, DataSplits]:
    """Load a checkpoint and the data set it was trained on, split exactly as in training."""
    subject = Subject(load_checkpoint(checkpoint), data_dir)
    return subject.checkpoint, subject.data
