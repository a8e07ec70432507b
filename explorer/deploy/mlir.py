"""Emit a gated ResNet as MLIR (linalg on tensors) for IREE: NHWC activations, HWCF weights,
BatchNorm folded into the convolutions, and every gate a real `scf.if` on the skip vector.

Why generate MLIR directly instead of going through ONNX: the ONNX route (torch.onnx `If` nodes,
iree-import-onnx) keeps NCHW convolutions, and converting them to channels-last leaves weight
transposes inside the `If` branches, which IREE then executes on every call. Emitting the few
operations of a CIFAR ResNet here gives the layout IREE is fastest with, constant weights outside
any branch, and one function that serves every configuration.

Entry function `@forward(image: f32[N,H,W,C] normalised NHWC, skip: i32[B_s]) -> f32[N,classes]`.
With `static_skip` the gates are resolved at compile time instead (skipped blocks are left out):
the baseline of the gate-overhead benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

ENTRY = "forward"


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Conv (OIHW, no bias) followed by eval-mode BatchNorm → HWCF weight and bias (float32)."""
    w = conv.weight.detach().double()
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = bn.bias.detach().double() - bn.running_mean.double() * scale
    w = w * scale.view(-1, 1, 1, 1)
    return w.permute(2, 3, 1, 0).contiguous().float().numpy(), bias.float().numpy()


def _t(shape: Sequence[int]) -> str:
    return "tensor<" + "x".join(str(int(s)) for s in shape) + "xf32>"


MAP4 = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>"
MAPC = "affine_map<(d0, d1, d2, d3) -> (d3)>"
PAR4 = '["parallel", "parallel", "parallel", "parallel"]'


