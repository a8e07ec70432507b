"""torchvision-layout ResNets: our IREE module against onnxruntime on the same model, side by side.

    pip install onnxruntime onnx      # for this benchmark only
    python benchmarks/byom_onnxruntime.py --arch tv-resnet18 tv-resnet50 --size 64 224 --rounds 5

Per architecture and input size (batch 1, one thread each, random weights, 1000 classes), every
variant is timed in the same interleaved rounds (each round: every variant `--calls` times, the
median call kept; the table shows the median over rounds):
  ort static        onnxruntime on torch.onnx's export of the full-depth network (no gates)
  static            our module with the gates resolved at compile time (all blocks run)
  fast path         our gated module, the configuration compiled as a fast path
  gated k           our gated module through the per-gate `scf.if` path, first k gates skipped
each with and without IREE's data tiling (`--iree-opt-data-tiling`, "+dt"). With `--onnx-route`
also the fallback for networks the emitter does not know (explorer/deploy/onnx_route.py: torch.export
→ ONNX → iree-import-onnx → iree-compile with `--iree-global-opt-use-im2col-for-convs`):
  onnx route fast path k / onnx route gated k   the same configurations through that route
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from explorer.deploy.iree import IreeModule, compiler_path, get_target
from explorer.deploy.mlir import resnet_to_mlir
from explorer.models import create_model

DATA_TILING = "--iree-opt-data-tiling"


def compile_text(text: str, flags: list[str], tmp: Path, name: str) -> IreeModule:
    src, dst = tmp / f"{name}.mlir", tmp / f"{name}.vmfb"
    src.write_text(text)
    proc = subprocess.run([compiler_path(), str(src), *flags, "-o", str(dst)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return IreeModule(dst)


def ort_session(model, size: int, tmp: Path):
    import onnxruntime as ort

    path = tmp / "model.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(path), input_names=["x"], dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def timed(fn, calls: int) -> float:
    """Median wall time of one call, ms."""
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return statistics.median(out)


def bench(arch: str, size: int, rounds: int, calls: int, skips: list[int], onnx_route: bool = False) -> None:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=1000).eval()
    g = model.num_gates
    host = list(get_target("host").flags)
    x = torch.randn(1, 3, size, size)
    nhwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    variants, worst = {}, 0.0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sess = ort_session(model, size, tmp)
        variants["ort static"] = lambda: sess.run(None, {"x": x.numpy()})
        ref = model(x).detach().numpy()
        worst = max(worst, float(np.abs(sess.run(None, {"x": x.numpy()})[0] - ref).max()))
        fast = [[0] * k + [1] * (g - k) for k in skips]
        for dt in (False, True):
            flags, tag = host + ([DATA_TILING] if dt else []), " +dt" if dt else ""
            t0 = time.perf_counter()
            static = compile_text(resnet_to_mlir(model, (size, size), static_skip=[1] * g), flags, tmp, f"s{dt}")
            gated = compile_text(resnet_to_mlir(model, (size, size), fast_paths=fast), flags, tmp, f"g{dt}")
            plain = compile_text(resnet_to_mlir(model, (size, size)), flags, tmp, f"p{dt}")
            print(f"{arch} {size}×{size}{tag}: compiled 3 modules in {time.perf_counter() - t0:.0f} s", flush=True)
            variants[f"static{tag}"] = lambda m=static: m(nhwc)
            for k, bits in zip(skips, fast):
                arr = np.array(bits, dtype=np.int32)
                variants[f"fast path {k}{tag}"] = lambda m=gated, a=arr: m(nhwc, a)
                variants[f"gated {k}{tag}"] = lambda m=plain, a=arr: m(nhwc, a)
                with torch.no_grad():
                    want = model(x, bits).numpy()
                for m in (gated, plain):
                    worst = max(worst, float(np.abs(m(nhwc, arr) - want).max()))
            worst = max(worst, float(np.abs(static(nhwc) - ref).max()))
        if onnx_route:
            from explorer.deploy.onnx_route import compile_onnx_route

            t0 = time.perf_counter()
            routed = IreeModule(compile_onnx_route(model, (size, size), tmp / "route.vmfb", fast_paths=fast))
            print(f"{arch} {size}×{size} onnx route: compiled in {time.perf_counter() - t0:.0f} s", flush=True)
            for k, bits in zip(skips, fast):
                arr = np.array(bits, dtype=np.int32)
                variants[f"onnx route fast path {k}"] = lambda a=arr: routed(nhwc, a)
                with torch.no_grad():
                    worst = max(worst, float(np.abs(routed(nhwc, arr) - model(x, bits).numpy()).max()))
            routed_gated = IreeModule(compile_onnx_route(model, (size, size), tmp / "route-g.vmfb"))
            for k, bits in zip(skips, fast):
                arr = np.array(bits, dtype=np.int32)
                variants[f"onnx route gated {k}"] = lambda a=arr: routed_gated(nhwc, a)
        runs: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(rounds):
            for k, fn in variants.items():
                fn()  # warm
                runs[k].append(timed(fn, calls))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ort_ms = med["ort static"]
    print(f"\n{arch}, {size}×{size}, {g} gates; max |IREE or ort − PyTorch| = {worst:.2e}; "
          f"median of {rounds} rounds × {calls} calls")  # fmt: skip
    print("| variant | ms | ÷ ort static | ÷ static (same flags) |")
    print("|---|---:|---:|---:|")
    for k, v in med.items():
        tag = " +dt" if k.endswith("+dt") else ""
        base = med.get(f"static{tag}")
        print(f"| {k} | {v:.3f} | {v / ort_ms:.2f} | {'—' if k.startswith('ort') else f'{v / base:.2f}'} |")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["tv-resnet18", "tv-resnet50"])
    ap.add_argument("--size", nargs="+", type=int, default=[64, 224])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--skips", nargs="+", type=int, default=[0, 2, 4], help="skipped gates per configuration")
    ap.add_argument(
        "--onnx-route", action="store_true", help="also time the ONNX route (explorer/deploy/onnx_route.py)"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    for arch in args.arch:
        for size in args.size:
            bench(arch, size, args.rounds, args.calls, args.skips, args.onnx_route)


if __name__ == "__main__":
    main()
