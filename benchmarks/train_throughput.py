"""Training throughput (images/s) of Stochastic Depth training steps: channels_last vs NCHW, 1 vs 2 threads.

    python benchmarks/train_throughput.py [--steps 15]

Batch 128 of 28×28 grey images (Fashion-MNIST size), SGD with momentum, p_L = 0.5, batch-mode
drops from a seeded generator; each variant is timed in interleaved rounds, median step time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from explorer.models import create_model
from explorer.training import sd_forward, survival_probabilities


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15, help="timed steps per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    variants = [(a, cl, t) for a in ("resnet20", "resnet56") for cl in (True, False) for t in (1, 2)]
    state = {}
    for arch, cl, t in variants:
        torch.manual_seed(0)
        m = create_model(arch, in_channels=1)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        x = torch.randn(128, 1, 28, 28)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (128,))
        opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        state[(arch, cl, t)] = (
            m,
            x,
            y,
            opt,
            survival_probabilities(m.num_blocks, 0.5),
            torch.Generator().manual_seed(0),
        )
    times = {v: [] for v in variants}

    def step(v):
        m, x, y, opt, surv, gen = state[v]
        loss = F.cross_entropy(sd_forward(m, x, surv, gen), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for v in variants:  # warm-up
        torch.set_num_threads(v[2])
        for _ in range(3):
            step(v)
    rng = np.random.default_rng(0)
    for _ in range(args.rounds):
        for k in rng.permutation(len(variants)):
            v = variants[k]
            torch.set_num_threads(v[2])
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step(v)
                times[v].append(time.perf_counter() - t0)
    print("| model | layout | threads | images/s (median step) |")
    print("|---|---|---:|---:|")
    for v in variants:
        print(f"| {v[0]} | {'channels_last' if v[1] else 'NCHW'} | {v[2]} | {128 / np.median(times[v]):.0f} |")


if __name__ == "__main__":
    main()
