"""`l2-norm`: rank gates by how much their residual branch changes its input, ‖F(x)‖₂ / ‖x‖₂, averaged over
the probe's images at full depth (smallest relative change skipped first)."""

from __future__ import annotations

import torch

from explorer.search._base import RankingStrategy, register_strategy


@register_strategy
class L2NormStrategy(RankingStrategy):
    name = "l2-norm"
    needs_probe = True
    description = "rank by relative l2-norm of each residual branch's output"
    all_rank = 2

    @torch.inference_mode()
    def importance(self) -> list[float]:
        model = self.probe.model
        ratios = torch.zeros(self.space.num_gates, dtype=torch.float64)
        count = 0
        for x, _ in self.probe.batches:
            h = model.stem(x)
            for block, gate in zip(model.blocks, model.gate_of_block):
                if gate >= 0:
                    r = block.residual(h).flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1).clamp_min(1e-12)
                    ratios[gate] += r.double().sum()
                h = block(h)
            count += len(x)
        return (ratios / max(count, 1)).tolist()
