"""Why our full-depth torchvision modules trail onnxruntime: one f32 matmul, IREE against MLAS.

    pip install onnxruntime onnx      # for this benchmark only
    python benchmarks/gemm_vs_onnxruntime.py --rounds 5

Every convolution of our emitter ends in `linalg.matmul` (im2col + matmul, docs/benchmarks.md), so
the matmul kernel IREE generates sets the pace at full depth. Here the same [M, K] × [K, N]
product (batch-1 shapes of ResNet-18's 3×3 convolutions as im2col matmuls) runs, side by side in
interleaved rounds, through:
  ort            onnxruntime's MatMul (MLAS), one thread, the weights an initializer
  iree           our host flags (the emitter's CIFAR setting)
  iree +dt       with `--iree-opt-data-tiling` (packed operands: what torchvision layouts use)
  iree tile MxN  without data tiling, with a hand-set `compilation_info` on the matmul: vector tile
                 M×N (distribution 16·M × 64), IREE's DoubleTilingExpert pipeline
Each cell: median over rounds of the median of `--calls` calls, ms and GFLOP/s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from byom_onnxruntime import timed  # the sibling script's timing loop

from explorer.deploy.iree import IreeModule, compiler_path, get_target

SHAPES = [
    (3136, 576, 64),
    (784, 1152, 128),
    (256, 576, 64),
    (4, 4608, 512),
]  # 224×224 layer1, layer2; 64×64 layer1, layer4
TILES = [(4, 16), (2, 32)]


def matmul_mlir(m: int, k: int, n: int, w: np.ndarray, tile: tuple[int, int] | None) -> str:
    attr = ""
    if tile:
        pm, pn = tile
        attr = (
            " {compilation_info = #iree_codegen.compilation_info<lowering_config = #iree_cpu.lowering_config<"
            f"distribution = [{16 * pm}, 64, 0], vector_common_parallel = [{pm}, {pn}, 0], vector_reduction = [0, 0, 1]>, "
            "translation_info = #iree_codegen.translation_info<pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>>}"
        )
    a, b, c = f"tensor<{m}x{k}xf32>", f"tensor<{k}x{n}xf32>", f"tensor<{m}x{n}xf32>"
    return (
        f"module {{\n  func.func @forward(%a: {a}) -> {c} {{\n"
        f"    %zero = arith.constant 0.0 : f32\n"
        f"    %w = arith.constant dense_resource<w> : {b}\n"
        f"    %e = tensor.empty() : {c}\n"
        f"    %acc = linalg.fill ins(%zero : f32) outs(%e : {c}) -> {c}\n"
        f"    %r = linalg.matmul{attr} ins(%a, %w : {a}, {b}) outs(%acc : {c}) -> {c}\n"
        f"    return %r : {c}\n  }}\n}}\n"
        f'{{-#\n  dialect_resources: {{\n    builtin: {{\n      w: "0x04000000{w.astype("<f4").tobytes().hex()}"\n    }}\n  }}\n#-}}\n'
    )


def ort_matmul(m: int, k: int, n: int, w: np.ndarray, tmp: Path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    path = tmp / "mm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    host = list(get_target("host").flags)
    rng = np.random.default_rng(0)
    print(
        "| M×K×N | MFLOP | " + " | ".join(["ort", "iree", "iree +dt"] + [f"iree tile {a}×{b}" for a, b in TILES]) + " |"
    )
    print("|---|---:|" + "---:|" * (3 + len(TILES)))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for m, k, n in SHAPES:
            w = rng.standard_normal((k, n), dtype=np.float32)
            a = rng.standard_normal((m, k), dtype=np.float32)
            sess = ort_matmul(m, k, n, w, tmp)
            variants = {"ort": lambda s=sess, a=a: s.run(None, {"a": a})}
            for name, flags, tile in [("iree", [], None), ("iree +dt", ["--iree-opt-data-tiling"], None)] + [
                (f"iree tile {pm}×{pn}", [], (pm, pn)) for pm, pn in TILES
            ]:
                src, dst = tmp / "m.mlir", tmp / f"{len(variants)}.vmfb"
                src.write_text(matmul_mlir(m, k, n, w, tile))
                proc = subprocess.run(
                    [compiler_path(), str(src), *host, *flags, "-o", str(dst)], capture_output=True, text=True
                )
                if proc.returncode:
                    raise SystemExit(proc.stderr[-2000:])
                module = IreeModule(dst)
                assert np.allclose(module(a), a @ w, rtol=1e-3, atol=1e-2), name
                variants[name] = lambda mod=module, a=a: mod(a)
            runs: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for v, fn in variants.items():
                    fn()
                    runs[v].append(timed(fn, args.calls))
            flop = 2 * m * k * n
            cells = [
                f"{statistics.median(r):.2f} ms ({flop / statistics.median(r) / 1e6:.0f} GF/s)" for r in runs.values()
            ]
            print(f"| {m}×{k}×{n} | {flop / 1e6:.0f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
