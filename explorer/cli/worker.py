"""`explorer worker`: a long-running process that works on studies queued with `explorer search --submit`,
and `explorer worker status`: who is working on what."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import ConsoleListener, ThreadsOption, make_console, set_threads
from explorer.errors import ExplorerError
from explorer.storage import Database
from explorer.storage.coordination import DEFAULT_STALE_AFTER_S, finish_job, next_job, worker_status
from explorer.study import DEFAULT_DB, SearchOptions, run_study
from explorer.workers import Worker, WorkerStopped

worker_app = typer.Typer(
    help="Work on queued studies (run as many as you like, on any machine); `status` shows them.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(worker_app, name="worker")


@worker_app.callback()
def worker_cmd(
    ctx: typer.Context,
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the shared database."),
    once: bool = typer.Option(False, "--once", help="Stop when no queued or running study is left."),
    poll: float = typer.Option(5.0, "--poll", help="Seconds between looks at the queue when it is empty."),
    stale_after: float = typer.Option(
        DEFAULT_STALE_AFTER_S, "--stale-after", help="Seconds without a heartbeat after which claims are taken over."
    ),
    threads: int | None = ThreadsOption,
) -> None:
    """Take queued studies one after another and search them (SIGTERM: finish the chunk, release, exit)."""
    if ctx.invoked_subcommand is not None:
        return
    set_threads(threads)
    console = make_console()
    database = Database(db)
    worker = Worker(database, stale_after_s=stale_after)
    worker.handle_signals()
    console.print(f"worker {worker.id[:8]} on {db}: waiting for studies (explorer search --submit …)")
    try:
        while not worker.stopping.is_set():
            job = next_job(database)
            if job is None:
                if once:
                    break
                worker.stopping.wait(poll)
                continue
            worker.set_study(job.study)
            try:
                options = SearchOptions.from_json(job.options)
                run_study(database, Path(job.checkpoint), job.study, options, worker, ConsoleListener(console, False))
            except WorkerStopped:
                break
            except ExplorerError as e:
                console.print(f"[red]study {job.study} failed: {e}")
                finish_job(database, job.study, "failed", str(e))
                continue
            finish_job(database, job.study, "done")
            console.print(f"study [bold]{job.study}[/] done")
            worker.set_study(None)
    finally:
        worker.close()
    console.print(f"worker {worker.id[:8]} stopped after measuring {worker.evaluated} configurations")


@worker_app.command("status")
def status_cmd(
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the shared database."),
    study: str | None = typer.Option(None, "--study", help="Only this study."),
    stale_after: float = typer.Option(DEFAULT_STALE_AFTER_S, "--stale-after", help="Seconds of silence = not live."),
    watch: float = typer.Option(0.0, "--watch", help="Refresh every this many seconds (0: print once)."),
) -> None:
    """Workers (live, silent, stopped), claims per study, and the queue."""
    database = Database(db, create=False)
    console = make_console()
    while True:
        info = worker_status(database, study, stale_after)
        workers = Table(title="Workers")
        for col in ("worker", "host", "pid", "state", "heartbeat", "study", "measured"):
            workers.add_column(col)
        for w in info["workers"]:
            workers.add_row(w["id"], w["host"], str(w["pid"]), w["state"], f"{w['heartbeat_age_s']:.0f} s ago",
                            w["study"] or "-", str(w["evaluated"]))  # fmt: skip
        claims = Table(title="Claims")
        for col in ("study", "done", "in progress"):
            claims.add_column(col)
        for name, c in sorted(info["claims"].items()):
            claims.add_row(name, str(c["done"]), str(c["in_progress"]))
        jobs = Table(title="Queue")
        for col in ("study", "status", "strategies", "checkpoint", "message"):
            jobs.add_column(col)
        for j in info["jobs"]:
            jobs.add_row(j["study"], j["status"], ",".join(j["strategies"] or []), j["checkpoint"], j["message"] or "")
        console.print(workers, claims, jobs)
        if watch <= 0:
            return
        time.sleep(watch)
