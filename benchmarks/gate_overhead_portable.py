"""Gate overhead and IREE vs onnxruntime, prepared on one machine and timed on another.

    # where iree-compile and the checkpoints are (writes modules, ONNX files, one input image):
    python benchmarks/gate_overhead_portable.py prepare --checkpoint models/resnet20-sd-fmnist \
        --checkpoint models/resnet56-sd-fmnist --target x86-64-v4 --out bench-kit
    # on the machine to measure (needs only numpy, iree-base-runtime and onnxruntime):
    python benchmarks/gate_overhead_portable.py run bench-kit [--seconds 120] [--json out.json]

Configurations: the nested ones of the l2-norm ranking (skip the N least important gates), every N
for up to 8 gates, else every `--every`-th N and the last. Modules per checkpoint: the per-gate
module (every skip vector decided gate by gate), the fast-path module (the nested configurations
compiled as branches of their own, what `explorer export` does with a front), and one static module
per N (skipped blocks left out); onnxruntime runs the gated model (If nodes) and, as its best case,
the plain ResNet of each N (no If nodes). Each static module is loaded twice, into two contexts: the ratio of
the two copies (the same code) shows what difference this machine can resolve at all.
All batch 1, one thread (IREE local-sync with the caching allocator, onnxruntime 1 intra-op
thread), every job in every round in a shuffled order; medians and 10th percentiles (ms).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np


def prepare(args: argparse.Namespace) -> None:
    import torch

    from explorer.checkpoint import load_checkpoint
    from explorer.deploy.iree import compile_checkpoint, iree_version
    from explorer.engine import make_probe
    from explorer.evaluators import Subject
    from explorer.search import create_strategy
    from explorer.skip import SkipSpace

    sys.path.insert(0, str(Path(__file__).parent))
    from iree_latency import export_onnx, export_onnx_static

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    kit = {"target": args.target, "iree_version": iree_version(), "models": []}
    for path in args.checkpoint:
        ckpt = load_checkpoint(path)
        subject = Subject(ckpt)
        g = ckpt.num_gates
        c, h, w = subject.image_shape
        order = create_strategy("l2-norm", space=SkipSpace(g), probe=make_probe(subject)).ranking()
        nested = [str(cfg) for cfg in SkipSpace(g).nested(order)]
        counts = list(range(g + 1)) if g <= 8 else sorted(set(range(0, g + 1, args.every)) | {g})
        name = ckpt.arch
        files = {}
        t0 = time.perf_counter()
        for kind, kw in (("per-gate", {}), ("fast", {"fast_paths": nested})):
            files[kind] = f"{name}-{kind}.vmfb"
            compile_checkpoint(ckpt, args.target, out=out / files[kind], **kw)
        for n in counts:
            files[f"static-{n}"] = f"{name}-static-{n}.vmfb"
            compile_checkpoint(ckpt, args.target, static_skip=nested[n], out=out / files[f"static-{n}"])
        print(f"{name}: compiled {len(files)} modules in {time.perf_counter() - t0:.0f} s", flush=True)
        export_onnx(ckpt.model, (c, h, w), g, out / f"{name}.onnx")
        for n in counts:
            export_onnx_static(ckpt.model, (c, h, w), [int(b) for b in nested[n]], out / f"{name}-static-{n}.onnx")
        x = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0)).numpy()
        np.save(out / f"{name}-image.npy", x)
        kit["models"].append({"name": name, "gates": g, "configs": nested, "counts": counts, "modules": files,
                              "onnx": f"{name}.onnx", "image_nchw": f"{name}-image.npy",
                              "checkpoint_sha256": ckpt.sha256})  # fmt: skip
    (out / "kit.json").write_text(json.dumps(kit, indent=2) + "\n")
    print(f"wrote {out}")


def time_model(m: dict, kit_dir: Path, device, load, seconds: float) -> dict:
    """Time every job of one model of the kit; prints its table, returns its rows."""
    import iree.runtime as rt
    import onnxruntime as ort

    x_nchw = np.load(kit_dir / m["image_nchw"])
    x = rt.asdevicearray(device, np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)))
    skips = {n: rt.asdevicearray(device, np.array([int(b) for b in m["configs"][n]], np.int32))
             for n in m["counts"]}  # fmt: skip
    raw = {n: np.array([int(b) for b in m["configs"][n]], np.int32) for n in m["counts"]}
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(kit_dir / m["onnx"]), so, providers=["CPUExecutionProvider"])
    per_gate, fast = load(m["modules"]["per-gate"]), load(m["modules"]["fast"])
    jobs = {}
    for n in m["counts"]:
        a, b = load(m["modules"][f"static-{n}"]), load(m["modules"][f"static-{n}"])
        jobs[("static", n)] = lambda f=a: f(x)
        jobs[("static copy", n)] = lambda f=b: f(x)
        jobs[("per gate", n)] = lambda n=n: per_gate(x, skips[n])
        jobs[("fast path", n)] = lambda n=n: fast(x, skips[n])
        jobs[("onnxruntime", n)] = lambda n=n: sess.run(None, {"image": x_nchw, "skip": raw[n]})
        if (kit_dir / f"{m['name']}-static-{n}.onnx").is_file():  # kits made before the column have none
            st = ort.InferenceSession(str(kit_dir / f"{m['name']}-static-{n}.onnx"), so,
                                      providers=["CPUExecutionProvider"])  # fmt: skip
            jobs[("ORT static", n)] = lambda st=st: st.run(None, {"image": x_nchw})
    keys = list(jobs)
    for k in keys:  # warm-up, and one call's time to size the rounds
        jobs[k]()
    t0 = time.perf_counter()
    for k in keys:
        jobs[k]()
    one_round = time.perf_counter() - t0
    reps = max(1, int(0.002 / (one_round / len(keys))))  # ~2 ms per timed sample
    rounds = max(20, int(seconds / (one_round * reps)))
    samples = {k: [] for k in keys}
    for r in range(rounds):
        random.Random(r).shuffle(keys)
        for k in keys:
            fn = jobs[k]
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            samples[k].append(1e3 * (time.perf_counter() - t) / reps)
    med = {k: float(np.median(v)) for k, v in samples.items()}
    p10 = {k: float(np.percentile(v, 10)) for k, v in samples.items()}
    print(f"\n{m['name']} ({m['gates']} gates): {rounds} rounds x {reps} calls per job, ms (median; 10th pct)")
    engines = ["static", "static copy", "per gate", "fast path", "onnxruntime"]
    has_static_ort = ("ORT static", m["counts"][0]) in med
    engines += ["ORT static"] if has_static_ort else []
    print(
        "| N | static | static copy ÷ static | per gate ÷ static | fast path ÷ static | onnxruntime "
        "| fast ÷ ORT | per gate ÷ ORT |" + (" ORT static | fast ÷ ORT static |" if has_static_ort else "")
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if has_static_ort else ""))
    rows = []
    for n in m["counts"]:
        s, c, pg, fp, o = (med[(e, n)] for e in engines[:5])
        s10 = p10[("static", n)]
        line = (f"| {n} | {s:.3f} | {c / s:.3f} ({p10[('static copy', n)] / s10:.3f}) "
                f"| {pg / s:.3f} ({p10[('per gate', n)] / s10:.3f}) | {fp / s:.3f} ({p10[('fast path', n)] / s10:.3f}) "
                f"| {o:.3f} | {fp / o:.2f} | {pg / o:.2f} |")  # fmt: skip
        if has_static_ort:
            os_ = med[("ORT static", n)]
            line += f" {os_:.3f} | {fp / os_:.2f} |"
        print(line)
        rows.append({"n": n, "config": m["configs"][n], **{f"{e}_median_ms": med[(e, n)] for e in engines},
                     **{f"{e}_p10_ms": p10[(e, n)] for e in engines}})  # fmt: skip
    return {"rounds": rounds, "reps": reps, "rows": rows}


def run(args: argparse.Namespace) -> None:
    import iree.runtime as rt
    import onnxruntime as ort

    kit_dir: Path = args.kit
    kit = json.loads((kit_dir / "kit.json").read_text())
    device = rt.get_driver("local-sync").create_default_device(allocators=["caching"])

    def load(file: str):
        ctx = rt.SystemContext(config=rt.Config(device=device))
        ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, (kit_dir / file).read_bytes()))
        return ctx.modules.module["forward"]

    results = {"kit": {k: v for k, v in kit.items() if k != "models"}, "onnxruntime": ort.__version__,
               "models": {}}  # fmt: skip
    for m in kit["models"]:
        results["models"][m["name"]] = time_model(m, kit_dir, device, load, args.seconds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="compile the modules and export the ONNX models")
    p.add_argument("--checkpoint", action="append", required=True)
    p.add_argument("--target", default="host", help="explorer compile target (x86-64-v4 for another x86 machine)")
    p.add_argument("--every", type=int, default=4, help="with more than 8 gates, time every k-th N (and the last)")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="time everything in a prepared folder")
    r.add_argument("kit", type=Path)
    r.add_argument("--seconds", type=float, default=120, help="timing budget per model (s)")
    r.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    main()
