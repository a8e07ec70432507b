"""Gate overhead of the gated IREE module with the gate bits read per gate (emitter version 2) vs all
read before the first dispatch (version 3), against modules compiled for one configuration alone.

    python benchmarks/gate_hoist.py --checkpoint models/resnet56-sd-fmnist [--rounds 10] [--reps 50]

Configurations: skip the first N gates (N = 0, B_s/2, B_s) — which gates does not matter for the
overhead. Every module and configuration is timed in every round (shuffled order), batch 1,
local-sync (one thread); medians in ms and the ratio gated ÷ static per N.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from _emitter_variants import InlineTensorGates, ScalarArgGates
from _gates import setup, time_rounds

from explorer.deploy.iree import IreeModule, compile_checkpoint, compiler_path, get_target
from explorer.deploy.mlir import resnet_to_mlir


def compile_variant(ckpt, hoist: bool, folder: Path, scalars: bool = False) -> Path:
    h, w = ckpt.meta["dataset"]["image_size"]
    src, dst = folder / f"h{int(hoist)}{int(scalars)}.mlir", folder / f"h{int(hoist)}{int(scalars)}.vmfb"
    gates = ScalarArgGates() if scalars else None if hoist else InlineTensorGates()
    src.write_text(resnet_to_mlir(ckpt.model.eval(), (h, w), gates=gates))
    subprocess.run([compiler_path(), str(src), *get_target("host").flags, "-o", str(dst)], check=True)
    return dst


def main() -> None:
    su = setup(__doc__, rounds=10, reps=50)
    args, ckpt, image, skips = su.args, su.ckpt, su.image, su.skips
    counts = list(skips)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mods = {"per-gate (v2)": IreeModule(compile_variant(ckpt, False, Path(tmp))),
                "hoisted (v3)": IreeModule(compile_variant(ckpt, True, Path(tmp))),
                "scalars": IreeModule(compile_variant(ckpt, True, Path(tmp), scalars=True))}  # fmt: skip
        statics = {}
        for n in counts:
            statics[n] = IreeModule(compile_checkpoint(ckpt, static_skip="".join(map(str, skips[n]))))
        print(f"compiled in {time.perf_counter() - t0:.0f} s", flush=True)

        def call(job: tuple[str, int]):
            name, n = job
            if name == "static":
                return statics[n](image)
            if name == "scalars":  # the skip bits as i32 scalar arguments instead of a tensor
                return mods[name]._fn(image, *[int(b) for b in skips[n]]).to_host()
            return mods[name](image, skips[n])

        jobs = [(name, n) for name in [*mods, "static"] for n in counts]
        med = time_rounds(jobs, call, args.rounds, args.reps)
    print(
        "| N skipped | static ms | per-gate (v2) ms | ÷ static | hoisted (v3) ms | ÷ static | scalars ms | ÷ static |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in counts:
        s = med[("static", n)]
        a, b, c = med[("per-gate (v2)", n)], med[("hoisted (v3)", n)], med[("scalars", n)]
        print(f"| {n} | {s:.3f} | {a:.3f} | {a / s:.2f}× | {b:.3f} | {b / s:.2f}× | {c:.3f} | {c / s:.2f}× |")


if __name__ == "__main__":
    main()
