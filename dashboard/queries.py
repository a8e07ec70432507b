"""What the dashboard reads: studies, their evaluations as tables, rankings, saved runs.

Only reads; every number comes from the results database (or a saved runtime run folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer.storage import Database, overview
from explorer.storage.models import REFERENCE

if TYPE_CHECKING:  # the read model imports pymoo (about 0.6 s): only when a study is read
    from explorer.storage.results import StudyView

# the registry's rankers in --strategy all order, written out: explorer.search imports torch (seconds);
# tests/dashboard/test_app.py checks that the two agree
RANKERS = ("sensitivity", "l2-norm", "fisher", "hessian")


def open_db(url: str) -> Database:
    """The database, read-only use; a missing SQLite file or a bad URL is one clear error."""
    return Database(url, create=False)


def studies_table(db: Database) -> pd.DataFrame:
    """One row per study: checkpoint, data set, strategies, evaluations, last update."""
    out = [
        {
            "study": r["name"], "arch": r["arch"], "dataset": r["dataset"], "gates": r["num_gates"],
            "checkpoint": r["sha256"][:12], "objective": r["settings"].get("cost_metric"),
            "strategies": ", ".join(r["strategies"]), "configurations": r["configurations"],
            "last update": r["last_update"],
        }
        for r in overview.study_summaries(db)
    ]  # fmt: skip
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


def hypervolume_history(view: StudyView, points: int = 150) -> pd.DataFrame:
    """Hypervolume after each evaluation of each strategy, in the order the strategy asked (after
    at most `points` evenly spaced evaluations of each)."""
    from explorer.pareto import hypervolume

    full = view.full[view.cost_metric]
    out = []
    for strategy in view.strategies():
        rows = sorted((r for r in view.rows if r["strategy"] == strategy), key=lambda r: r["seq"])
        # at most `points` steps per strategy (every step of a 10,000-evaluation study would be
        # 10,000 hypervolumes: minutes); the last evaluation is always one of them
        at = set(np.unique(np.linspace(1, len(rows), min(len(rows), points)).round().astype(int)).tolist())
        acc, cost = [], []
        for k, r in enumerate(rows, start=1):
            if view.cost_metric not in r["metrics"]:
                continue
            acc.append(r["metrics"]["accuracy"])
            cost.append(r["metrics"][view.cost_metric])
            if k in at:
                out.append({"strategy": strategy, "evaluations": k, "hypervolume": hypervolume(acc, cost, full)})
    return pd.DataFrame(out)


def configs_frame(view: StudyView) -> pd.DataFrame:
    """One row per configuration: every metric, and every strategy that asked for it ("found by")."""
    df = evaluations_frame(view)
    if df.empty:
        return df
    found = df.groupby("config", sort=False)["strategy"].agg(lambda s: ", ".join(sorted(set(s))))
    out = df.drop_duplicates("config").drop(columns=["strategy", "seq"]).set_index("config")
    out.insert(0, "found by", found)
    return out.reset_index()


def strategy_table(view: StudyView, stored: dict[str, int] | None = None) -> pd.DataFrame:
    """Per strategy: trials stored, evaluations in the view (the rest lack a metric), hypervolume."""
    stored = stored or {}
    exhaustive = view.hypervolume("exhaustive") if "exhaustive" in view.strategies() else None
    out = []
    for strategy in view.strategies():
        hv = view.hypervolume(strategy)
        rows = [r for r in view.rows if r["strategy"] == strategy]
        out.append({"strategy": strategy, "trials stored": stored.get(strategy, len(rows)), "evaluations shown": len(rows),
                    "left out (a metric missing)": stored.get(strategy, len(rows)) - len(rows), "hypervolume": hv,
                    "÷ exhaustive": hv / exhaustive if exhaustive else None,
                    "wall time (s)": sum(r["wall_time_s"] for r in rows)})  # fmt: skip
    for strategy in sorted(set(stored) - set(view.strategies()) - {REFERENCE}):  # nothing of it shown
        out.append({"strategy": strategy, "trials stored": stored[strategy], "evaluations shown": 0,
                    "left out (a metric missing)": stored[strategy], "hypervolume": None, "÷ exhaustive": None,
                    "wall time (s)": None})  # fmt: skip
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
    table = {"gate": list(range(g)), "accuracy drop when skipped alone (pp)": [
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


def load(db: Database, study: str, device: str | None = None, artifacts: bool = False) -> StudyView:
    """A study's view; its artifacts (BatchNorm statistics) only when asked, for building a bundle."""
    from explorer.storage.results import load_study

    return load_study(db, study, device=device, artifacts=artifacts)


def db_version(db: Database) -> tuple:
    """Changes whenever a study, trial or evaluation is added or updated: the key of every cache."""
    return overview.db_version(db)


def study_versions(db: Database) -> dict[str, tuple]:
    """Per study, what changes when its view may change (keys the caches of one study, so a
    running search makes only its own study read again)."""
    return overview.study_versions(db)


def left_out(db: Database, view: StudyView) -> pd.DataFrame:
    """The study's trials that its view leaves out, and why: one row per (strategy, configuration)
    with the evaluators (under the view's settings) that have not measured it."""
    rows = [(st, c, ", ".join(missing)) for st, c, missing in overview.left_out(db, view)]
    return pd.DataFrame(rows, columns=["strategy", "config", "missing"])


