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
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from explorer.errors import ExplorerError
from explorer.storage import Claim, Database, Job, WorkerRecord
from explorer.storage.models import utcnow

DEFAULT_STALE_AFTER_S = 60.0


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
        with db.session() as s:
            s.add(WorkerRecord(id=self.id, host=socket.gethostname(), pid=os.getpid(), study=study))
            s.commit()
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
        with self.db.session() as s:
            values = {"heartbeat_at": utcnow(), "evaluated": evaluated, **extra}
            s.execute(update(WorkerRecord).where(WorkerRecord.id == self.id).values(**values))
            s.commit()

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
        with self.db.session() as s:
            s.execute(delete(Claim).where(Claim.worker_id == self.id, Claim.done.is_(False)))
            s.execute(
                update(WorkerRecord)
                .where(WorkerRecord.id == self.id)
                .values(stopped_at=utcnow(), heartbeat_at=utcnow(), evaluated=self.evaluated)
            )
            s.commit()

    # -- claims ----------------------------------------------------------------------------------

    def claim(self, checkpoint_id: int, scope: str, study: str, configs: Iterable[str]) -> list[str]:
        """Claim what nobody else holds (or what a dead worker held) among configurations whose
        results are missing; returns the configurations this worker now holds."""
        configs = list(dict.fromkeys(configs))
        if not configs:
            return []
        now = utcnow()
        with self.db.session() as s:
            rows = [
                {"checkpoint_id": checkpoint_id, "scope": scope, "config": c, "worker_id": self.id,
                 "study": study, "claimed_at": now, "done": False}
                for c in configs
            ]  # fmt: skip
            self.db.insert_ignore(s, Claim, rows)
            s.commit()
            held = s.execute(
                select(Claim.id, Claim.config, Claim.worker_id, Claim.done, WorkerRecord.heartbeat_at,
                       WorkerRecord.stopped_at)
                .outerjoin(WorkerRecord, WorkerRecord.id == Claim.worker_id)
                .where(Claim.checkpoint_id == checkpoint_id, Claim.scope == scope, Claim.config.in_(configs))
            ).all()  # fmt: skip
            mine = [c for _, c, w, done, _, _ in held if w == self.id and not done]
            dead_before = now - timedelta(seconds=self.stale_after_s)
            for cid, config, owner, done, beat, stopped in held:
                if owner == self.id and not done:
                    continue
                # the caller asks only for configurations whose results are missing: a done claim
                # means those results were removed since, a dead owner will never store them
                if done or beat is None or stopped is not None or beat < dead_before:
                    # compare-and-set: only one of the workers that noticed gets it
                    took = s.execute(
                        update(Claim)
                        .where(Claim.id == cid, Claim.worker_id == owner, Claim.done.is_(done))
                        .values(worker_id=self.id, claimed_at=now, done=False)
                    )
                    if took.rowcount == 1:
                        mine.append(config)
            s.commit()
        return mine

    def finish(self, checkpoint_id: int, scope: str, configs: Iterable[str]) -> None:
        configs = list(configs)
        if not configs:
            return
        with self.db.session() as s:
            s.execute(
                update(Claim)
                .where(Claim.checkpoint_id == checkpoint_id, Claim.scope == scope, Claim.config.in_(configs),
                       Claim.worker_id == self.id)
                .values(done=True)
            )  # fmt: skip
            s.commit()


# -- the job queue ---------------------------------------------------------------------------------


def submit_job(db: Database, study: str, checkpoint: str, options: dict) -> bool:
    """Queue a study; False if a job of that name exists already (then nothing changes)."""
    with db.session() as s:
        added = db.insert_ignore(s, Job, [{"study": study, "checkpoint": checkpoint, "options": options,
                                           "status": "queued", "created_at": utcnow()}])  # fmt: skip
        s.commit()
        if not added:
            job = s.scalars(select(Job).where(Job.study == study)).one()
            if job.checkpoint != checkpoint or job.options != options:
                raise ExplorerError(
                    f"a job for study {study!r} is queued with other settings ({job.checkpoint}, {job.options}): "
                    "choose another --study name"
                )
        return bool(added)


def next_job(db: Database) -> Job | None:
    """The oldest job not finished: queued ones first, then running ones (workers share a study)."""
    with db.session() as s:
        for status in ("queued", "running"):
            job = s.scalars(select(Job).where(Job.status == status).order_by(Job.id)).first()
            if job is not None:
                if status == "queued":
                    s.execute(update(Job).where(Job.id == job.id, Job.status == "queued").values(status="running"))
                    s.commit()
                return job
    return None


def finish_job(db: Database, study: str, status: str, message: str | None = None) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.study == study).values(status=status, message=message, finished_at=utcnow()))
        s.commit()


def worker_status(db: Database, study: str | None = None, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> dict:
    """Workers (live, silent, stopped), claims per study and the job queue, as plain dicts."""
    now = utcnow()
    with db.session() as s:
        q = select(WorkerRecord).order_by(WorkerRecord.started_at)
        if study is not None:
            q = q.where(WorkerRecord.study == study)
        workers = []
        for w in s.scalars(q):
            age = (now - w.heartbeat_at).total_seconds()
            state = "stopped" if w.stopped_at else ("live" if age < stale_after_s else "silent")
            workers.append({"id": w.id[:8], "host": w.host, "pid": w.pid, "study": w.study, "state": state,
                            "heartbeat_age_s": age, "evaluated": w.evaluated})  # fmt: skip
        q = select(Claim.study, Claim.done, func.count()).group_by(Claim.study, Claim.done)
        if study is not None:
            q = q.where(Claim.study == study)
        claims: dict[str, dict[str, int]] = {}
        for name, done, n in s.execute(q):
            claims.setdefault(name, {"done": 0, "in_progress": 0})["done" if done else "in_progress"] += n
        q = select(Job).order_by(Job.id)
        if study is not None:
            q = q.where(Job.study == study)
        jobs = [{"study": j.study, "status": j.status, "checkpoint": j.checkpoint, "message": j.message,
                 "strategies": j.options.get("strategies")} for j in s.scalars(q)]  # fmt: skip
    return {"workers": workers, "claims": claims, "jobs": jobs}
