"""Slowest ÷ fastest inference over test images: SkipNet (gates decided per image) against our
module with one fixed configuration, measured the same way (median of `reps` runs per image,
local-sync, the same images), side by side.

    python benchmarks/predictability.py --bundle r20-bn-bundle --skipnet skipnet-bundle --images 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from explorer.deploy.bundle import read_bundle
from explorer.deploy.iree import IreeModule
from explorer.runtime.live import load_test_images


def per_image(fn, x, reps: int) -> np.ndarray:
    out = []
    for i in range(len(x)):
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn(x[i : i + 1])
            ts.append((time.perf_counter() - t) * 1000)
        out.append(float(np.median(ts)))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--skipnet", required=True)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    bundle = read_bundle(args.bundle)
    x, _ = load_test_images(bundle, count=args.images)
    ours = IreeModule(bundle.vmfb)
    skipnet = IreeModule(f"{args.skipnet}/skipnet.vmfb")
    fns = {"skipnet": skipnet.skipnet}
    for row in (bundle.rows[0], bundle.rows[len(bundle.rows) // 2], bundle.rows[-1]):
        skip = np.array(row.config.bits, dtype=np.int32)
        fns[f"ours {row.config}"] = lambda img, s=skip, bn=row.bn: ours(img, s, bn)
    for fn in fns.values():  # warm-up
        for i in range(20):
            fn(x[i : i + 1])
    # alternate in chunks of 100 images so that machine drift affects every module alike
    lat = {name: [] for name in fns}
    for start in range(0, len(x), 100):
        for name, fn in fns.items():
            lat[name].append(per_image(fn, x[start : start + 100], args.reps))
    print(f"{'module':16s} {'median ms':>10s} {'p95 ms':>8s} {'min ms':>8s} {'max ms':>8s} {'max÷min':>8s}")
    for name, parts in lat.items():
        a = np.concatenate(parts)
        print(
            f"{name:16s} {np.median(a):10.3f} {np.percentile(a, 95):8.3f} {a.min():8.3f} {a.max():8.3f} {a.max() / a.min():8.2f}"
        )


if __name__ == "__main__":
    main()
