"""SkipNet's part of the MLIR emitter: each gate decided in the module by its feed-forward gate network
(conv, conv, pool, linear; logit > 0 runs the block), and the executed gates returned beside the logits.
`explorer.deploy.mlir.resnet_to_mlir` uses it for a SkipNet model."""

from __future__ import annotations

import torch.nn as nn

from explorer.deploy.mlir import Emitter, GateReader, fold_bn


def gate_logit_positive(em: Emitter, x: str, shape, weights, pred: str) -> None:
    """SkipNet gate on activation x: sets i1 `pred` = (gate logit > 0), i.e. sigmoid > 0.5."""
    w1, w1s, b1, w2, w2s, b2, fw, fb, maxpool = weights
    if maxpool:
        x, shape = em.maxpool2(x, shape)
    h1, s1 = em.conv_bias_act(x, shape, w1, w1s, b1, 1, relu=True)
    h2, s2 = em.conv_bias_act(h1, s1, w2, w2s, b2, 2, relu=True)
    pooled, (n, c) = em.global_avg(h2, s2)
    e, f, mm, idx, val = em.new("e"), em.new("f"), em.new("mm"), em.new("i"), em.new("lv")
    em.emit(f"{e} = tensor.empty() : tensor<1x1xf32>")
    em.emit(f"{f} = linalg.fill ins(%zero : f32) outs({e} : tensor<1x1xf32>) -> tensor<1x1xf32>")
    em.emit(
        f"{mm} = linalg.matmul ins({pooled}, {fw} : tensor<{n}x{c}xf32>, tensor<{c}x1xf32>) "
        f"outs({f} : tensor<1x1xf32>) -> tensor<1x1xf32>"
    )
    em.emit(f"{idx} = arith.constant 0 : index")
    em.emit(f"{val} = tensor.extract {mm}[{idx}, {idx}] : tensor<1x1xf32>")
    thr = em.new("thr")
    # logit = dot + bias > 0  ⇔  dot > −bias
    em.emit(f"{thr} = arith.constant {-fb!r} : f32")
    em.emit(f"{pred} = arith.cmpf ogt, {val}, {thr} : f32")


class GateNetworkGates(GateReader):
    """SkipNet: each gate decided by its own feed-forward gate network on the block's input; the
    module also returns which gated blocks ran (i32 per gate)."""

    def __init__(self, gate_nets: nn.Module):
        self.gate_nets = gate_nets
        self.weights: dict[int, tuple] = {}
        self.executed: list[str] = []

    def constants(self, em: Emitter) -> None:
        for gi, gn in enumerate(self.gate_nets.eval()):
            w1, b1 = fold_bn(gn.conv1, gn.bn1)
            w2, b2 = fold_bn(gn.conv2, gn.bn2)
            self.weights[gi] = (
                em.const(f"g{gi}_1w", w1.reshape(-1, w1.shape[3])), w1.shape, em.const(f"g{gi}_1b", b1),
                em.const(f"g{gi}_2w", w2.reshape(-1, w2.shape[3])), w2.shape, em.const(f"g{gi}_2b", b2),
                em.const(f"g{gi}_fw", gn.fc.weight.detach().float().numpy().reshape(1, -1).T),
                float(gn.fc.bias.detach().float()[0]), gn.maxpool,
            )  # fmt: skip

    def predicate(self, em: Emitter, gate: int, x: str, shape, into: str) -> str:
        gate_logit_positive(em, x, shape, self.weights[gate], into)
        bit = em.new("gb")
        em.emit(f"{bit} = arith.extui {into} : i1 to i32")
        self.executed.append(bit)
        return into

    def results(self, em: Emitter, g: int) -> list[tuple[str, str]]:
        ex = em.new("executed")
        em.emit(f"{ex} = tensor.from_elements {', '.join(self.executed)} : tensor<{g}xi32>")
        return [(ex, f"tensor<{g}xi32>")]
