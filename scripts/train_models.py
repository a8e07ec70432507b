#!/usr/bin/env python3
"""The recipe study and the reference trainings, as one resumable batch of `explorer.training` runs.

    python scripts/train_models.py --list                       # the runs and their settings
    python scripts/train_models.py --device cuda --out runs/gpu  # all of them, side by side
    python scripts/train_models.py --out runs/cpu r20-paper      # one of them, here

Every run is the same training as `explorer train` with the flags `--list` prints (this script
calls `explorer.training.train` directly, so a machine with PyTorch, rich, typer and safetensors
but none of the search or deployment dependencies can run it: that is how the GPU machine ran
them). Each run is a child process with its own log (`OUT/NAME.log`); `--deadline S` sends every
run still going SIGTERM after S seconds, which saves its training state: the same command with
the same --out resumes each run where it stopped and skips the finished ones.

On one GPU, start CUDA MPS first (`nvidia-cuda-mps-control -d`, as root), which lets the kernels of
several processes run at once (without it the GPU time-slices between them; not compared). On
2026-11-30 all 12 runs side by side on one H200 trained the resnet20 study's runs in 5–9 minutes
each (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

# Recipes of the study, cumulative: each adds one change to the one above it.
RECIPES = {
    "paper": {"schedule": "step", "crop_padding": 4, "sd_scope": "all", "rule": "sd"},
    "onecycle": {"schedule": "onecycle", "crop_padding": 4, "sd_scope": "all", "rule": "sd"},
    "pad2": {"schedule": "onecycle", "crop_padding": 2, "sd_scope": "all", "rule": "sd"},
    "gated": {"schedule": "onecycle", "crop_padding": 2, "sd_scope": "gated", "rule": "sd"},
    "distill": {"schedule": "onecycle", "crop_padding": 2, "sd_scope": "gated", "rule": "distill"},
    "sandwich": {"schedule": "onecycle", "crop_padding": 2, "sd_scope": "gated", "rule": "sandwich"},
}
STANDARD = {"schedule": "onecycle", "crop_padding": 2, "sd_pl": 1.0, "sd_scope": "all", "rule": "sd"}  # no drops

RUNS: dict[str, dict] = {
    # the recipe study: resnet20, 30 epochs each (the reference checkpoint's length), seed 0. On one
    # CPU thread a resnet20 epoch takes about 4 minutes (216 img/s), the sandwich step twice that:
    # the study is meant for a GPU (--device cuda), where all runs go side by side
    **{f"r20-{name}": {"arch": "resnet20", "epochs": 30, **r} for name, r in RECIPES.items()},
    "r56-sandwich": {"arch": "resnet56", "epochs": 15, **RECIPES["sandwich"]},
    "r56-distill": {"arch": "resnet56", "epochs": 15, **RECIPES["distill"]},
    "r56-std": {"arch": "resnet56", "epochs": 15, **STANDARD},
    "r110-sandwich": {"arch": "resnet110", "epochs": 15, **RECIPES["sandwich"]},
    "r110-distill": {"arch": "resnet110", "epochs": 15, **RECIPES["distill"]},
    "r110-std": {"arch": "resnet110", "epochs": 15, **STANDARD},
}


def cli_flags(settings: dict) -> str:
    """The `explorer train` flags of a run."""
    flags = []
    for key, value in settings.items():
        flags.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(flags)


def run_one(name: str, out: Path, data_dir: str | None, device: str, threads: int, epochs: int = 0) -> None:
    import torch

    from explorer.errors import TrainingError
    from explorer.training import TrainConfig, train

    torch.set_num_threads(threads)
    cfg = TrainConfig(**{**RUNS[name], **({"epochs": epochs} if epochs else {})})
    try:
        train(cfg, out / name, data_dir=data_dir, resume=True, device=device)
    except TrainingError as e:
        print(f"stopped: {e}", flush=True)
        sys.exit(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="runs to train (default: all)")
    ap.add_argument("--out", type=Path, default=Path("runs/models"), help="folder of the run folders")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the usual places)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    ap.add_argument("--jobs", type=int, default=0, help="runs at a time (default: all)")
    ap.add_argument("--deadline", type=float, default=0, help="seconds after which runs are stopped and saved")
    ap.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="train every run for this many epochs instead of its own (a shorter screening; give it its own --out)",
    )
    ap.add_argument("--list", action="store_true", help="print each run's explorer train flags and exit")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args.one, args.out, args.data_dir, args.device, args.threads, args.epochs)
        return
    names = args.names or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        ap.error(f"unknown run(s) {', '.join(unknown)}; --list shows them")
    if args.list:
        for n in names:
            settings = {**RUNS[n], **({"epochs": args.epochs} if args.epochs else {})}
            print(f"{n}: explorer train {cli_flags(settings)} --out {args.out / n}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    queue, running, codes = list(names), {}, {}
    jobs = args.jobs or len(names)
    while queue or running:
        while queue and len(running) < jobs:
            n = queue.pop(0)
            cmd = [sys.executable, __file__, "--one", n, "--out", str(args.out), "--device", args.device]
            cmd += ["--threads", str(args.threads), "--epochs", str(args.epochs)]
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
            log = open(args.out / f"{n}.log", "a")
            running[n] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        time.sleep(1)
        if args.deadline and time.monotonic() - start > args.deadline:
            for proc, _ in running.values():
                proc.send_signal(signal.SIGTERM)
            queue.clear()
            args.deadline = 0
        for n in [n for n, (p, _) in running.items() if p.poll() is not None]:
            proc, log = running.pop(n)
            log.close()
            codes[n] = proc.returncode
            print(f"{n}: {'done' if proc.returncode == 0 else f'stopped (exit {proc.returncode})'} "
                  f"after {time.monotonic() - start:.0f} s", flush=True)  # fmt: skip
    (args.out / "status.json").write_text(json.dumps(codes, indent=1))


if __name__ == "__main__":
    main()
