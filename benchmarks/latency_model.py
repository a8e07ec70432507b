"""Additive latency model: fit on the calibration set, judge on held-out measured configurations.

    python benchmarks/latency_model.py --checkpoint models/resnet20-sd-fmnist [--evaluator latency-torch]
    python benchmarks/latency_model.py --checkpoint models/resnet56-sd-fmnist --random 100

Measures latency (latency-iree by default; batch 1, 1 thread, interleaved rounds) for the calibration set (all on,
all off, each gate off alone) and the evaluation set (every configuration for B_s ≤ 8, else
`--random` random ones) in one interleaved run, fits base + Σ s_i·t_i on the calibration set only,
and prints R², mean absolute error and mean absolute percentage error on the held-out set.
"""

from __future__ import annotations

import argparse

import numpy as np

from explorer.checkpoint import load_checkpoint
from explorer.evaluators import Subject, create_evaluator
from explorer.evaluators.latency_model import calibration_configs, fit_additive, fit_report
from explorer.skip import SkipConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--random", type=int, default=100, help="held-out random configurations when B_s > 8")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--evaluator", default="latency-iree", help="latency-iree or latency-torch")
    args = ap.parse_args()
    subject = Subject(load_checkpoint(args.checkpoint))
    g = subject.checkpoint.num_gates
    calib = calibration_configs(g, extra=0)
    if g <= 8:
        held = [SkipConfig.from_int(i, g) for i in range(2**g)]
    else:
        rng = np.random.default_rng(args.seed)
        held = list({SkipConfig(tuple(int(b) for b in rng.integers(0, 2, g))) for _ in range(args.random)})
    held = [c for c in held if c not in set(calib)]
    ev = create_evaluator(args.evaluator, subject, rounds=args.rounds)
    measured = [m["latency_ms"] for m in ev.evaluate(calib + held)]
    model = fit_additive(calib, measured[: len(calib)])
    report = fit_report(model, held, measured[len(calib) :])
    print(f"{subject.checkpoint.arch} ({g} gates), {ev.context}")
    print(f"fit on {len(calib)} calibration configurations: base {model.base_ms:.3f} ms, "
          f"per-gate {', '.join(f'{t:.3f}' for t in model.block_ms)} ms")  # fmt: skip
    print(
        f"held-out {len(held)} configurations: R² {report['r2']:.4f}, MAE {report['mae_ms']:.4f} ms, "
        f"MAPE {report['mape_pct']:.2f}%, measured range {min(measured):.3f}–{max(measured):.3f} ms"
    )


if __name__ == "__main__":
    main()
