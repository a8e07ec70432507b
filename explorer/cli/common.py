"""Options and helpers shared by several commands."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from explorer.checkpoint import Checkpoint, load_checkpoint
from explorer.data import DataSplits, DataWarning
from explorer.engine import ProgressFn
from explorer.evaluators import Subject
from explorer.progress import TaskFn, TrainListener
from explorer.study import StudyListener

DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="Folder (or .npz file) holding the data set; default: installed copy or download "
    "(for a checkpoint of an npz data set: the file it was trained on, if unchanged).",
)
ThreadsOption = typer.Option(None, "--threads", help="CPU threads for torch (default: all cores).")


_show_warning = warnings.showwarning


def _show_data_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A DataWarning is meant for the user: one line on stderr, without the source line."""
    if issubclass(category, DataWarning):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


warnings.showwarning = _show_data_warning


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def load_for_checkpoint(checkpoint: Path, data_dir: Path | None) -> tuple[Checkpoint, DataSplits]:
    """Load a checkpoint and the data set it was trained on, split exactly as in training."""
    subject = Subject(load_checkpoint(checkpoint), data_dir)
    return subject.checkpoint, subject.data


def make_console() -> Console:
    """A console for tables: the terminal's width, or 160 columns when writing to a file or pipe."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def bar_columns(status: str) -> tuple:
    """The columns of every progress bar of the CLI: description, bar, done/total, `status` (a
    template over the task's fields), elapsed and remaining time."""
    return (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(status),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


class ConsoleListener(StudyListener):
    """A running study on the terminal: its messages, and a progress bar per strategy with the
    hypervolume so far."""

    def __init__(self, console: Console, progress: bool = True):
        self.console, self.progress = console, progress

    def message(self, text: str) -> None:
        self.console.print(text)

    @contextmanager
    def strategy(self, name: str, total: int | None) -> Iterator[ProgressFn]:
        with Progress(*bar_columns("HV {task.fields[hv]}"), console=self.console, transient=True,
                      disable=not self.progress) as bar:  # fmt: skip
            task = bar.add_task(name, total=total, hv="-")

            def on_progress(n: int, hv: float | None) -> None:
                bar.update(task, advance=n, hv=f"{hv:.4f}" if hv is not None else "-")

            yield on_progress


class ConsoleTrainListener(TrainListener):
    """A training run on the terminal: coloured messages and a progress bar per epoch."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()

    def message(self, text: str, kind: str = "info") -> None:
        if kind == "warning":
            self.console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)
        elif kind == "ok":
            self.console.print(f"[green]{escape(text)}[/]")
        else:
            self.console.print(escape(text))

    @contextmanager
    def task(self, description: str, total: int, completed: int = 0) -> Iterator[TaskFn]:
        with Progress(*bar_columns("{task.fields[info]}"), console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total, completed=completed, info="")
            yield lambda done, info: bar.update(task, completed=done, info=info)
