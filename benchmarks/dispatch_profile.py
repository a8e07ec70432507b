"""Where a compiled module's time goes: every dispatch timed on its own with iree-benchmark-module.

    python benchmarks/dispatch_profile.py --checkpoint models/resnet20-sd-fmnist --skip-first 6
    python benchmarks/dispatch_profile.py --checkpoint models/resnet20-sd-fmnist --skip-first 6 --emitter-4-im2col

Compiles the static module of one nested configuration (skip the first N gates, in gate order)
for the host with `--iree-hal-dump-executable-benchmarks-to`, compiles each dumped dispatch
benchmark and times it alone (`--device=local-sync`, median of 5 repetitions of ≥ 0.2 s). Prints
one row per distinct dispatch (IREE deduplicates identical ones, so a row can run several times
per call) and how many times the module's stream program calls it.

Constants that IREE inlined into a dispatch (small biases) are replaced by a splat in the dumped
benchmark, which has no resource table: the same work on other numbers. `--emitter-4-im2col`
emits the convolution patches as before emitter 5 (tensor.pad + affine-map copies), to compare.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from _emitter_variants import CopyIm2colEmitter

from explorer.checkpoint import load_checkpoint
from explorer.deploy.iree import compiler_path, get_target
from explorer.deploy.mlir import resnet_to_mlir


def benchmark_tool() -> str:
    import shutil

    exe = shutil.which("iree-benchmark-module")  # installed with iree-base-runtime
    if not exe:
        raise SystemExit("iree-benchmark-module not found: pip install iree-base-runtime")
    return exe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--skip-first", type=int, default=0, help="N: the first N gates skipped")
    ap.add_argument("--emitter-4-im2col", action="store_true", help="patches as tensor.pad + affine-map copies")
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    g = ckpt.num_gates
    if not 0 <= args.skip_first <= g:
        ap.error(f"--skip-first must be in 0..{g}")
    bits = [0] * args.skip_first + [1] * (g - args.skip_first)
    h, w = ckpt.meta["dataset"]["image_size"]
    flags = list(get_target("host").flags)
    emitter = CopyIm2colEmitter() if args.emitter_4_im2col else None
    text = resnet_to_mlir(ckpt.model.eval(), (h, w), static_skip=bits, emitter=emitter)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "m.mlir").write_text(text)
        dump = tmp / "bench"
        subprocess.run([compiler_path(), str(tmp / "m.mlir"), *flags, f"--iree-hal-dump-executable-benchmarks-to={dump}",
                        "-o", str(tmp / "m.vmfb")], check=True)  # fmt: skip
        subprocess.run([compiler_path(), str(tmp / "m.mlir"), *flags, "--compile-to=stream",
                        "-o", str(tmp / "m.stream.mlir")], check=True)  # fmt: skip
        stream = (tmp / "m.stream.mlir").read_text()
        rows, total = [], 0.0
        for src in sorted(dump.glob("*_benchmark.mlir"), key=lambda p: int(re.search(r"dispatch_(\d+)", p.name)[1])):
            body = re.sub(r"dense_resource<[\w.]+>", "dense<0.5>", src.read_text())
            src.write_text(body)
            name = re.search(r"@(forward_dispatch_\d+_\w+?)\b", body)[1]
            calls = len(re.findall(rf"stream\.cmd\.dispatch @\w+::@{re.escape(name)}\b", stream))
            vmfb = src.with_suffix(".vmfb")
            subprocess.run([compiler_path(), str(src), *flags, "-o", str(vmfb)], check=True, capture_output=True)
            out = subprocess.run(
                [benchmark_tool(), f"--module={vmfb}", "--device=local-sync", "--benchmark_min_time=0.2s",
                 "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            line = next(ln for ln in out.splitlines() if "_median" in ln)
            value, unit = line.split()[1:3]
            us = float(value) * {"ns": 1e-3, "us": 1.0, "ms": 1e3}[unit]
            rows.append((name, calls, us))
            total += calls * us
    kind = "emitter-4 patches" if args.emitter_4_im2col else "current emitter"
    print(f"{ckpt.arch}, first {args.skip_first} of {g} gates skipped, {kind}: µs per dispatch (median)")
    print("| dispatch | calls | µs | µs × calls |")
    print("|---|---:|---:|---:|")
    for name, calls, us in rows:
        print(f"| {name.removeprefix('forward_')} | {calls} | {us:.1f} | {calls * us:.1f} |")
    print(f"| **sum** | {sum(c for _, c, _ in rows)} | | **{total:.0f}** |")


if __name__ == "__main__":
    main()
