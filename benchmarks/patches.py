"""Convolution patches gathered with vector loads (emitter version 5) vs tensor.pad + affine-map
copies (version 4, left as scalar loops by MLIR's vectoriser): static modules side by side.

    python benchmarks/patches.py --checkpoint models/resnet20-sd-fmnist [--rounds 60] [--reps 10]

Configurations: skip the first N gates (N = 0, B_s/2, B_s); one static module per N and emitter,
every module timed in every round (shuffled order), batch 1, local-sync (one thread). Prints the
medians (ms) and the ratio version 5 ÷ version 4 per N.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from _emitter_variants import CopyIm2colEmitter
from _gates import setup, time_rounds

from explorer.deploy.iree import IreeModule, compiler_path, get_target
from explorer.deploy.mlir import resnet_to_mlir


def compile_static(ckpt, bits, gather: bool, folder: Path) -> Path:
    h, w = ckpt.meta["dataset"]["image_size"]
    name = f"{''.join(map(str, bits))}-{'v5' if gather else 'v4'}"
    src, dst = folder / f"{name}.mlir", folder / f"{name}.vmfb"
    src.write_text(
        resnet_to_mlir(
            ckpt.model.eval(), (h, w), static_skip=list(bits), emitter=None if gather else CopyIm2colEmitter()
        )
    )
    subprocess.run([compiler_path(), str(src), *get_target("host").flags, "-o", str(dst)], check=True)
    return dst


def main() -> None:
    su = setup(__doc__, rounds=60, reps=10)
    args, ckpt, image, skips = su.args, su.ckpt, su.image, su.skips
    with tempfile.TemporaryDirectory() as tmp:
        mods = {(n, v): IreeModule(compile_static(ckpt, skips[n].tolist(), v == "v5", Path(tmp)))
                for n in skips for v in ("v4", "v5")}  # fmt: skip
        med = time_rounds(list(mods), lambda j: mods[j](image), args.rounds, args.reps)
    print(f"{ckpt.arch}, static modules, medians of {args.rounds} rounds x {args.reps} calls (ms)")
    print("| N skipped | emitter 4 | emitter 5 | 5 ÷ 4 |")
    print("|---:|---:|---:|---:|")
    for n in skips:
        print(f"| {n} | {med[(n, 'v4')]:.3f} | {med[(n, 'v5')]:.3f} | {med[(n, 'v5')] / med[(n, 'v4')]:.3f} |")


if __name__ == "__main__":
    main()
