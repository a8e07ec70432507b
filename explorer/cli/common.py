"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import torch
import typer
from rich.console import Console

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


def make_console() -> Console:
    """A console for tables: the terminal's width, or 160 columns when writing to a file or pipe."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=160)