def trial_counts(db: Database, study: str) -> dict[str, int]:
    """Trials stored per strategy (what the database holds, before any view drops one)."""
    return overview.trial_counts(db, study)


def config_records(db: Database, view: StudyView, config: str) -> pd.DataFrame:
    """Every measurement stored for one configuration of the study's checkpoint (any settings)."""
    used = view.settings["evaluators"]
    out = []
    for evaluator, context, metrics, wall in overview.config_measurements(db, view.checkpoint.id, config):
        for metric, value in metrics.items():
            out.append({"evaluator": evaluator, "settings": context, "metric": metric, "value": value,
                        "wall time (s)": wall, "used by this view": used.get(evaluator) == context})  # fmt: skip
    return pd.DataFrame(out, columns=["evaluator", "settings", "metric", "value", "wall time (s)", "used by this view"])


def devices(db: Database, study: str) -> list[str]:
    """Boards with imported latencies for this study."""
    return overview.devices(db, study)


TABLE1_COLUMNS = ("method", "accuracy", "processed_x", "inferences_per_w_x")
RUN_COLUMNS = ("arrival_ms", "config", "dropped", "request", "latency_ms")


def read_table1(path: str | Path) -> dict[str, pd.DataFrame]:
    """Rows written by `explorer table1 --out FILE`: one table per bundle (method, accuracy, ratios).
    A file of any other shape is a ValueError that says what is wrong with it."""
    try:
        result = json.loads(Path(path).read_text())
    except UnicodeDecodeError:
        raise ValueError("it is not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"it is not JSON ({e})") from None
    if not isinstance(result, dict) or not result:
        raise ValueError("expected an object {bundle: [rows]} as written by explorer table1 --out")
    tables = {}
    for bundle, rows in sorted(result.items()):
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"bundle {bundle!r}: expected a list of rows (objects), got {type(rows).__name__}")
        missing = [c for c in TABLE1_COLUMNS if any(c not in r for r in rows)]
        if missing:
            raise ValueError(f"bundle {bundle!r}: rows lack {', '.join(missing)}")
        tables[bundle] = pd.DataFrame(rows)
    return tables


def read_run(folder: str | Path) -> tuple[dict, pd.DataFrame]:
    """A saved runtime run (explorer simulate/serve --out): summary and per-request trace."""
    f = Path(folder)
    try:
        summary = json.loads((f / "summary.json").read_text())
        trace = pd.read_csv(f / "trace.csv", dtype={"config": str})
    except (UnicodeDecodeError, json.JSONDecodeError, pd.errors.ParserError) as e:
        raise ValueError(f"not a saved run ({e})") from None
    missing = [c for c in RUN_COLUMNS if c not in trace]
    if not isinstance(summary, dict) or missing:
        raise ValueError(f"not a saved run (trace.csv lacks {', '.join(missing) or '-'}; summary.json: an object?)")
    return summary, trace


def saved_files(folder: str | Path, depth: int = 3) -> tuple[list[Path], list[Path]]:
    """Saved runs (folders with summary.json and trace.csv) and Table I candidates (other .json
    files) under `folder`, at most `depth` levels down, sorted."""
    root = Path(folder)
    runs, tables = [], []
    if not root.is_dir():
        return runs, tables
    for level in range(depth + 1):
        for p in sorted(root.glob("/".join(["*"] * (level + 1)))):
            if p.name == "summary.json" and (p.parent / "trace.csv").is_file():
                runs.append(p.parent)
            elif p.suffix == ".json" and p.is_file() and p.name not in ("summary.json", "manifest.json", "pareto.json"):
                tables.append(p)
    return sorted(runs), sorted(tables)


def checkpoint_places(recorded: str, db_url: str) -> list[Path]:
    """Where a study's checkpoint may be on this machine: its recorded path if absolute; else that
    path under the current folder and under the SQLite file's folder and each folder above it
    (a search run from the project root records models/NAME, its database may sit in docs/data)."""
    from sqlalchemy.engine import make_url

    p = Path(recorded)
    if p.is_absolute():
        return [p]
    bases = [Path.cwd()]
    u = make_url(db_url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        bases += list(Path(u.database).resolve().parents)
    return list(dict.fromkeys(Path(os.path.abspath(b / p)) for b in bases))  # symlinks kept: the user's names


def locate_checkpoint(view: StudyView, db_url: str) -> tuple[Path | None, str]:
    """The study's own checkpoint on this machine (sha256 verified), or None and a message that says
    where it was looked for and what to do."""
    from explorer.deploy.export import study_checkpoint
    from explorer.errors import ExplorerError

    looked = []
    for place in checkpoint_places(view.checkpoint.path, db_url):
        if not place.exists():
            looked.append(str(place))
            continue
        try:
            study_checkpoint(view, place)
            return place, ""
        except ExplorerError:
            looked.append(f"{place} (another checkpoint: sha256 differs, or unreadable)")
    return None, (
        f"The checkpoint of study {view.name!r} is not on this machine: the study records "
        f"{view.checkpoint.path} (sha256 {view.checkpoint.sha256[:12]}…), and it is not at {'; '.join(looked)}. "
        "Copy that checkpoint folder to one of these places (or open the dashboard where the study was searched) "
        "to export here."
    )
