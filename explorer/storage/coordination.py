"""Coordination of many processes on one database: worker records and heartbeats, configuration
claims, and the job queue (the protocol is described in explorer.workers)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from explorer.errors import ExplorerError
from explorer.storage.models import Claim, Job, WorkerRecord, utcnow
from explorer.storage.session import Database

DEFAULT_STALE_AFTER_S = 60.0  # a worker silent this long is taken for dead and its claims are taken over


def add_worker(db: Database, worker_id: str, host: str, pid: int, study: str | None) -> None:
    with db.session() as s:
        s.add(WorkerRecord(id=worker_id, host=host, pid=pid, study=study))
        s.commit()


def heartbeat(db: Database, worker_id: str, evaluated: int, **extra) -> None:
    """The worker is alive (and has measured `evaluated` configurations; `extra`: e.g. its study)."""
    with db.session() as s:
        values = {"heartbeat_at": utcnow(), "evaluated": evaluated, **extra}
        s.execute(update(WorkerRecord).where(WorkerRecord.id == worker_id).values(**values))
        s.commit()


def stop_worker(db: Database, worker_id: str, evaluated: int) -> None:
    """A clean exit: release the worker's unfinished claims and mark it stopped."""
    with db.session() as s:
        s.execute(delete(Claim).where(Claim.worker_id == worker_id, Claim.done.is_(False)))
        s.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(stopped_at=utcnow(), heartbeat_at=utcnow(), evaluated=evaluated)
        )
        s.commit()


def claim(db: Database, worker_id: str, stale_after_s: float, checkpoint_id: int, scope: str, study: str,
      configs: Iterable[str]) -> list[str]:  # fmt: skip
    """Claim for `worker_id` what nobody else holds (or what a dead worker held) among configurations
    whose results are missing; returns the configurations the worker now holds."""
    configs = list(dict.fromkeys(configs))
    if not configs:
        return []
    now = utcnow()
    with db.session() as s:
        rows = [
            {"checkpoint_id": checkpoint_id, "scope": scope, "config": c, "worker_id": worker_id,
             "study": study, "claimed_at": now, "done": False}
            for c in configs
        ]  # fmt: skip
        db.insert_ignore(s, Claim, rows)
        s.commit()
        held = s.execute(
            select(Claim.id, Claim.config, Claim.worker_id, Claim.done, WorkerRecord.heartbeat_at,
                   WorkerRecord.stopped_at)
            .outerjoin(WorkerRecord, WorkerRecord.id == Claim.worker_id)
            .where(Claim.checkpoint_id == checkpoint_id, Claim.scope == scope, Claim.config.in_(configs))
        ).all()  # fmt: skip
        mine = [c for _, c, w, done, _, _ in held if w == worker_id and not done]
        dead_before = now - timedelta(seconds=stale_after_s)
        for cid, config, owner, done, beat, stopped in held:
            if owner == worker_id and not done:
                continue
            # the caller asks only for configurations whose results are missing: a done claim
            # means those results were removed since, a dead owner will never store them
            if done or beat is None or stopped is not None or beat < dead_before:
                # compare-and-set: only one of the workers that noticed gets it
                took = s.execute(
                    update(Claim)
                    .where(Claim.id == cid, Claim.worker_id == owner, Claim.done.is_(done))
                    .values(worker_id=worker_id, claimed_at=now, done=False)
                )
                if took.rowcount == 1:
                    mine.append(config)
        s.commit()
    return mine


def finish_claims(db: Database, worker_id: str, checkpoint_id: int, scope: str, configs: Iterable[str]) -> None:
    """Mark the worker's claims done (their results are stored)."""
    configs = list(configs)
    if not configs:
        return
    with db.session() as s:
        s.execute(
            update(Claim)
            .where(Claim.checkpoint_id == checkpoint_id, Claim.scope == scope, Claim.config.in_(configs),
                   Claim.worker_id == worker_id)
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
