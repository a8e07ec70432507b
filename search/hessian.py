"""`hessian`: second-order Taylor estimate of the loss increase when gate α_i goes 1 → 0:
ΔL_i ≈ −g_i + ½·H_ii, with the gradient g and the exact Hessian diagonal H_ii of the mean loss
with respect to the gates (double backprop, one extra backward pass per gate). Smallest increase
skipped first."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.search._base import RankingStrategy, gated_forward, register_strategy


@register_strategy
class HessianStrategy(RankingStrategy):
    name = "hessian"
    needs_probe = True
    description = "rank by a second-order Taylor estimate of the loss increase when a block is removed"
    all_rank = 4

    def importance(self) -> list[float]:
        model = self.probe.model
        g_count = self.space.num_gates
        delta = torch.zeros(g_count, dtype=torch.float64)
        n_batches = max(len(self.probe.batches), 1)
        with torch.enable_grad():
            for x, y in self.probe.batches:
                alpha = torch.ones(g_count, requires_grad=True)
                loss = F.cross_entropy(gated_forward(model, x, alpha), y)
                (grad,) = torch.autograd.grad(loss, alpha, create_graph=True)
                for i in range(g_count):
                    (row,) = torch.autograd.grad(grad[i], alpha, retain_graph=True)
                    delta[i] += (-grad[i] + 0.5 * row[i]).item() / n_batches
        return delta.tolist()
