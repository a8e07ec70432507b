"""Run (an action): queue a search, as `explorer search --submit` does, and start a worker."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

from explorer.dashboard.common import Ctx, studies
from explorer.dashboard.fmt import table
from explorer.errors import ExplorerError


def page_run(ctx: Ctx) -> None:
    st.header("Run a search")
    st.caption(
        "Queues the study for `explorer worker` processes (the same code as `explorer search --submit`); "
        "start workers on any machine with `explorer worker --db URL`, or one here with the button below."
    )
    from explorer.search import STRATEGIES
    from explorer.study import SearchOptions, queue_search, resolve_strategies

    db = ctx.db
    ckpt = st.text_input("Checkpoint directory", key="run_ckpt")
    study = st.text_input("Study name", key="run_study")
    strategy = st.selectbox("Strategy", sorted(STRATEGIES) + ["all"], key="run_strategy")
    objective = st.selectbox("Cost objective", ["latency", "macs"], key="run_objective")
    budget = st.number_input("Budget (evaluations, 0 = strategy default)", 0, 100000, 0, key="run_budget")
    limit = st.number_input("Validation images per evaluation (0 = all)", 0, 100000, 0, key="run_limit")
    if st.button("Queue", key="run_queue", disabled=not (ckpt and study)):
        try:
            names = resolve_strategies(strategy)
            options_ = SearchOptions(names, budget=budget or None, limit=limit or None, objective=objective)
            added = queue_search(db, Path(ckpt), study, options_)
            st.success(f"study {study} {'queued' if added else 'was queued already'}")
        except ExplorerError as e:
            st.error(str(e))
    if st.button("Start a worker on this machine", key="run_worker"):
        import subprocess

        log = open("explorer-worker.log", "a")
        cmd = [sys.executable, "-m", "explorer.cli", "worker", "--db", db.url, "--once"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        st.success(f"worker started (pid {proc.pid}); it stops when the queue is empty; log: explorer-worker.log")
    from explorer.storage.coordination import worker_status

    info = worker_status(db)
    st.subheader("Queue")
    jobs = pd.DataFrame(info["jobs"], columns=["study", "status", "strategies", "checkpoint", "message"])
    table_ = studies(ctx.url, ctx.version)
    counts = table_.set_index("study")["configurations"] if not table_.empty else pd.Series(dtype=int)
    jobs["configurations"] = [int(counts.get(name, 0)) for name in jobs["study"]]
    table(jobs, key="run_jobs")
    st.subheader("Workers")
    workers = pd.DataFrame(
        info["workers"], columns=["id", "host", "pid", "state", "heartbeat_age_s", "study", "evaluated"]
    )
    workers = workers.rename(columns={"heartbeat_age_s": "heartbeat age (s)", "evaluated": "evaluated (count)"})
    table(workers, key="run_workers")
