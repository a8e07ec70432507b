"""Gate overhead with IREE's default allocator vs its caching allocator (what `IreeModule` uses).

    python benchmarks/iree_allocator.py --checkpoint models/resnet56-sd-fmnist [--rounds 30] [--reps 20]

The gated module allocates the transient buffers of each region between gates on its own; the
caching allocator keeps freed buffers for the next call instead of returning them to malloc.
Configurations: skip the first N gates (N = 0, B_s/2, B_s). The gated module and the module
compiled for that configuration alone are each loaded twice (default, caching); every module and
configuration is timed in every round (shuffled order), batch 1, local-sync (one thread). Prints
medians (ms) and gated ÷ static with both allocators.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np

from explorer.checkpoint import load_checkpoint
from explorer.deploy.iree import compile_checkpoint


def load(vmfb: Path, allocators: list[str] | None):
    import iree.runtime as rt

    device = rt.get_driver("local-sync").create_default_device(allocators=allocators)
    ctx = rt.SystemContext(config=rt.Config(device=device))
    ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, vmfb.read_bytes()))
    return ctx.modules.module["forward"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    g = ckpt.num_gates
    h, w = ckpt.meta["dataset"]["image_size"]
    c = ckpt.meta["dataset"].get("channels", 1)
    image = np.random.default_rng(0).standard_normal((1, h, w, c)).astype(np.float32)
    counts = [0, g // 2, g]
    skips = {n: np.array([0] * n + [1] * (g - n), dtype=np.int32) for n in counts}
    gated = compile_checkpoint(ckpt)
    statics = {n: compile_checkpoint(ckpt, static_skip="".join(map(str, skips[n]))) for n in counts}
    alloc = {"default": None, "caching": ["caching"]}
    fns = {(kind, a, n): load(gated if kind == "gated" else statics[n], alloc[a])
           for kind in ("gated", "static") for a in alloc for n in counts}  # fmt: skip

    def call(key) -> None:
        kind, _, n = key
        (fns[key](image, skips[n]) if kind == "gated" else fns[key](image)).to_host()

    jobs = list(fns)
    times: dict[tuple, list[float]] = {j: [] for j in jobs}
    for j in jobs:
        call(j)
    for r in range(args.rounds):
        random.Random(r).shuffle(jobs)
        for j in jobs:
            t = time.perf_counter()
            for _ in range(args.reps):
                call(j)
            times[j].append(1000 * (time.perf_counter() - t) / args.reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{ckpt.arch} ({g} gates), batch 1, local-sync, medians of {args.rounds} rounds of {args.reps} calls (ms)")
    print("| N skipped | static, default | gated, default | ÷ static | static, caching | gated, caching | ÷ static |")
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        sd, gd, sc, gc = (med[(k, a, n)] for a in alloc for k in ("static", "gated"))
        print(f"| {n} | {sd:.3f} | {gd:.3f} | {gd / sd:.2f}× | {sc:.3f} | {gc:.3f} | {gc / sc:.2f}× |")


if __name__ == "__main__":
    main()
