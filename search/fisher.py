"""`fisher`: a scalar gate α_i = 1 on each residual branch; importance = mean over samples of
(∂loss/∂α_i)², the diagonal Fisher information of the gate (smallest skipped first).

Per-sample gradients come from one backward pass: each sample gets its own α (BatchNorm in eval
mode keeps samples independent), so ∂(Σ_n loss_n)/∂α_{i,n} = ∂loss_n/∂α_i."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.search._base import RankingStrategy, gated_forward, register_strategy


@register_strategy
class FisherStrategy(RankingStrategy):
    name = "fisher"
    needs_probe = True
    description = "rank by the Fisher information of a scalar gate on each block"
    all_rank = 3

    def importance(self) -> list[float]:
        model = self.probe.model
        total = torch.zeros(self.space.num_gates, dtype=torch.float64)
        count = 0
        with torch.enable_grad():
            for x, y in self.probe.batches:
                alpha = torch.ones(self.space.num_gates, len(x), requires_grad=True)
                loss = F.cross_entropy(gated_forward(model, x, alpha), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, alpha)
                total += grad.double().pow(2).sum(1)
                count += len(x)
        return (total / max(count, 1)).tolist()
