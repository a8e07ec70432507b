"""The ARM boards under emulation: logits and top-1 of the aarch64 and armv7 modules against the host
module, and the emulated time ratio full ÷ all-skipped against the MAC ratio.

    scripts/install-board-kit.sh                      # qemu-user, sysroots, aarch64 runtime tools
    scripts/build-board-runtime.sh --target armv7 --iree-src IREE --out armv7-rt   # optional
    python benchmarks/boards.py --checkpoint models/resnet20-sd-fmnist --armv7-runtime armv7-rt

Each target's module is compiled with the listed configurations as fast paths (as `explorer export`
does for a front) and run with IREE's own tools under qemu-user: aarch64 with the
iree-base-runtime wheel's tools (-cpu max), armv7 with the given cross-built runtime (-cpu cortex-a15).
Emulated times are qemu's, not a board's: only their ratio means something.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from explorer.checkpoint import load_checkpoint
from explorer.data import load_dataset, normalize
from explorer.deploy.board import boards_dir, host_tools
from explorer.deploy.iree import IreeModule, compile_checkpoint
from explorer.evaluators.flops import block_macs


def emulator(boards: Path, target: str, armv7_runtime: Path | None) -> tuple[list[str], Path] | None:
    """(launcher, folder of iree-run-module and iree-benchmark-module) for a board target."""
    if target == "aarch64":
        return [
            str(boards / "qemu" / "qemu-aarch64-static"),
            "-cpu",
            "max",
            "-L",
            str(boards / "arm64"),
        ], boards / "iree-aarch64"
    if armv7_runtime is None:
        return None
    return [str(boards / "qemu" / "qemu-arm-static"), "-cpu", "cortex-a15", "-L", str(boards / "armhf")], armv7_runtime


def run_logits(launcher: list[str], tools: Path, vmfb: Path, image: Path, bits: str, out: Path) -> np.ndarray:
    subprocess.run(
        [*launcher, str(tools / "iree-run-module"), f"--module={vmfb}", "--device=local-sync", "--function=forward",
         f"--input=@{image}", f"--input={len(bits)}xi32={','.join(bits)}", f"--output=@{out}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return np.load(out)


def median_ms(launcher: list[str], tools: Path, vmfb: Path, image_type: str, bits: str, reps: int) -> float:
    proc = subprocess.run(
        [*launcher, str(tools / "iree-benchmark-module"), f"--module={vmfb}", "--device=local-sync",
         "--device_allocator=caching", "--function=forward", f"--input={image_type}=0",
         f"--input={len(bits)}xi32={','.join(bits)}", f"--benchmark_repetitions={reps}", "--benchmark_min_time=1x",
         "--benchmark_min_warmup_time=0.1", "--benchmark_format=csv"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    rows = [line.split(",") for line in proc.stdout.splitlines() if line.split(",")[0].endswith('real_time"')]
    return float(np.median([float(r[2]) for r in rows]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/resnet20-sd-fmnist")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--configs", default="111111,101010,000000")
    ap.add_argument("--reps", type=int, default=20, help="single inferences per timed configuration")
    ap.add_argument("--armv7-runtime", type=Path, default=None)
    ap.add_argument("--boards", type=Path, default=boards_dir())
    args = ap.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    configs = args.configs.split(",")
    full, empty = "1" * ckpt.num_gates, "0" * ckpt.num_gates
    data = load_dataset(ckpt.dataset)
    images = normalize(data.test_x[: args.images], data.mean, data.std).permute(0, 2, 3, 1).contiguous().numpy()
    h, w = ckpt.meta["dataset"]["image_size"]
    image_type = f"1x{h}x{w}x{ckpt.meta['in_channels']}xf32"
    fixed, per_gate = block_macs(ckpt.model, (h, w))
    result = {"checkpoint": args.checkpoint, "images": args.images, "configs": configs,
              "mac_ratio": (fixed + sum(per_gate)) / fixed, "targets": {}}  # fmt: skip
    host_vmfb = compile_checkpoint(ckpt, "host", fast_paths=configs)
    host = IreeModule(host_vmfb)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, img in enumerate(images):
            np.save(tmp / f"img{k}.npy", img[None])
        t_full, t_empty = (median_ms([], host_tools(), host_vmfb, image_type, b, args.reps) for b in (full, empty))
        result["targets"]["host"] = {"full_ms": t_full, "empty_ms": t_empty, "ratio": t_full / t_empty}
        for target in ("aarch64", "armv7"):
            emu = emulator(args.boards, target, args.armv7_runtime)
            if emu is None:
                continue
            launcher, tools = emu
            vmfb = compile_checkpoint(ckpt, target, fast_paths=configs)
            worst, agree = 0.0, 0
            for k, img in enumerate(images):
                for bits in configs:
                    board = run_logits(launcher, tools, vmfb, tmp / f"img{k}.npy", bits, tmp / "out.npy")
                    ours = host(img[None], np.array([int(c) for c in bits], dtype=np.int32))
                    worst = max(worst, float(np.abs(board - ours).max()))
                    agree += int(np.argmax(board) == np.argmax(ours))
            t_full, t_empty = (median_ms(launcher, tools, vmfb, image_type, b, args.reps) for b in (full, empty))
            result["targets"][target] = {
                "logits_max_abs_vs_host": worst, "top1_agree": f"{agree}/{len(images) * len(configs)}",
                "emulated_full_ms": t_full, "emulated_empty_ms": t_empty, "ratio": t_full / t_empty,
            }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