@dataclass
class Emitter:
    """Builds one function's body; values are SSA names, weights go to the resource blob table."""

    lines: list[str] = field(default_factory=list)
    resources: dict[str, np.ndarray] = field(default_factory=dict)
    counter: int = 0
    indent: int = 2

    def new(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"%{prefix}{self.counter}"

    def emit(self, text: str) -> None:
        self.lines.append("  " * self.indent + text)

    def const(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array, dtype="<f4")
        self.resources[name] = array
        v = self.new("w")
        self.emit(f"{v} = arith.constant dense_resource<{name}> : {_t(array.shape)}")
        return v

    def conv_bias_act(
        self, x: str, shape, w: str, wshape, b: str, stride: int, relu: bool, residual: str | None = None
    ):
        """3×3 (or k×k) convolution with padding k//2, + bias, (+ residual), (then ReLU)."""
        n, h, wd, _ = shape
        kh, kw, _, f = wshape
        ph, pw = kh // 2, kw // 2
        oh, ow = (h + 2 * ph - kh) // stride + 1, (wd + 2 * pw - kw) // stride + 1
        out_shape = (n, oh, ow, f)
        src = x
        if ph or pw:
            src = self.new("pad")
            padded = (n, h + 2 * ph, wd + 2 * pw, shape[3])
            self.emit(f"{src} = tensor.pad {x} low[0, {ph}, {pw}, 0] high[0, {ph}, {pw}, 0] {{")
            self.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
            self.emit("  tensor.yield %zero : f32")
            self.emit(f"}} : {_t(shape)} to {_t(padded)}")
            shape_in = padded
        else:
            shape_in = shape
        empty, fill, conv = self.new("e"), self.new("f"), self.new("conv")
        self.emit(f"{empty} = tensor.empty() : {_t(out_shape)}")
        self.emit(f"{fill} = linalg.fill ins(%zero : f32) outs({empty} : {_t(out_shape)}) -> {_t(out_shape)}")
        self.emit(
            f"{conv} = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, "
            f"strides = dense<{stride}> : tensor<2xi64>}} ins({src}, {w} : {_t(shape_in)}, {_t(wshape)}) "
            f"outs({fill} : {_t(out_shape)}) -> {_t(out_shape)}"
        )
        out = self.new("y")
        ins = [conv, b] + ([residual] if residual else [])
        types = [_t(out_shape), f"tensor<{f}xf32>"] + ([_t(out_shape)] if residual else [])
        maps = [MAP4, MAPC] + ([MAP4] if residual else []) + [MAP4]
        args = ["%a: f32", "%bias: f32"] + (["%r: f32"] if residual else []) + ["%o: f32"]
        self.emit(
            f"{out} = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = {PAR4}}} "
            f"ins({', '.join(ins)} : {', '.join(types)}) outs({empty} : {_t(out_shape)}) {{"
        )
        self.emit(f"^bb0({', '.join(args)}):")
        self.emit("  %s0 = arith.addf %a, %bias : f32")
        last = "%s0"
        if residual:
            self.emit("  %s1 = arith.addf %s0, %r : f32")
            last = "%s1"
        if relu:
            self.emit(f"  %s2 = arith.maximumf {last}, %zero : f32")
            last = "%s2"
        self.emit(f"  linalg.yield {last} : f32")
        self.emit(f"}} -> {_t(out_shape)}")
        return out, out_shape

    def shortcut(self, x: str, shape, stride: int, extra: int):
        """Option-A shortcut: strided subsampling, then zero channels split before/after."""
        n, h, w, c = shape
        if stride != 1:
            oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
            sub = self.new("sub")
            self.emit(
                f"{sub} = tensor.extract_slice {x}[0, 0, 0, 0] [{n}, {oh}, {ow}, {c}] [1, {stride}, {stride}, 1] "
                f": {_t(shape)} to {_t((n, oh, ow, c))}"
            )
            x, shape = sub, (n, oh, ow, c)
        if extra:
            lo, hi = extra // 2, extra - extra // 2
            padded = self.new("sc")
            out_shape = (shape[0], shape[1], shape[2], shape[3] + extra)
            self.emit(f"{padded} = tensor.pad {x} low[0, 0, 0, {lo}] high[0, 0, 0, {hi}] {{")
            self.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
            self.emit("  tensor.yield %zero : f32")
            self.emit(f"}} : {_t(shape)} to {_t(out_shape)}")
            x, shape = padded, out_shape
        return x, shape


def _block(em: Emitter, block, idx: int, x: str, shape, weights: dict) -> tuple[str, tuple]:
    w1, w1s, b1, w2, w2s, b2 = weights[idx]
    stride = block.stride
    h1, s1 = em.conv_bias_act(x, shape, w1, w1s, b1, stride, relu=True)
    sc, _ = em.shortcut(x, shape, stride, block.extra_channels)
    return em.conv_bias_act(h1, s1, w2, w2s, b2, 1, relu=True, residual=sc)


def resnet_to_mlir(
    model: nn.Module, image_hw: tuple[int, int], batch: int = 1, static_skip: Sequence[int] | None = None
) -> str:
    """MLIR text of `model` (a GatedResNet in eval mode) for IREE; see the module docstring."""
    model = model.eval()
    in_c = model.conv1.in_channels
    h, w = image_hw
    g = model.num_gates
    em = Emitter()
    em.emit("%zero = arith.constant 0.0 : f32")
    em.emit("%zero_i = arith.constant 0 : i32")
    sw, sb = fold_bn(model.conv1, model.bn1)
    stem_w, stem_b = em.const("stem_w", sw), em.const("stem_b", sb)
    weights = {}
    for i, block in enumerate(model.blocks):
        a, ab = fold_bn(block.conv1, block.bn1)
        c, cb = fold_bn(block.conv2, block.bn2)
        weights[i] = (
            em.const(f"b{i}_w1", a), a.shape, em.const(f"b{i}_b1", ab),
            em.const(f"b{i}_w2", c), c.shape, em.const(f"b{i}_b2", cb),
        )  # fmt: skip
    fc_w = em.const("fc_w", model.fc.weight.detach().float().numpy().T)
    fc_b = em.const("fc_b", model.fc.bias.detach().float().numpy().reshape(1, -1))
    x, shape = em.conv_bias_act("%image", (batch, h, w, in_c), stem_w, sw.shape, stem_b, 1, relu=True)
    for i, (block, gate) in enumerate(zip(model.blocks, model.gate_of_block)):
        if gate < 0:
            x, shape = _block(em, block, i, x, shape, weights)
        elif static_skip is not None:
            if static_skip[gate]:
                x, shape = _block(em, block, i, x, shape, weights)
        else:
            idx, val, pred, res = em.new("gi"), em.new("gv"), em.new("gp"), em.new("gate")
            em.emit(f"{idx} = arith.constant {gate} : index")
            em.emit(f"{val} = tensor.extract %skip[{idx}] : tensor<{g}xi32>")
            em.emit(f"{pred} = arith.cmpi ne, {val}, %zero_i : i32")
            em.emit(f"{res} = scf.if {pred} -> ({_t(shape)}) {{")
            em.indent += 1
            y, _ = _block(em, block, i, x, shape, weights)
            em.emit(f"scf.yield {y} : {_t(shape)}")
            em.indent -= 1
            em.emit("} else {")
            em.emit(f"  scf.yield {x} : {_t(shape)}")
            em.emit("}")
            x = res
    # global average pool: sum over H, W then scale
    n, hh, ww, c = shape
    empty, fill, summed, pooled = em.new("e"), em.new("f"), em.new("sum"), em.new("pool")
    em.emit(f"{empty} = tensor.empty() : tensor<{n}x{c}xf32>")
    em.emit(f"{fill} = linalg.fill ins(%zero : f32) outs({empty} : tensor<{n}x{c}xf32>) -> tensor<{n}x{c}xf32>")
    em.emit(
        f"{summed} = linalg.generic {{indexing_maps = [{MAP4}, affine_map<(d0, d1, d2, d3) -> (d0, d3)>], "
        f'iterator_types = ["parallel", "reduction", "reduction", "parallel"]}} ins({x} : {_t(shape)}) '
        f"outs({fill} : tensor<{n}x{c}xf32>) {{"
    )
    em.emit("^bb0(%a: f32, %acc: f32):")
    em.emit("  %s = arith.addf %a, %acc : f32")
    em.emit("  linalg.yield %s : f32")
    em.emit(f"}} -> tensor<{n}x{c}xf32>")
    inv = em.new("inv")
    em.emit(f"{inv} = arith.constant {1.0 / (hh * ww)!r} : f32")
    em.emit(
        f"{pooled} = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], "
        f'iterator_types = ["parallel", "parallel"]}} ins({summed} : tensor<{n}x{c}xf32>) outs({empty} : tensor<{n}x{c}xf32>) {{'
    )
    em.emit("^bb0(%a: f32, %o: f32):")
    em.emit(f"  %s = arith.mulf %a, {inv} : f32")
    em.emit("  linalg.yield %s : f32")
    em.emit(f"}} -> tensor<{n}x{c}xf32>")
    k = model.fc.out_features
    e2, f2, mm, logits = em.new("e"), em.new("f"), em.new("mm"), em.new("logits")
    em.emit(f"{e2} = tensor.empty() : tensor<{n}x{k}xf32>")
    em.emit(f"{f2} = linalg.fill ins(%zero : f32) outs({e2} : tensor<{n}x{k}xf32>) -> tensor<{n}x{k}xf32>")
    em.emit(
        f"{mm} = linalg.matmul ins({pooled}, {fc_w} : tensor<{n}x{c}xf32>, tensor<{c}x{k}xf32>) "
        f"outs({f2} : tensor<{n}x{k}xf32>) -> tensor<{n}x{k}xf32>"
    )
    em.emit(
        f"{logits} = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>, "
        f'affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}} '
        f"ins({mm}, {fc_b} : tensor<{n}x{k}xf32>, tensor<1x{k}xf32>) outs({e2} : tensor<{n}x{k}xf32>) {{"
    )
    em.emit("^bb0(%a: f32, %b: f32, %o: f32):")
    em.emit("  %s = arith.addf %a, %b : f32")
    em.emit("  linalg.yield %s : f32")
    em.emit(f"}} -> tensor<{n}x{k}xf32>")
    em.emit(f"return {logits} : tensor<{n}x{k}xf32>")

    sig = f"%image: {_t((batch, h, w, in_c))}"
    if static_skip is None:
        sig += f", %skip: tensor<{g}xi32>"
    head = f"func.func @{ENTRY}({sig}) -> tensor<{batch}x{model.fc.out_features}xf32> {{"
    blobs = ",\n".join(f'      {name}: "0x04000000{arr.tobytes().hex()}"' for name, arr in em.resources.items())
    return (
        "module {\n" + "  " + head + "\n" + "\n".join(em.lines) + "\n  }\n}\n"
        "{-#\n  dialect_resources: {\n    builtin: {\n" + blobs + "\n    }\n  }\n#-}\n"
    )
