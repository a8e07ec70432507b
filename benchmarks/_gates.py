"""What the gate-overhead benchmarks share: the command line, the checkpoint, one input image, the
configurations "skip the first N gates" (N = 0, B_s/2, B_s) and the timing loop."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from explorer.checkpoint import Checkpoint, load_checkpoint


@dataclass
class Setup:
    args: argparse.Namespace
    ckpt: Checkpoint
    image: np.ndarray  # f32[1, H, W, C], the module's NHWC input
    skips: dict[int, np.ndarray]  # N → skip vector (i32) skipping the first N gates


def setup(doc: str, rounds: int, reps: int) -> Setup:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--reps", type=int, default=reps)
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    g = ckpt.num_gates
    h, w = ckpt.meta["dataset"]["image_size"]
    c = ckpt.meta["dataset"].get("channels", 1)
    image = np.random.default_rng(0).standard_normal((1, h, w, c)).astype(np.float32)
    skips = {n: np.array([0] * n + [1] * (g - n), dtype=np.int32) for n in (0, g // 2, g)}
    return Setup(args, ckpt, image, skips)


def time_rounds(jobs: list[Hashable], call: Callable[[Hashable], object], rounds: int, reps: int) -> dict:
    """Median ms per call of each job: one warm-up call each, then every job timed in every round
    (`reps` calls), in an order shuffled per round."""
    jobs = list(jobs)
    times: dict = {j: [] for j in jobs}
    for j in jobs:
        call(j)
    for r in range(rounds):
        random.Random(r).shuffle(jobs)
        for j in jobs:
            t = time.perf_counter()
            for _ in range(reps):
                call(j)
            times[j].append(1000 * (time.perf_counter() - t) / reps)
    return {j: statistics.median(v) for j, v in times.items()}
