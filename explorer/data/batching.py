"""Batches in plain torch: normalisation, crop-and-flip augmentation, a fast in-memory iterator."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from explorer.errors import DataError


def default_crop_padding(image_size: tuple[int, int]) -> int:
    """Zero padding of the random-crop augmentation for images of `image_size` (H, W): 1/8 of
    the smaller side, rounded down (32 → 4, the CIFAR recipe; 28 → 3; 8 → 1; under 8 → 0)."""
    h, w = image_size
    if h < 1 or w < 1:
        raise DataError(f"image size {h}×{w} must be positive")
    return min(h, w) // 8


def normalize(xb: torch.Tensor, mean, std, channels_last: bool = False) -> torch.Tensor:
    """uint8 B×H×W×C → float32 B×C×H×W, normalised with per-channel mean/std (fractions)."""
    out = xb.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    out = out.sub_(m).div_(s)
    if channels_last:
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()


def random_crop_flip(xb: torch.Tensor, pad: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the zero-padded image (pad pixels each side) and random horizontal flip.

    Works on a whole uint8 B×H×W×C batch at once with one gather, no per-image Python loop.
    """
    b, h, w, _ = xb.shape
    if pad > 0:
        padded = F.pad(xb, (0, 0, pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    else:
        padded = xb
        oy = ox = torch.zeros(b, dtype=torch.long)
    rows = oy[:, None] + torch.arange(h)
    cols = ox[:, None] + torch.arange(w)
    if flip:
        mirrored = torch.rand(b, generator=generator) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    return padded[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    mean,
    std,
    order: torch.Tensor | None = None,
    augment: bool = False,
    pad: int = 4,
    flip: bool = True,
    generator: torch.Generator | None = None,
    channels_last: bool = False,
    drop_last: bool = False,
    start: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised (images, labels) batches; `order` is a permutation for shuffling.

    `start` skips the first `start` batches (used when resuming mid-epoch).
    """
    n = len(y)
    idx_all = order if order is not None else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n > batch_size else n
    for i in range(start * batch_size, stop, batch_size):
        idx = idx_all[i : i + batch_size]
        xb = x[idx]
        if augment:
            xb = random_crop_flip(xb, pad, flip, generator)
        yield normalize(xb, mean, std, channels_last), y[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    if drop_last and n > batch_size:
        return n // batch_size
    return -(-n // batch_size)
