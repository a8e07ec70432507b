#!/usr/bin/env python3
"""Score the checkpoints of the recipe study: full depth, every gated block skipped, and the
hypervolume of the exhaustive front (accuracy vs MACs), each with the checkpoint's own BatchNorm
statistics and with statistics re-estimated per configuration.

    python benchmarks/recipe_scores.py --db sqlite:///runs/recipes.db runs/pilot/pilot-*
    python benchmarks/recipe_scores.py --db sqlite:///runs/recipes.db --markdown runs/pilot/pilot-*

Every configuration goes through `explorer search --strategy exhaustive --objective macs` (the
engine, so the rows are in the database and a second run measures nothing again); studies are
named `<folder>` and `<folder>-bn`. Accuracies are fractions of the validation split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from explorer.cli.common import ConsoleListener
from explorer.storage import Database
from explorer.storage.results import load_study
from explorer.study import SearchOptions, build_engine, run_strategies


def score(db: Database, checkpoint: Path, bn_recal: int, limit: int | None, console: Console) -> dict:
    study = checkpoint.name + ("-bn" if bn_recal else "")
    engine = build_engine(db, checkpoint, study, SearchOptions(objective="macs", limit=limit, bn_recal=bn_recal))
    run_strategies(engine, ["exhaustive"], budget=None, seed=0, listener=ConsoleListener(console))
    view = load_study(db, study)
    by_bits = {str(e.config): e["accuracy"] for e in view.evaluations()}
    gates = engine.space.num_gates
    return {
        "full": by_bits["1" * gates],
        "all_skipped": by_bits["0" * gates],
        "hypervolume": view.hypervolume("exhaustive"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--db", default="sqlite:///runs/recipes.db")
    ap.add_argument("--bn-recal", type=int, default=2000, help="training images per re-estimation")
    ap.add_argument("--limit", type=int, default=None, help="validation images per evaluation (default: all)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    args = ap.parse_args()
    console = Console(stderr=True)
    db = Database(args.db)
    rows = []
    for ckpt in args.checkpoints:
        meta = json.loads((ckpt / "metadata.json").read_text())
        t = meta["training"]
        rows.append({
            "checkpoint": ckpt.name,
            "recipe": {k: t.get(k) for k in ("schedule", "crop_padding", "sd_scope", "rule", "epochs", "limit_train")},
            "wall_time_s": t["wall_time_s"],
            "stock": score(db, ckpt, 0, args.limit, console),
            "reestimated": score(db, ckpt, args.bn_recal, args.limit, console),
        })  # fmt: skip
    if not args.markdown:
        print(json.dumps(rows, indent=1))
        return
    print("| run | schedule | crop pad | SD scope | rule | full depth % | all skipped % (stock / re-est.) "
          "| HV stock | HV re-est. | train min |")  # fmt: skip
    print("|---|---|---:|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        c, s, b = r["recipe"], r["stock"], r["reestimated"]
        print(f"| {r['checkpoint']} | {c['schedule']} | {c['crop_padding']} | {c['sd_scope'] or 'all'} | "
              f"{c['rule'] or 'sd'} | {100 * b['full']:.2f} | {100 * s['all_skipped']:.2f} / "
              f"{100 * b['all_skipped']:.2f} | {s['hypervolume']:.4f} | {b['hypervolume']:.4f} | "
              f"{r['wall_time_s'] / 60:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
