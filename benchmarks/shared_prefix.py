"""Shared-prefix vs naive accuracy evaluation: every configuration of a checkpoint, one split.

    python benchmarks/shared_prefix.py --checkpoint models/resnet20-sd-fmnist [--repeats 3]

Both methods run on the same images, alternately, `repeats` times; prints each time, the median
ratio naive ÷ shared, and checks that both give identical accuracies.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explorer.checkpoint import load_checkpoint
from explorer.evaluators import Subject, create_evaluator
from explorer.models.predict import accuracy
from explorer.skip import SkipConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="validation images (default: all)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    subject = Subject(load_checkpoint(args.checkpoint))
    g = subject.checkpoint.num_gates
    configs = [SkipConfig.from_int(i, g) for i in range(2**g)]
    data = subject.data
    x, y = data.val_x[: args.limit], data.val_y[: args.limit]
    ev = create_evaluator("accuracy", subject, split="val", limit=args.limit)
    ratios, t_shared, t_naive = [], [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        shared = [m["accuracy"] for m in ev.evaluate(configs)]
        t1 = time.perf_counter()
        naive = [
            accuracy(subject.checkpoint.model, x, y, mean=data.mean, std=data.std, skip=list(c.bits)) for c in configs
        ]
        t2 = time.perf_counter()
        assert shared == naive, "shared-prefix accuracies differ from naive ones"
        t_shared.append(t1 - t0)
        t_naive.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
        print(f"repeat {r + 1}: shared {t1 - t0:.1f} s, naive {t2 - t1:.1f} s, ratio {ratios[-1]:.2f}x", flush=True)
    print(
        f"{subject.checkpoint.arch}, {len(configs)} configurations, {len(y)} images, {args.threads} threads: "
        f"shared {statistics.median(t_shared):.1f} s, naive {statistics.median(t_naive):.1f} s, "
        f"median speed-up {statistics.median(ratios):.2f}x (identical accuracies)"
    )


if __name__ == "__main__":
    main()
