"""Many search processes on one database: worker heartbeats, configuration claims, the job queue.

The claim protocol: before a worker evaluates a configuration it inserts a `claims` row for
(checkpoint, evaluator settings, configuration) with insert-or-skip on that unique key; the rows it
inserted are its own. A configuration claimed by another worker is left to it and waited for; if
that worker stops heart-beating for `stale_after_s`, the first worker to notice takes the claim over
with a compare-and-set UPDATE, so a worker killed with SIGKILL loses at most the chunk it was
measuring, and nobody evaluates a configuration twice while its owner lives. The evaluations
table stays the source of truth: a claim only says who is measuring what.

Clocks: heartbeats are compared with the reader's UTC clock, so machines sharing a database need
synchronised clocks (NTP); `stale_after_s` (default 60 s) absorbs the usual skew.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterable

from explorer.errors import ExplorerError
from explorer.storage import Database, coordination
from explorer.storage.coordination import DEFAULT_STALE_AFTER_S


class WorkerStopped(ExplorerError):
    """Raised inside a search when the worker was asked to stop (SIGTERM/SIGINT); claims released."""


def claim_scope(evaluator_contexts: dict[str, str]) -> str:
    """One short key per set of evaluator settings: claims of different settings do not collide."""
    return hashlib.sha1(json.dumps(evaluator_contexts, sort_keys=True).encode()).hexdigest()


class Worker:
    """This process, registered in the `workers` table, heart-beating from a daemon thread.

    `stale_after_s`: a worker silent for this long is considered dead and its claims are taken
    over; heartbeats are sent every sixth of it.
    """

    def __init__(self, db: Database, *, stale_after_s: float = DEFAULT_STALE_AFTER_S, study: str | None = None):
        self.db, self.stale_after_s = db, stale_after_s
        self.id = uuid.uuid4().hex
        self.stopping = threading.Event()
        self._quit = threading.Event()
        self._evaluated = 0
        self._lock = threading.Lock()
        self.beat_hooks: list[Callable[[], object]] = []  # also called every heartbeat (optuna's trials)
        coordination.add_worker(db, self.id, socket.gethostname(), os.getpid(), study)
        self._thread = threading.Thread(target=self._beat, name="explorer-heartbeat", daemon=True)
        self._thread.start()

    # -- life ------------------------------------------------------------------------------------

    def _beat(self) -> None:
        while not self._quit.wait(self.stale_after_s / 6):
            try:
                self._write_heartbeat()
                for hook in list(self.beat_hooks):
                    hook()
            except Exception:  # noqa: BLE001  a missed beat is retried; the search thread reports real errors
                pass

    def _write_heartbeat(self, **extra) -> None:
        with self._lock:
            evaluated = self._evaluated
        coordination.heartbeat(self.db, self.id, evaluated, **extra)

    def set_study(self, study: str | None) -> None:
        self._write_heartbeat(study=study)

    def count_evaluated(self, n: int) -> None:
        with self._lock:
            self._evaluated += n

    @property
    def evaluated(self) -> int:
        with self._lock:
            return self._evaluated

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT ask the search to stop at the next chunk boundary (a second one kills)."""

        def ask_to_stop(signum, _frame):
            if self.stopping.is_set():
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)

    def check_stop(self) -> None:
        if self.stopping.is_set():
            raise WorkerStopped("stopped on request; unfinished claims were released")

    def close(self) -> None:
        """Release unfinished claims and mark the worker stopped (a clean exit)."""
        self._quit.set()
        self._thread.join(timeout=5)
        coordination.stop_worker(self.db, self.id, self.evaluated)

    # -- claims ----------------------------------------------------------------------------------

    def claim(self, checkpoint_id: int, scope: str, study: str, configs: Iterable[str]) -> list[str]:
        """Claim what nobody else holds (or what a dead worker held) among configurations whose
        results are missing; returns the configurations this worker now holds."""
        return coordination.claim(self.db, self.id, self.stale_after_s, checkpoint_id, scope, study, configs)

    def finish(self, checkpoint_id: int, scope: str, configs: Iterable[str]) -> None:
        coordination.finish_claims(self.db, self.id, checkpoint_id, scope, configs)
