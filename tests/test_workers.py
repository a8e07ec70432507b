"""Many workers on one database: claims, dead workers, clean stops, the job queue (explorer/workers.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from explorer.storage import Claim, Database, EvaluationRecord, Job, StorageError, WorkerRecord
from explorer.storage.models import SCHEMA_VERSION

REF = Path(__file__).resolve().parents[1] / "models" / "resnet20-sd-fmnist"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _search(db: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "explorer.cli", "search", "--checkpoint", str(REF), "--strategy", "exhaustive",
            "--objective", "macs", "--db", db, "--study", "ex", "--threads", "1", "--no-progress", *extra]  # fmt: skip


def _counts(db: Database) -> dict:
    with db.session() as s:
        per_evaluator = dict(
            s.execute(
                select(EvaluationRecord.evaluator, func.count(func.distinct(EvaluationRecord.config))).group_by(
                    EvaluationRecord.evaluator
                )
            ).all()
        )
        rows = s.scalar(select(func.count()).select_from(EvaluationRecord))
        workers = s.execute(select(WorkerRecord.id, WorkerRecord.pid, WorkerRecord.evaluated,
                                   WorkerRecord.stopped_at)).all()  # fmt: skip
        done = dict(s.execute(select(Claim.worker_id, func.count()).where(Claim.done).group_by(Claim.worker_id)).all())
        open_claims = s.scalar(select(func.count()).select_from(Claim).where(Claim.done.is_(False)))
    return {"per_evaluator": per_evaluator, "rows": rows, "workers": workers, "done": done, "open": open_claims}


@pytest.mark.slow
def test_three_workers_share_an_exhaustive_study_on_postgresql_and_survive_a_sigkill(postgres_url):
    # three processes started together on an empty database (they also race to create the tables);
    # 500 images per configuration keep a chunk of 2 long enough (seconds) to catch a worker inside one
    cmd = _search(postgres_url, "--limit", "500", "--chunk-size", "2", "--stale-after", "6")
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(3)]  # fmt: skip
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            db = Database(postgres_url, create=False)
        except StorageError:
            continue  # tables not created yet
        with db.session() as s:
            stored = s.scalar(
                select(func.count()).select_from(EvaluationRecord).where(EvaluationRecord.evaluator == "accuracy")
            )
            busy = s.execute(select(WorkerRecord.pid).join(Claim, Claim.worker_id == WorkerRecord.id)
                             .where(Claim.done.is_(False))).scalars().all()  # fmt: skip
        db.dispose()
        mine = [p for p in procs if p.pid in busy]
        if stored >= 8 and mine:
            victim = mine[0]  # a worker in the middle of measuring a claimed chunk
    assert victim is not None, "no worker was caught mid-chunk"
    victim.send_signal(signal.SIGKILL)
    outs = {p.pid: p.communicate(timeout=600)[0] for p in procs}
    survivors = [p for p in procs if p is not victim]
    assert all(p.returncode == 0 for p in survivors), [outs[p.pid][-2000:] for p in survivors]

    db = Database(postgres_url, create=False)
    c = _counts(db)
    # every configuration once per evaluator, nothing lost, nothing twice
    assert c["per_evaluator"] == {"accuracy": 64, "flops": 64} and c["rows"] == 128 and c["open"] == 0
    assert sum(c["done"].values()) == 64
    # a clean worker measured exactly the configurations whose claims it completed: nobody measured
    # a configuration another worker held or had stored
    clean = [w for w in c["workers"] if w.stopped_at is not None]
    assert len(clean) == 2 and all(w.evaluated == c["done"].get(w.id, 0) for w in clean)
    assert any(w.pid == victim.pid and w.stopped_at is None for w in c["workers"])

    # a worker restarted afterwards adds nothing
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = _counts(db)
    assert after["rows"] == 128
    newest = [w for w in after["workers"] if w.id not in {x.id for x in c["workers"]}]
    assert len(newest) == 1 and newest[0].evaluated == 0


def test_sigterm_finishes_the_chunk_releases_claims_and_a_rerun_completes(tmp_path):
    db_url = f"sqlite:///{tmp_path}/t.db"
    # 500 images per configuration: 16 chunks of seconds each, so the stop lands well before the end
    cmd = _search(db_url, "--limit", "500", "--chunk-size", "4")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if (tmp_path / "t.db").exists():
            con = sqlite3.connect(tmp_path / "t.db", timeout=30)
            try:
                n = con.execute("select count(*) from evaluations where evaluator = 'flops'").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            con.close()
            if n >= 5:
                break
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 143 and "stopped cleanly" in out, out[-2000:]
    db = Database(db_url, create=False)
    c = _counts(db)
    assert c["open"] == 0 and 0 < c["per_evaluator"]["accuracy"] < 64  # claims released, stopped early
    assert c["workers"][0].stopped_at is not None
    # whatever it stored stays; the rerun measures only the rest
    first = c["per_evaluator"]["accuracy"]
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    c = _counts(db)
    assert c["per_evaluator"] == {"accuracy": 64, "flops": 64}
    second = [w for w in c["workers"] if w.stopped_at is not None][-1]
    assert second.evaluated == 64 - first


def test_submitted_study_is_run_by_a_worker_and_shown_in_status(tmp_path):
    db_url = f"sqlite:///{tmp_path}/q.db"
    cmd = _search(db_url, "--limit", "300", "--submit")
    sub = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert sub.returncode == 0 and "queued" in sub.stdout, sub.stderr
    db = Database(db_url, create=False)
    with db.session() as s:
        assert [(j.study, j.status) for j in s.scalars(select(Job))] == [("ex", "queued")]
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "queued already" in again.stdout
    work = subprocess.run([sys.executable, "-m", "explorer.cli", "worker", "--db", db_url, "--once", "--threads", "1"],
                          env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert work.returncode == 0 and "study ex done" in work.stdout, work.stdout[-2000:] + work.stderr[-2000:]
    assert _counts(db)["per_evaluator"] == {"accuracy": 64, "flops": 64}
    status = subprocess.run([sys.executable, "-m", "explorer.cli", "worker", "status", "--db", db_url],
                            env=ENV, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert status.returncode == 0 and "stopped" in status.stdout and "done" in status.stdout


def test_submit_of_a_missing_checkpoint_is_refused_with_nothing_queued(tmp_path):
    db_url = f"sqlite:///{tmp_path}/m.db"
    cmd = _search(db_url, "--submit")
    cmd[cmd.index("--checkpoint") + 1] = str(tmp_path / "nope")
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "nope" in out.stderr and "Traceback" not in out.stderr
    with Database(db_url).session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_version_3_database_with_the_old_table_names_opens_and_keeps_its_study(tmp_path, tiny_ckpt):
    from explorer.cli import main
    from explorer.storage.results import load_study

    url = f"sqlite:///{tmp_path}/v3.db"
    main(["search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--objective", "macs",
          "--limit", "200", "--db", url, "--study", "old"])  # fmt: skip
    before = load_study(Database(url), "old").front()
    con = sqlite3.connect(tmp_path / "v3.db")  # make it what version 3 wrote
    con.execute("alter table explorer_studies rename to studies")
    con.execute("alter table explorer_trials rename to trials")
    for table in ("workers", "claims", "jobs"):
        con.execute(f"drop table {table}")
    con.execute("update schema_info set version = 3")
    con.commit()
    con.close()
    after = load_study(Database(url, create=False), "old").front()
    assert [(str(e.config), e["accuracy"]) for e in after] == [(str(e.config), e["accuracy"]) for e in before]
    con = sqlite3.connect(tmp_path / "v3.db")
    tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    assert {"explorer_studies", "explorer_trials", "workers", "claims", "jobs"} <= tables
    assert "studies" not in tables and con.execute("select version from schema_info").fetchone() == (SCHEMA_VERSION,)
    # foreign keys follow the renamed tables
    assert con.execute("pragma foreign_key_check").fetchall() == []


def test_a_long_sqlite_lock_is_a_clear_error_not_database_is_locked(tmp_path, monkeypatch):
    import explorer.storage.session as session

    monkeypatch.setattr(session, "BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path}/l.db"
    db = Database(url)
    holder = sqlite3.connect(tmp_path / "l.db")
    holder.execute("begin exclusive")
    try:
        with pytest.raises(StorageError, match="stayed locked by other processes.*PostgreSQL"):
            with db.session() as s:
                s.add(Job(study="x", checkpoint="c", options={}))
                s.commit()
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.slow
def test_two_local_workers_run_an_optuna_study_on_postgresql_without_double_work(postgres_url):
    import optuna
    from optuna.trial import TrialState

    cmd = _search(postgres_url, "--limit", "300", "--chunk-size", "4", "--workers", "2")
    cmd[cmd.index("exhaustive")] = "optuna-nsga2"
    cmd += ["--budget", "24"]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "started 2 workers" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Pareto front of study ex" in out.stdout
    c = _counts(Database(postgres_url, create=False))
    distinct = c["per_evaluator"]["accuracy"]
    # the budget is shared (each worker may overrun it by one batch of 8), every configuration measured once
    assert 24 <= distinct <= 24 + 2 * 8 and c["per_evaluator"]["flops"] == distinct and c["open"] == 0
    assert len(c["workers"]) == 2 and sum(w.evaluated for w in c["workers"]) == distinct
    assert all(w.evaluated == c["done"].get(w.id, 0) for w in c["workers"])
    # optuna's own study lives in the same database
    study = optuna.load_study(study_name="ex/optuna-nsga2", storage=postgres_url)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) >= distinct - 1  # + the full-depth reference


def test_two_workers_find_the_same_nsga2_front_as_one(tmp_path):
    from explorer.storage.results import load_study

    fronts = []
    for k, name in ((1, "one"), (2, "two")):
        url = f"sqlite:///{tmp_path}/{name}.db"
        cmd = _search(url, "--limit", "200", "--chunk-size", "4", "--workers", str(k), "--budget", "16")
        cmd[cmd.index("exhaustive")] = "nsga2"
        out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        view = load_study(Database(url, create=False), "ex")
        fronts.append(sorted((str(e.config), e["accuracy"]) for e in view.front()))
        assert len(view.evaluations("nsga2")) == 16  # the budget, shared, not doubled
    assert fronts[0] == fronts[1]


def test_an_idle_worker_stops_cleanly_on_sigterm(tmp_path):
    url = f"sqlite:///{tmp_path}/idle.db"
    Database(url)
    proc = subprocess.Popen([sys.executable, "-m", "explorer.cli", "worker", "--db", url, "--poll", "0.5"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    db = Database(url, create=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _counts(db)["workers"]:
        time.sleep(0.3)
    assert _counts(db)["workers"], "the worker never registered"
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0 and "stopped after measuring 0 configurations" in out, out
    assert _counts(db)["workers"][0].stopped_at is not None
