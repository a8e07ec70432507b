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

from _gates import setup, time_rounds

from explorer.deploy.iree import IreeModule, compile_checkpoint


def main() -> None:
    su = setup(__doc__, rounds=30, reps=20)
    args, ckpt, image, skips = su.args, su.ckpt, su.image, su.skips
    g, counts = ckpt.num_gates, list(skips)
    gated = compile_checkpoint(ckpt)
    statics = {n: compile_checkpoint(ckpt, static_skip="".join(map(str, skips[n]))) for n in counts}
    alloc = {"default": None, "caching": ["caching"]}
    fns = {(kind, a, n): IreeModule(gated if kind == "gated" else statics[n], allocators=alloc[a])
           for kind in ("gated", "static") for a in alloc for n in counts}  # fmt: skip

    def call(key) -> None:
        kind, _, n = key
        fns[key](image, skips[n] if kind == "gated" else None)

    med = time_rounds(list(fns), call, args.rounds, args.reps)
    print(f"{ckpt.arch} ({g} gates), batch 1, local-sync, medians of {args.rounds} rounds of {args.reps} calls (ms)")
    print("| N skipped | static, default | gated, default | ÷ static | static, caching | gated, caching | ÷ static |")
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        sd, gd, sc, gc = (med[(k, a, n)] for a in alloc for k in ("static", "gated"))
        print(f"| {n} | {sd:.3f} | {gd:.3f} | {gd / sd:.2f}× | {sc:.3f} | {gc:.3f} | {gc / sc:.2f}× |")


if __name__ == "__main__":
    main()
