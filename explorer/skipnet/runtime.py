"""The SkipNet baseline at run time: its IREE module decides the gates per image, so its latency
belongs to the image. `export_skipnet` measures latency, prediction and executed gates of every
test image on the compiled module (profile.json); `SkipNetRuntime` replays that profile in the
simulator, or runs the module live on the wall clock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from explorer.checkpoint import load_checkpoint, sha256_of
from explorer.deploy.bundle import BundleError
from explorer.deploy.iree import IreeModule, compile_checkpoint
from explorer.runtime.choices import Choice
from explorer.runtime.controller import Executor, Served
from explorer.runtime.energy import PowerProfile
from explorer.runtime.live import WallClock, test_split_images
from explorer.runtime.policies import create_policy
from explorer.runtime.run import execute_run
from explorer.runtime.simulator import SampleExecutor
from explorer.skip import SkipConfig

PROFILE = "profile.json"


def _images(ckpt_meta: dict, data_dir, count: int | None, seed: int = 0):
    ds = ckpt_meta["dataset"]
    return test_split_images(ds["name"], ds["mean"], ds["std"], data_dir, count, seed, recorded=ds, where="SkipNet")


def export_skipnet(checkpoint: str | Path, out: str | Path, *, images: int = 1000, reps: int = 3,
                   data_dir=None, progress=None) -> Path:  # fmt: skip
    """Compile a SkipNet checkpoint for the host and profile it on `images` test images: each
    image's latency (median of `reps` runs, ms, local-sync), prediction and executed gates."""
    ckpt = load_checkpoint(checkpoint)
    if not ckpt.arch.startswith("skipnet"):
        raise BundleError(
            f"{checkpoint} is a {ckpt.arch}, not a SkipNet: train one with explorer train --method skipnet"
        )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    vmfb = compile_checkpoint(ckpt, "host", out=folder / "skipnet.vmfb")
    module = IreeModule(vmfb)
    x, y = _images(ckpt.meta, data_dir, images)
    for i in range(min(20, len(y))):  # warm-up
        module.skipnet(x[i : i + 1])
    lat, pred, executed = [], [], []
    for i in range(len(y)):
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            logits, ex = module.skipnet(x[i : i + 1])
            times.append((time.perf_counter() - t) * 1000)
        lat.append(float(np.median(times)))
        pred.append(int(np.argmax(logits)))
        executed.append([int(v) for v in ex])
        if progress:
            progress(i + 1)
    lat_a, correct = np.array(lat), np.array(pred) == y
    profile = {
        "format": "skip-explorer-skipnet-profile",
        "checkpoint_sha256": ckpt.sha256,
        "arch": ckpt.arch,
        "module": {"name": "skipnet.vmfb", "sha256": sha256_of(vmfb)},
        "device": "local-sync",
        "images": len(y),
        "accuracy": float(correct.mean()),
        "executed_fraction": float(np.mean(executed)),
        "latency_ms": {
            "median": float(np.median(lat_a)),
            "mean": float(lat_a.mean()),
            "p95": float(np.percentile(lat_a, 95)),
            "min": float(lat_a.min()),
            "max": float(lat_a.max()),
            "max_over_min": float(lat_a.max() / lat_a.min()),
        },  # fmt: skip
        "per_image": {
            "latency_ms": lat,
            "correct": correct.astype(int).tolist(),
            "executed": executed,
            "label": y.astype(int).tolist(),
        },  # fmt: skip
    }
    (folder / PROFILE).write_text(json.dumps(profile) + "\n")
    (folder / "dataset.json").write_text(json.dumps(ckpt.meta["dataset"], indent=2) + "\n")
    return folder


class _LiveSkipNet(WallClock, Executor):
    def __init__(self, module: IreeModule, images: np.ndarray, labels: np.ndarray):
        self.module, self.images, self.labels = module, images, labels
        self.start()

    def serve(self, request: int, arrival_ms: float, choice: int) -> Served:
        self.wait_until(arrival_ms)
        k = request % len(self.labels)
        start = self.now_ms()
        logits, _ = self.module.skipnet(self.images[k : k + 1])
        end = self.now_ms()
        pred = int(np.argmax(logits))
        return Served(start, end, pred, int(self.labels[k]), pred == int(self.labels[k]))


class SkipNetRuntime:
    """A profiled SkipNet folder (export_skipnet) as a Table I method."""

    def __init__(self, folder: Path, profile: dict, data_dir=None):
        self.folder, self.profile, self.data_dir = folder, profile, data_dir

    @classmethod
    def load(cls, folder: str | Path, data_dir=None) -> SkipNetRuntime:
        f = Path(folder)
        try:
            profile = json.loads((f / PROFILE).read_text())
            assert profile["format"] == "skip-explorer-skipnet-profile"
        except (OSError, ValueError, KeyError, AssertionError):
            raise BundleError(
                f"{f / PROFILE} is missing or not a SkipNet profile: make it with explorer export-skipnet"
            ) from None
        if sha256_of(f / profile["module"]["name"]) != profile["module"]["sha256"]:
            raise BundleError(
                f"{f / profile['module']['name']} does not match {f / PROFILE}: re-run explorer export-skipnet"
            )
        return cls(f, profile, data_dir)

    def run(self, arrivals: np.ndarray, power: PowerProfile, *, seed: int = 0, live: bool = False) -> dict:
        per = self.profile["per_image"]
        g = len(per["executed"][0])
        choice = Choice(SkipConfig.all_on(g), self.profile["accuracy"], self.profile["latency_ms"]["median"])
        policy = create_policy("static", [choice])
        if live:
            ckpt = load_checkpoint_meta(self.folder, self.profile)
            x, y = _images(ckpt, self.data_dir, None, seed)
            module = IreeModule(self.folder / self.profile["module"]["name"])
            ex = _LiveSkipNet(module, x, y)
            for i in range(20):
                module.skipnet(x[i : i + 1])
            ex.start()
        else:
            ex = SampleExecutor(np.array(per["latency_ms"]), np.array(per["correct"], bool), seed)
        summary = execute_run(arrivals, policy, ex, power, engine="live" if live else "simulated").summary
        summary["policy"] = "skipnet"
        return summary


def load_checkpoint_meta(folder: Path, profile: dict) -> dict:
    """The data-set description for live runs, stored next to the profile at export time."""
    meta = folder / "dataset.json"
    if not meta.is_file():
        raise BundleError(f"{meta} is missing: re-run explorer export-skipnet")
    return {"dataset": json.loads(meta.read_text())}
