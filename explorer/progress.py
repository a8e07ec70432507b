"""What a long job in the core reports, without drawing anything: the CLI draws (rich), a log gets lines.

The core (training, re-estimation) calls a listener; `TrainListener` itself prints plain lines, which
is what a GPU job or a log file wants; `explorer.cli.common.ConsoleTrainListener` adds colours and
progress bars on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A task's progress: (steps completed so far, a short status line such as "loss 0.31 acc 90.1%").
TaskFn = Callable[[int, str], None]


class TrainListener:
    """Messages as plain lines on stdout; no progress bars."""

    def message(self, text: str, kind: str = "info") -> None:
        """`kind`: 'info', 'ok' (a result) or 'warning' (printed with a 'warning:' prefix)."""
        print(f"warning: {text}" if kind == "warning" else text, flush=True)

    @contextmanager
    def task(self, description: str, total: int, completed: int = 0) -> Iterator[TaskFn]:
        """Around one task of `total` steps (an epoch): yields the callback that receives its progress."""
        yield lambda completed, info: None
