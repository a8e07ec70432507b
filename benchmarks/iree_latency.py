"""IREE gate overhead, IREE vs onnxruntime vs PyTorch eager, latency vs MACs, compile time per target.

    python benchmarks/iree_latency.py --checkpoint models/resnet20-sd-fmnist [--rounds 15] [--json out.json]

Configurations: the nested ones N = 0..B_s (skip the N least important gates by the l2-norm ranking,
which needs no evaluation). Engines, all batch 1 on one thread, timed side by side in interleaved
shuffled rounds (every engine and configuration in every round):
  - iree-gated: the one module serving every configuration (skip vector input, scf.if gates);
  - iree-fast: the same module compiled with the nested configurations as fast paths (what
    `explorer export` does with a front): a matched skip vector runs a branch of its own;
  - iree-static: a module compiled for that configuration alone (skipped blocks left out);
  - onnxruntime: the gated model exported by torch.onnx (If nodes), 1 intra-op thread;
  - ort-static: onnxruntime on the plain ResNet of that configuration (no If nodes), its best case;
  - torch: PyTorch eager, 1 thread;
  - iree-bn: the module taking per-configuration BatchNorm scales and shifts as an input (--bn-recal
    bundles), compared with iree-gated (statistics folded into the weights).
Prints one table row per N with medians (ms) and the ratios gated÷static, fast÷static and
fast÷onnxruntime,
then latency-vs-MACs (speed-up at maximum skipping ÷ MAC ratio) and compile times per target.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from explorer.checkpoint import load_checkpoint
from explorer.deploy.iree import IreeModule, compile_checkpoint
from explorer.engine import make_probe
from explorer.evaluators import Subject
from explorer.evaluators.flops import block_macs
from explorer.search import create_strategy
from explorer.skip import SkipSpace


def export_onnx(model, shape, gates: int, path: Path) -> None:
    import copy

    m = copy.deepcopy(model).eval()
    m.gate_mode = "cond"
    x = torch.randn(1, *shape)
    prog = torch.onnx.export(m, (x, torch.ones(gates, dtype=torch.int32)), dynamo=True, input_names=["image", "skip"])
    prog.save(str(path))


def export_onnx_static(model, shape, bits, path: Path) -> None:
    """The plain ResNet of one configuration (skipped blocks left out, no If nodes): onnxruntime's
    best case, the counterpart of a static IREE module."""
    import copy

    class Static(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = copy.deepcopy(model).eval()

        def forward(self, x):
            return self.m(x, [int(b) for b in bits])

    prog = torch.onnx.export(Static(), (torch.randn(1, *shape),), dynamo=True, input_names=["image"], verbose=False)
    prog.save(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the medians here")
    ap.add_argument("--no-compile-times", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    subject = Subject(ckpt)
    g = ckpt.num_gates
    c, h, w = subject.image_shape
    order = create_strategy("l2-norm", space=SkipSpace(g), probe=make_probe(subject)).ranking()
    nested = SkipSpace(g).nested(order)

    gated = IreeModule(compile_checkpoint(ckpt, "host"))
    fast = IreeModule(compile_checkpoint(ckpt, "host", fast_paths=[str(cfg) for cfg in nested]))
    with_bn = IreeModule(compile_checkpoint(ckpt, "host", bn_input=True))
    from explorer.bn import BNStats

    bn = np.concatenate(BNStats.of_model(ckpt.model).scale_shift(ckpt.model))
    statics = [IreeModule(compile_checkpoint(ckpt, "host", static_skip=str(cfg))) for cfg in nested]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(ckpt.model, (c, h, w), g, onnx_path)
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        ort_static = []
        for n, cfg in enumerate(nested):
            export_onnx_static(ckpt.model, (c, h, w), cfg.bits, Path(tmp) / f"static-{n}.onnx")
            ort_static.append(ort.InferenceSession(str(Path(tmp) / f"static-{n}.onnx"), so,
                                                   providers=["CPUExecutionProvider"]))  # fmt: skip

    x = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
    x_nhwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    x_nchw = x.numpy()
    skips = [np.array(cfg.bits, dtype=np.int32) for cfg in nested]
    lists = [list(cfg.bits) for cfg in nested]
    model = ckpt.model.eval()

    def run(engine: str, n: int) -> None:
        if engine == "iree-gated":
            gated(x_nhwc, skips[n])
        elif engine == "iree-fast":
            fast(x_nhwc, skips[n])
        elif engine == "iree-bn":
            with_bn(x_nhwc, skips[n], bn)
        elif engine == "iree-static":
            statics[n](x_nhwc)
        elif engine == "onnxruntime":
            sess.run(None, {"image": x_nchw, "skip": skips[n]})
        elif engine == "ort-static":
            ort_static[n].run(None, {"image": x_nchw})
        else:
            model(x, lists[n])

    engines = ["iree-gated", "iree-fast", "iree-static", "onnxruntime", "torch", "iree-bn", "ort-static"]
    jobs = [(e, n) for e in engines for n in range(len(nested))]
    samples = {job: [] for job in jobs}
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        t_end = time.perf_counter() + 1.0
        while time.perf_counter() < t_end:
            for job in jobs:
                run(*job)
        for _ in range(args.rounds):
            for k in rng.permutation(len(jobs)):
                job = jobs[k]
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    run(*job)
                    samples[job].append(time.perf_counter() - t0)
    med = {job: float(np.median(v) * 1e3) for job, v in samples.items()}

    fixed, per_gate = block_macs(model, (h, w))
    macs = [fixed + sum(m for m, b in zip(per_gate, cfg.bits) if b) for cfg in nested]
    print(f"{ckpt.arch} ({g} gates), batch 1, 1 thread, medians of {args.rounds * args.reps} calls (ms)")
    print(
        "| N skipped | MMACs | IREE per gate | IREE fast path | IREE static | per gate ÷ static | fast ÷ static "
        "| onnxruntime | fast ÷ ORT | per gate ÷ ORT | ORT static | fast ÷ ORT static | torch eager | IREE BN input "
        "| BN input ÷ per gate |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in range(len(nested)):
        gm, fm, sm, om, tm, bm, osm = (med[(e, n)] for e in engines)
        print(
            f"| {n} | {macs[n] / 1e6:.1f} | {gm:.3f} | {fm:.3f} | {sm:.3f} | {gm / sm:.3f} | {fm / sm:.3f} | {om:.3f} "
            f"| {fm / om:.2f} | {gm / om:.2f} | {osm:.3f} | {fm / osm:.2f} | {tm:.3f} | {bm:.3f} | {bm / gm:.3f} |"
        )
    speedup = med[("iree-fast", 0)] / med[("iree-fast", g)]
    print(
        f"latency vs MACs at maximum skipping (fast path): IREE speed-up {speedup:.2f}x, MAC ratio {macs[0] / macs[-1]:.2f}x, "
        f"speed-up ÷ MAC ratio {speedup / (macs[0] / macs[-1]):.2f}"
    )
    compile_s = {}
    if not args.no_compile_times:
        for target in ("host", "aarch64", "armv7"):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                compile_checkpoint(ckpt, target, out=Path(tmp) / "m.vmfb", cache=False)
                compile_s[target] = time.perf_counter() - t0
                if target == "host":
                    t0 = time.perf_counter()
                    compile_checkpoint(ckpt, target, out=Path(tmp) / "f.vmfb", cache=False,
                                       fast_paths=[str(cfg) for cfg in nested])  # fmt: skip
                    compile_s["host, nested configurations as fast paths"] = time.perf_counter() - t0
        print("compile time (s): " + ", ".join(f"{t} {s:.1f}" for t, s in compile_s.items()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"arch": ckpt.arch, "configs": [str(c) for c in nested], "macs": macs,
                 "median_ms": {f"{e}:{n}": v for (e, n), v in med.items()}, "compile_s": compile_s},
                indent=2,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
