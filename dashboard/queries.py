"""What the dashboard reads: studies, their evaluations as tables, rankings, saved runs.

Only reads; every number comes from the results database (or a saved runtime run folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from explorer.engine import StudyView, load_study
from explorer.storage import Database, EvaluationRecord, Study, Trial
from explorer.storage.models import CheckpointRecord

RANKERS = ("sensitivity", "l2-norm", "fisher", "hessian")


def open_db(url: str) -> Database:
    """The database, read-only use; a missing SQLite file or a bad URL is one clear error."""
    return Database(url, create=False)


def studies_table(db: Database) -> pd.DataFrame:
    """One row per study: checkpoint, data set, strategies, evaluations, last update (SQL aggregates)."""
    with db.session() as s:
        trials = (
            select(Trial.study_id, func.count(Trial.id).label("trials"),
                   func.count(func.distinct(Trial.config)).label("configurations"),
                   func.max(Trial.created_at).label("last_trial"))
            .group_by(Trial.study_id).subquery()
        )  # fmt: skip
        q = (
            select(Study.name, CheckpointRecord.arch, CheckpointRecord.dataset, CheckpointRecord.num_gates,
                   CheckpointRecord.sha256, Study.settings, Study.updated_at, trials.c.trials,
                   trials.c.configurations, trials.c.last_trial)
            .join(CheckpointRecord, CheckpointRecord.id == Study.checkpoint_id)
            .outerjoin(trials, trials.c.study_id == Study.id)
            .order_by(Study.updated_at.desc())
        )  # fmt: skip
        rows = s.execute(q).all()
        strategies: dict[str, list[str]] = {}
        for name, strategy in s.execute(
            select(Study.name, Trial.strategy).join(Trial, Trial.study_id == Study.id).distinct()
        ):  # portable: no group_concat / string_agg
            if strategy != "reference":
                strategies.setdefault(name, []).append(strategy)
    out = []
    for r in rows:
        out.append({
            "study": r.name, "arch": r.arch, "dataset": r.dataset, "gates": r.num_gates,
            "checkpoint": r.sha256[:12], "objective": r.settings.get("cost_metric"),
            "strategies": ", ".join(sorted(strategies.get(r.name, []))), "configurations": int(r.configurations or 0),
            "last update": max(x for x in (r.updated_at, r.last_trial) if x is not None),
        })  # fmt: skip
    return pd.DataFrame(out)


def evaluations_frame(view: StudyView) -> pd.DataFrame:
    """One row per (strategy, configuration) with every metric, skipped blocks, front membership."""
    front = {str(e.config) for e in view.front()} if view.rows else set()
    rows = []
    for r in view.rows:
        bits = r["config"]
        skipped = [i for i, b in enumerate(bits) if b == "0"]
        rows.append({"config": bits, "strategy": r["strategy"], "seq": r["seq"], "skipped": len(skipped),
                     "skipped blocks": ",".join(map(str, skipped)) or "-", "on front": bits in front,
                     **r["metrics"]})  # fmt: skip
    df = pd.DataFrame(rows)
    if "accuracy" in df:
        df["accuracy %"] = 100 * df["accuracy"]
    if "macs" in df:
        df["MMACs"] = df["macs"] / 1e6
    return df


def hypervolume_history(view: StudyView) -> pd.DataFrame:
    """Hypervolume after each evaluation of each strategy, in the order the strategy asked."""
    from explorer.pareto import hypervolume

    full = view.full[view.cost_metric]
    out = []
    for strategy in view.strategies():
        rows = sorted((r for r in view.rows if r["strategy"] == strategy), key=lambda r: r["seq"])
        acc, cost = [], []
        for k, r in enumerate(rows, start=1):
            if view.cost_metric not in r["metrics"]:
                continue
            acc.append(r["metrics"]["accuracy"])
            cost.append(r["metrics"][view.cost_metric])
            out.append({"strategy": strategy, "evaluations": k, "hypervolume": hypervolume(acc, cost, full)})
    return pd.DataFrame(out)


def strategy_table(view: StudyView) -> pd.DataFrame:
    exhaustive = view.hypervolume("exhaustive") if "exhaustive" in view.strategies() else None
    out = []
    for strategy in view.strategies():
        hv = view.hypervolume(strategy)
        rows = [r for r in view.rows if r["strategy"] == strategy]
        out.append({"strategy": strategy, "hypervolume": hv,
                    "÷ exhaustive": hv / exhaustive if exhaustive else None, "evaluations": len(rows),
                    "wall time s": sum(r["wall_time_s"] for r in rows)})  # fmt: skip
    return pd.DataFrame(out)


def block_importance(view: StudyView) -> pd.DataFrame:
    """Per gate: accuracy lost when skipped alone, and the position at which each ranking strategy
    skipped it (read from its nested configurations: the k-th configuration skips k blocks)."""
    g = view.checkpoint.num_gates
    full = view.full["accuracy"]
    alone = {}
    for e in view.evaluations():
        if e.config.num_skipped == 1:
            alone[e.config.skipped[0]] = full - e["accuracy"]
    table = {"gate": list(range(g)), "accuracy drop skipped alone (points)": [
        100 * alone[i] if i in alone else None for i in range(g)]}  # fmt: skip
    for strategy in RANKERS:
        order = ranking_order([r for r in view.rows if r["strategy"] == strategy])
        if len(order) >= 2:
            table[f"{strategy}: skipped at step"] = [order.index(i) + 1 if i in order else None for i in range(g)]
    return pd.DataFrame(table)


def ranking_order(rows: list[dict]) -> list[int]:
    """The order in which a ranking strategy skipped blocks, read back from its nested
    configurations: the chain S_1 ⊂ S_2 ⊂ … of skipped sets, from the largest down (ties: the
    configuration asked last, since rankers ask their single-block probes first)."""
    by_size: dict[int, list[tuple[int, frozenset]]] = {}
    for r in rows:
        skipped = frozenset(i for i, b in enumerate(r["config"]) if b == "0")
        by_size.setdefault(len(skipped), []).append((r["seq"], skipped))
    if not by_size:
        return []
    chain: list[frozenset] = []
    current = None
    for k in sorted(by_size, reverse=True):
        if k == 0:
            break
        fits = [c for c in by_size[k] if current is None or c[1] <= current]
        if not fits or (current is not None and len(current) != k + 1):
            break
        current = max(fits, key=lambda c: c[0])[1]
        chain.append(current)
    chain.reverse()
    order, prev = [], frozenset()
    for c in chain:
        order += sorted(c - prev)
        prev = c
    return order if chain and len(chain[0]) == 1 else []


def load(db: Database, study: str, device: str | None = None) -> StudyView:
    return load_study(db, study, device=device)


def devices(db: Database, study: str) -> list[str]:
    """Boards with imported latencies for this study."""
    with db.session() as s:
        sid = s.scalars(select(Study.id).where(Study.name == study)).first()
        ctx = s.scalars(
            select(func.distinct(EvaluationRecord.context)).where(
                EvaluationRecord.study_id == sid, EvaluationRecord.evaluator == "latency-device"
            )
        ).all()
    return [c.split("=", 1)[1] for c in ctx]


def read_table1(path: str | Path) -> dict[str, pd.DataFrame]:
    """Rows written by `explorer table1 --out FILE`: one table per bundle (method, accuracy, ratios)."""
    result = json.loads(Path(path).read_text())
    return {bundle: pd.DataFrame(rows) for bundle, rows in sorted(result.items())}


def read_run(folder: str | Path) -> tuple[dict, pd.DataFrame]:
    """A saved runtime run (explorer simulate/serve --out): summary and per-request trace."""
    f = Path(folder)
    return json.loads((f / "summary.json").read_text()), pd.read_csv(f / "trace.csv", dtype={"config": str})
