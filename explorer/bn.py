"""Per-configuration BatchNorm statistics: re-estimate running mean and variance for a skip vector.

When blocks are skipped, every BatchNorm after the first skipped block sees activations whose
statistics differ from those it learned at full depth. Re-estimating them for a configuration needs
no training: run N training images through the model in that configuration with every BatchNorm
normalising by its batch statistics, and average the batch statistics (the cumulative average of
`torch.nn.BatchNorm2d(momentum=None)`: equal weight per batch, unbiased batch variance). Weights
are not changed.

Work is shared across configurations with a common gate prefix, as in the accuracy evaluator: the
statistics of a layer depend only on the gates before it, so per batch the configurations are
walked as a prefix tree and each layer's statistics are computed once per distinct prefix.

The calibration images always come from the training split (seeded): never validation or test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.data import DataSplits, iterate_batches
from explorer.models.walk import walk_configs
from explorer.skip import SkipConfig


def bn_layers(model: nn.Module) -> list[tuple[str, nn.BatchNorm2d]]:
    """Every BatchNorm of the model, in a fixed order (the order of `named_modules`)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def bn_channels(model: nn.Module) -> int:
    return sum(m.num_features for _, m in bn_layers(model))


@dataclass
class BNStats:
    """Running mean and variance of every BatchNorm of a model, concatenated in `bn_layers` order."""

    mean: np.ndarray  # float32, one entry per channel of every layer
    var: np.ndarray

    def to_bytes(self) -> bytes:
        return np.concatenate([self.mean, self.var]).astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, channels: int) -> BNStats:
        arr = np.frombuffer(data, dtype="<f4")
        if arr.size != 2 * channels:
            raise ValueError(f"BatchNorm statistics hold {arr.size} values, expected {2 * channels}")
        return cls(arr[:channels].copy(), arr[channels:].copy())

    @classmethod
    def of_model(cls, model: nn.Module) -> BNStats:
        layers = bn_layers(model)
        return cls(
            torch.cat([m.running_mean.detach().float() for _, m in layers]).numpy(),
            torch.cat([m.running_var.detach().float() for _, m in layers]).numpy(),
        )

    def apply(self, model: nn.Module) -> nn.Module:
        """Copy these statistics into the model's BatchNorm buffers (in place); returns the model."""
        offset = 0
        for _, m in bn_layers(model):
            c = m.num_features
            m.running_mean.copy_(torch.from_numpy(self.mean[offset : offset + c]))
            m.running_var.copy_(torch.from_numpy(self.var[offset : offset + c]))
            offset += c
        return model

    def scale_shift(self, model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel y = x·scale + shift of every BatchNorm with these statistics (float32)."""
        scales, shifts = [], []
        offset = 0
        for _, m in bn_layers(model):
            c = m.num_features
            mean = torch.from_numpy(self.mean[offset : offset + c]).double()
            var = torch.from_numpy(self.var[offset : offset + c]).double()
            scale = m.weight.detach().double() / torch.sqrt(var + m.eps)
            scales.append(scale)
            shifts.append(m.bias.detach().double() - mean * scale)
            offset += c
        return torch.cat(scales).float().numpy(), torch.cat(shifts).float().numpy()


def calibration_images(data: DataSplits, n: int, seed: int = 0) -> torch.Tensor:
    """`n` seeded images from the training split (uint8 N×H×W×C)."""
    if n < 2:
        raise ValueError(f"BatchNorm re-estimation needs at least 2 images, got {n}")
    n = min(n, len(data.train_y))
    pick = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(seed))[:n]
    return data.train_x[pick]


class _Recorder:
    """Replaces BatchNorm forward: normalise by batch statistics and record them under the current key."""

    def __init__(self, model: nn.Module):
        self.index = {id(m): i for i, (_, m) in enumerate(bn_layers(model))}
        self.key: tuple[int, ...] = ()
        self.sums: dict[tuple[tuple[int, ...], int], list] = {}

    def set_key(self, key: tuple[int, ...]) -> None:
        self.key = key

    def forward(self, module: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        dims = (0, 2, 3)
        mean = x.mean(dims, dtype=torch.float64)
        var = x.double().var(dims, unbiased=True)
        slot = self.sums.setdefault((self.key, self.index[id(module)]), [0, 0.0, 0.0])
        slot[0] += 1
        slot[1] = slot[1] + mean
        slot[2] = slot[2] + var
        return F.batch_norm(x, None, None, module.weight, module.bias, True, 0.0, module.eps)


@contextmanager
def _recording(model: nn.Module) -> Iterator[_Recorder]:
    rec = _Recorder(model)
    originals = {}
    for _, m in bn_layers(model):
        originals[m] = m.forward
        m.forward = (lambda mod: lambda x: rec.forward(mod, x))(m)
    try:
        yield rec
    finally:
        for m, f in originals.items():
            m.forward = f


def _layer_keys(model: nn.Module) -> list[int]:
    """For every BatchNorm (in order): the number of gate bits its statistics depend on."""
    depends = {}
    decided = 0
    for block, gate in zip(model.blocks, model.gate_of_block):
        if gate >= 0:
            decided = gate + 1
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                depends[id(m)] = decided
    return [depends.get(id(m), 0) for _, m in bn_layers(model)]


@torch.no_grad()
def reestimate(
    model: nn.Module,
    images: torch.Tensor,
    configs: list[SkipConfig],
    *,
    mean,
    std,
    batch_size: int = 250,
) -> list[BNStats]:
    """BatchNorm statistics of every configuration from the same calibration images, prefix-shared."""
    table = reestimate_table(model, images, configs, mean=mean, std=std, batch_size=batch_size)
    return [table.stats(config) for config in configs]


class StatsTable:
    """Re-estimated statistics per (gate prefix, BatchNorm layer): what configurations share."""

    def __init__(self, model: nn.Module, sums: dict):
        self.model = model
        self.layers = bn_layers(model)
        self.depends = _layer_keys(model)
        self.sums = sums

    def layer_stats(self, key: tuple[int, ...], i: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        slot = self.sums.get((key, i))
        return None if slot is None else (slot[1] / slot[0], slot[2] / slot[0])

    def stats(self, config: SkipConfig) -> BNStats:
        means, variances = [], []
        for i, (_, m) in enumerate(self.layers):
            got = self.layer_stats(tuple(config.bits[: self.depends[i]]), i)
            if got is None:  # the layer's block is skipped in this configuration: keep its statistics
                got = (m.running_mean.double(), m.running_var.double())
            means.append(got[0])
            variances.append(got[1])
        return BNStats(torch.cat(means).float().cpu().numpy(), torch.cat(variances).float().cpu().numpy())

    def applier(self, model: nn.Module):
        """An `enter(prefix)` for `walk_configs` that loads each prefix's statistics into `model`."""
        layers = bn_layers(model)

        def enter(key: tuple[int, ...]) -> None:
            for i, (_, m) in enumerate(layers):
                if self.depends[i] == len(key):
                    got = self.layer_stats(key, i)
                    if got is not None:
                        m.running_mean.copy_(got[0].float())
                        m.running_var.copy_(got[1].float())

        return enter


@torch.no_grad()
def reestimate_table(
    model: nn.Module, images: torch.Tensor, configs: list[SkipConfig], *, mean, std, batch_size: int = 250
) -> StatsTable:
    """Record batch statistics of every BatchNorm per gate prefix over the calibration images."""
    model = copy.deepcopy(model).eval()
    device = next(model.parameters()).device
    dummy = torch.zeros(len(images), dtype=torch.long)
    with _recording(model) as rec:
        for xb, _ in iterate_batches(images, dummy, batch_size, mean=mean, std=std):
            walk_configs(model, xb.to(device), configs, enter=rec.set_key)
    return StatsTable(model, rec.sums)


def recalibrated(model: nn.Module, stats: BNStats) -> nn.Module:
    """A copy of `model` (eval mode) carrying `stats` in its BatchNorm buffers."""
    return stats.apply(copy.deepcopy(model).eval())


def recalibrate_full_depth(
    model: nn.Module, data: DataSplits, images: int = 2000, seed: int = 0, val_before: float | None = None
) -> tuple[nn.Module, dict]:
    """Re-estimate the full-depth statistics of `model`; returns the new model and a metadata record
    with validation and test accuracy (fractions) before and after. `val_before`: the model's
    validation accuracy where the caller has just measured it (training's last epoch), not measured again."""
    from explorer.models.predict import accuracy

    calib = calibration_images(data, images, seed)
    stats = reestimate(model, calib, [SkipConfig.all_on(model.num_gates)], mean=data.mean, std=data.std)[0]
    new = recalibrated(model, stats)
    kw = {"mean": data.mean, "std": data.std}
    info = {
        "images": int(len(calib)),
        "seed": seed,
        "source": "training split",
        "val_before": val_before if val_before is not None else accuracy(model, data.val_x, data.val_y, **kw),
        "val_after": accuracy(new, data.val_x, data.val_y, **kw),
        "test_before": accuracy(model, data.test_x, data.test_y, **kw),
        "test_after": accuracy(new, data.test_x, data.test_y, **kw),
    }
    return new, info
