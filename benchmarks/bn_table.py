"""Accuracy per number of skipped blocks with and without per-configuration BatchNorm statistics.

    explorer search --checkpoint models/resnet20-sd-fmnist --strategy exhaustive --objective macs \\
        --bn-recal 2000 --db sqlite:///bench.db --study r20-sd-bn
    python benchmarks/bn_table.py --db sqlite:///bench.db --study r20-sd-bn

Reads a study searched with --bn-recal (each configuration has `accuracy`, re-estimated, and
`accuracy_plain`, stock statistics) and prints, per number of skipped gates, the best and mean of
both, then the hypervolume of both fronts and the evaluation cost per configuration.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from explorer.storage import Database
from explorer.storage.results import load_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--study", required=True)
    ap.add_argument("--strategy", default=None, help="only this strategy's configurations")
    args = ap.parse_args()
    db = Database(args.db, create=False)
    recal = load_study(db, args.study)
    plain = load_study(db, args.study, plain_bn=True)
    by_n: dict[int, list] = defaultdict(list)
    for e in recal.evaluations(args.strategy):
        by_n[e.config.num_skipped].append((e.metrics["accuracy_plain"], e.metrics["accuracy"]))
    print(f"study {args.study} ({recal.checkpoint.arch}), {recal.settings['evaluators']['accuracy']}")
    print(
        "| skipped | configurations | best (stock BN) | best (re-estimated) | mean (stock BN) | mean (re-estimated) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sorted(by_n):
        rows = by_n[n]
        p = [r[0] for r in rows]
        r = [r[1] for r in rows]
        print(
            f"| {n} | {len(rows)} | {100 * max(p):.2f}% | {100 * max(r):.2f}% | "
            f"{100 * sum(p) / len(p):.2f}% | {100 * sum(r) / len(r):.2f}% |"
        )
    print(
        f"hypervolume of accuracy vs {recal.cost_metric}: stock BN {plain.hypervolume(args.strategy):.4f}, "
        f"re-estimated {recal.hypervolume(args.strategy):.4f}"
    )
    n = len(recal.evaluations(args.strategy))
    acc_time = sum(r["wall_time_s"] for r in recal.rows if args.strategy in (None, r["strategy"])) / max(n, 1)
    print(f"evaluation cost per configuration (all evaluators, stock and re-estimated accuracy): {acc_time:.2f} s")


if __name__ == "__main__":
    main()
