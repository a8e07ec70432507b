"""Search workers on one database: evaluations per minute with K workers, and the claim protocol's cost.

For each round and each K (interleaved, so machine noise hits all alike), a fresh database receives
an exhaustive resnet20 study (64 configurations) from `explorer search --workers K`; the rate is
64 / (last evaluation stored - first evaluation stored), which leaves out process start-up, and the
wall time of the whole command is reported too. Then, in this process, the time the claim protocol
adds per configuration (the missing-results query, claim, finish) is measured against the time the
accuracy evaluator takes for the same configuration.

python benchmarks/workers.py --db-template 'sqlite:////tmp/wbench-{name}.db'
python benchmarks/workers.py --db-template 'postgresql+psycopg://explorer@127.0.0.1:5433/{name}'
  (PostgreSQL: the server's `postgres` database is used to create one database per run)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from explorer.checkpoint import load_checkpoint
from explorer.engine import Engine
from explorer.evaluators import Subject, create_evaluator
from explorer.skip import SkipConfig
from explorer.storage import Database, overview
from explorer.workers import Worker

REF = Path(__file__).resolve().parents[1] / "models" / "resnet20-sd-fmnist"


def fresh_url(template: str, name: str) -> str:
    url = template.format(name=name)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        import psycopg

        admin = template.format(name="postgres").replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name}")
            con.execute(f"CREATE DATABASE {name}")
    return url


def run_search(url: str, workers: int, limit: int) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "explorer.cli", "search", "--checkpoint", str(REF), "--strategy", "exhaustive",
           "--objective", "macs", "--limit", str(limit), "--db", url, "--study", "w", "--threads", "1",
           "--chunk-size", "4", "--workers", str(workers), "--no-progress"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    db = Database(url, create=False)
    first, last, n = overview.evaluation_span(db, "accuracy")
    db.dispose()
    assert n == 64, n
    return 63 / ((last - first).total_seconds() / 60), wall  # 63 intervals between 64 stored results


def claim_overhead(template: str, limit: int, rounds: int) -> tuple[float, float]:
    """(median ms the protocol adds per configuration, median ms of its evaluation: accuracy + MACs)."""
    subject = Subject(load_checkpoint(REF))
    configs = [SkipConfig.from_int(i, 6) for i in range(2**6)]
    proto, evals = [], []
    for r in range(rounds):
        db = Database(fresh_url(template, f"claims{r}"))
        worker = Worker(db)
        engine = Engine(db, subject, "c", [create_evaluator("accuracy", subject, limit=limit),
                                           create_evaluator("flops", subject)], "macs", worker=worker)  # fmt: skip
        for i in range(0, len(configs), 4):
            chunk = configs[i : i + 4]
            t0 = time.perf_counter()
            mine, _ = engine._claim(chunk)
            t1 = time.perf_counter()
            engine._measure(mine, "bench")
            t2 = time.perf_counter()
            engine._finish(mine)
            t3 = time.perf_counter()
            if mine:
                proto.append(1000 * ((t1 - t0) + (t3 - t2)) / len(mine))
                evals.append(1000 * (t2 - t1) / len(mine))
        worker.close()
        db.dispose()
    return statistics.median(proto), statistics.median(evals)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db-template", default="sqlite:////tmp/wbench-{name}.db")
    ap.add_argument("--limit", type=int, default=1000, help="validation images per accuracy evaluation")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    walls: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for k in (1, 2) if r % 2 == 0 else (2, 1):
            rate, wall = run_search(fresh_url(args.db_template, f"w{k}r{r}"), k, args.limit)
            rates[k].append(rate)
            walls[k].append(wall)
            print(f"round {r} workers {k}: {rate:.1f} evaluations/min, command {wall:.1f} s", flush=True)
    for k in (1, 2):
        print(f"workers {k}: median {statistics.median(rates[k]):.1f} evaluations/min "
              f"(command median {statistics.median(walls[k]):.1f} s)")  # fmt: skip
    print(f"2 workers ÷ 1 worker: {statistics.median(rates[2]) / statistics.median(rates[1]):.2f}×")
    proto, ev = claim_overhead(args.db_template, args.limit, args.rounds)
    print(f"claim protocol: median {proto:.2f} ms per configuration; its evaluation (accuracy + MACs) {ev:.1f} ms "
          f"({100 * proto / ev:.2f}% of it)")  # fmt: skip


if __name__ == "__main__":
    main()
