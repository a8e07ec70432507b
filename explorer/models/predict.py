"""Plain predictions and accuracy of one model and one skip configuration: the reference that the
faster evaluators (`explorer.evaluators`, which measure configurations for a search) must match."""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.data import iterate_batches


@torch.inference_mode()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    *,
    mean,
    std,
    skip=None,
    batch_size: int = 500,
    channels_last: bool = True,
) -> torch.Tensor:
    """Top-1 class of every uint8 N×H×W×C image in x, with the given skip vector."""
    was_training = model.training
    model.eval()
    dummy = torch.zeros(len(x), dtype=torch.long)
    device = next(model.parameters()).device
    preds = [
        model(xb.to(device), skip).argmax(1).cpu()
        for xb, _ in iterate_batches(x, dummy, batch_size, mean=mean, std=std, channels_last=channels_last)
    ]
    model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **kwargs) -> float:
    """Top-1 accuracy as a fraction 0..1 (kwargs as for `predict`)."""
    if len(y) == 0:
        return float("nan")
    return float((predict(model, x, **kwargs) == y).double().mean())
