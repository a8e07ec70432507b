"""Emit a gated network as MLIR (linalg on tensors) for IREE: NHWC activations, convolutions as
im2col + matmul with HWCF weights (1×1 ones as plain matmuls, depthwise ones as the named linalg
op), BatchNorm folded into them, and every gate a real `scf.if` on the skip vector. Networks:
the CIFAR ResNets (and their SkipNets), torchvision's ResNet-18/34/50 and MobileNetV2.

Why generate MLIR directly instead of going through ONNX: the ONNX route (torch.onnx `If` nodes,
iree-import-onnx) keeps NCHW convolutions, and converting them to channels-last leaves weight
transposes inside the `If` branches, which IREE then executes on every call. Emitting the few
operations of a CIFAR ResNet here gives the layout IREE is fastest with, constant weights outside
any branch, and one function that serves every configuration.

Entry function `@forward(image: f32[N,H,W,C] normalised NHWC, skip: i32[B_s]) -> f32[N,classes]`.
The skip vector is taken as a raw `!hal.buffer_view` (callers pass an i32[B_s] array as for any
tensor; its shape and type are asserted) so that the host reads the gate bits from it directly.
With `static_skip` the gates are resolved at compile time instead (skipped blocks are left out):
the baseline of the gate-overhead benchmark.

How a module reads its gate bits is a `GateReader` (host-read buffer, static; SkipNet's gate
networks in explorer/skipnet/emitter.py; benchmarks/_emitter_variants.py adds older ones); `_dispatch_fast_paths` puts the
fast-path branches in front of the per-gate network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from explorer.errors import ConfigError
from explorer.models.resnet import BasicBlock, GatedResNet
from explorer.models.tvlayout import InvertedResidual, TVBottleneck, TVMobileNetV2, TVResNet

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
        return f"%{prefix}_{self.counter}"  # the "_" keeps %y2_97 and %y_297 apart

    def emit(self, text: str) -> None:
        self.lines.append("  " * self.indent + text)

    def const(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array, dtype="<f4")
        self.resources[name] = array
        v = self.new("w")
        self.emit(f"{v} = arith.constant dense_resource<{name}> : {_t(array.shape)}")
        return v

    def im2col(self, x: str, shape, out_shape, stride: int, pad: tuple[int, int], kdims: int) -> str:
        """Patches of `x` [1, H, W, C] with the zero padding folded in, as one generic that reads
        `x` with tensor.extract: out[y, x, (i,) j, c] = x[0, y·s + i - ph, x·s + j - pw, c], or 0
        outside the image. `kdims` = 1: out is [Hp, OW, kw, C] with i = 0 and rows y over the padded
        height (the kw-only im2col); `kdims` = 2: out is [OH, OW, kh, kw, C].

        Why not an affine-map copy (`(d0, d1 + d2, d3)`): MLIR's vectoriser only takes projected
        permutations, so that copy was left as scalar loads and stores (resnet20's largest im2col
        took longer than the matmuls it feeds), and tensor.pad cost a dispatch of its own. A
        tensor.extract whose last index is the innermost loop becomes a contiguous vector load.
        """
        _, h, w, c = shape
        ph, pw = pad
        rank = 4 if kdims == 1 else 5
        dims = ", ".join(f"d{i}" for i in range(rank))
        par = ", ".join(['"parallel"'] * rank)
        out_t = _t(out_shape)
        e, out = self.new("ec"), self.new("col")
        self.emit(f"{e} = tensor.empty() : {out_t}")
        self.emit(
            f"{out} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>], iterator_types = "
            f"[{par}]}} outs({e} : {out_t}) {{"
        )
        self.emit("^bb0(%o: f32):")
        idx = [f"%q{i}" for i in range(rank)]
        for i in range(rank):
            self.emit(f"  {idx[i]} = linalg.index {i} : index")
        if kdims == 1:
            ys, xs, ks, cs = idx[0], idx[1], (None, idx[2]), idx[3]
        else:
            ys, xs, ks, cs = idx[0], idx[1], (idx[2], idx[3]), idx[4]
        self.emit(f"  %qh = arith.constant {h} : index")
        self.emit(f"  %qw = arith.constant {w} : index")
        self.emit(f"  %qph = arith.constant {ph} : index")
        self.emit(f"  %qpw = arith.constant {pw} : index")
        self.emit("  %qz = arith.constant 0 : index")
        # row: y·s + i - ph (kw-only form: y - ph, y already runs over the padded rows)
        if kdims == 1:
            self.emit(f"  %qy = arith.subi {ys}, %qph : index")
            self.emit(f"  %qx0 = arith.addi {xs}, {ks[1]} : index")
        else:
            self.emit(f"  %qs = arith.constant {stride} : index")
            self.emit(f"  %qy0 = arith.muli {ys}, %qs : index")
            self.emit(f"  %qy1 = arith.addi %qy0, {ks[0]} : index")
            self.emit("  %qy = arith.subi %qy1, %qph : index")
            self.emit(f"  %qx1 = arith.muli {xs}, %qs : index")
            self.emit(f"  %qx0 = arith.addi %qx1, {ks[1]} : index")
        self.emit("  %qx = arith.subi %qx0, %qpw : index")
        # unsigned compares: a negative index wraps to a huge one and fails too
        self.emit("  %qiy = arith.cmpi ult, %qy, %qh : index")
        self.emit("  %qix = arith.cmpi ult, %qx, %qw : index")
        self.emit("  %qin = arith.andi %qiy, %qix : i1")
        self.emit("  %qcy = arith.select %qiy, %qy, %qz : index")
        self.emit("  %qcx = arith.select %qix, %qx, %qz : index")
        self.emit(f"  %qv = tensor.extract {x}[%qz, %qcy, %qcx, {cs}] : {_t(shape)}")
        self.emit("  %qr = arith.select %qin, %qv, %zero : f32")
        self.emit("  linalg.yield %qr : f32")
        self.emit(f"}} -> {out_t}")
        return out

    def conv_bias_act(
        self,
        x: str,
        shape,
        w: str,
        wshape,
        b: str,
        stride: int,
        relu: bool,
        residual: str | None = None,
        scale: str | None = None,
        relu6: bool = False,
    ):
        """k×k convolution with padding k//2 as im2col + matmul, then (× per-channel scale) + bias
        (+ residual) (then ReLU, or ReLU6 with `relu6`). `w` is the weight constant reshaped to [kh·kw·C, F].

        Why matmuls: IREE's CPU code for these small direct convolutions runs 4-wide SSE and falls
        back to scalar loops where a width (14, 7) is not a multiple of the tile, while the same
        work as linalg.matmul vectorises fully (measured ~3x faster per convolution here). For
        stride-1 convolutions with C ≥ 8 the im2col is taken over kw only (3x the input instead of
        9x) and the kh rows become three matmuls on row-shifted contiguous slices. The patches are
        gathered with the zero padding folded in (`im2col`): no tensor.pad, no scalar copies.
        """
        n, h, wd, c = shape
        kh, kw, _, f = wshape
        assert n == 1, "the im2col form is written for batch 1"
        ph, pw = kh // 2, kw // 2
        oh, ow = (h + 2 * ph - kh) // stride + 1, (wd + 2 * pw - kw) // stride + 1
        out_shape = (n, oh, ow, f)
        hp = h + 2 * ph
        patches = self.im2col
        m, k = oh * ow, kh * kw * c
        empty = self.new("e")
        self.emit(f"{empty} = tensor.empty() : {_t((m, f))}")
        acc = self.new("f")
        self.emit(f"{acc} = linalg.fill ins(%zero : f32) outs({empty} : {_t((m, f))}) -> {_t((m, f))}")
        if kh == kw == 1 and stride == 1:
            # a 1×1 convolution is a plain matmul on the image as [H·W, C]: no patches at all
            xf, mm = self.new("xf"), self.new("mm")
            self.emit(f"{xf} = tensor.collapse_shape {x} [[0, 1, 2], [3]] : {_t(shape)} into {_t((m, c))}")
            self.emit(
                f"{mm} = linalg.matmul ins({xf}, {w} : {_t((m, c))}, {_t((c, f))}) "
                f"outs({acc} : {_t((m, f))}) -> {_t((m, f))}"
            )
            acc = mm
        elif stride == 1 and c >= 8:
            # T[y, x, j, c] = P[y, x + j, c]; conv = Σ_r T[r·OW : r·OW + OH·OW] @ W[r]
            tt, kk = _t((hp, ow, kw, c)), kw * c
            tf = self.new("tf")
            tcol = patches(x, shape, (hp, ow, kw, c), 1, (ph, pw), kdims=1)
            self.emit(f"{tf} = tensor.collapse_shape {tcol} [[0, 1], [2, 3]] : {tt} into {_t((hp * ow, kk))}")
            for r in range(kh):
                sl, ws, nxt = self.new("sl"), self.new("ws"), self.new("mm")
                self.emit(
                    f"{sl} = tensor.extract_slice {tf}[{r * ow}, 0] [{m}, {kk}] [1, 1] : "
                    f"{_t((hp * ow, kk))} to {_t((m, kk))}"
                )
                self.emit(
                    f"{ws} = tensor.extract_slice {w}[{r * kk}, 0] [{kk}, {f}] [1, 1] : {_t((k, f))} to {_t((kk, f))}"
                )
                self.emit(
                    f"{nxt} = linalg.matmul ins({sl}, {ws} : {_t((m, kk))}, {_t((kk, f))}) "
                    f"outs({acc} : {_t((m, f))}) -> {_t((m, f))}"
                )
                acc = nxt
        else:
            # full im2col: col[y, x, i, j, c] = P[y·s + i, x·s + j, c] → [OH·OW, kh·kw·C] @ W
            colt = _t((oh, ow, kh, kw, c))
            col2, mm = self.new("col2"), self.new("mm")
            col = patches(x, shape, (oh, ow, kh, kw, c), stride, (ph, pw), kdims=2)
            self.emit(f"{col2} = tensor.collapse_shape {col} [[0, 1], [2, 3, 4]] : {colt} into {_t((m, k))}")
            self.emit(
                f"{mm} = linalg.matmul ins({col2}, {w} : {_t((m, k))}, {_t((k, f))}) "
                f"outs({acc} : {_t((m, f))}) -> {_t((m, f))}"
            )
            acc = mm
        # epilogue on [OH·OW, F]
        map2, mapf = "affine_map<(d0, d1) -> (d0, d1)>", "affine_map<(d0, d1) -> (d1)>"
        f_t = f"tensor<{f}xf32>"
        ins, types, maps = [acc], [_t((m, f))], [map2]
        args = ["%a: f32"]
        if scale:
            ins, types, maps, args = ins + [scale], types + [f_t], maps + [mapf], args + ["%scale: f32"]
        ins, types, maps, args = ins + [b], types + [f_t], maps + [mapf], args + ["%bias: f32"]
        if residual:
            r2 = self.new("r2")
            self.emit(f"{r2} = tensor.collapse_shape {residual} [[0, 1, 2], [3]] : {_t(out_shape)} into {_t((m, f))}")
            ins, types, maps, args = ins + [r2], types + [_t((m, f))], maps + [map2], args + ["%r: f32"]
        y2 = self.new("y2")
        self.emit(
            f"{y2} = linalg.generic {{indexing_maps = [{', '.join(maps + [map2])}], "
            f'iterator_types = ["parallel", "parallel"]}} ins({", ".join(ins)} : {", ".join(types)}) '
            f"outs({empty} : {_t((m, f))}) {{"
        )
        self.emit(f"^bb0({', '.join(args + ['%o: f32'])}):")
        self._scale_bias(scale)
        last = "%s0"
        if residual:
            self.emit("  %s1 = arith.addf %s0, %r : f32")
            last = "%s1"
        if relu:
            self.emit(f"  %s2 = arith.maximumf {last}, %zero : f32")
            last = "%s2"
        if relu6:
            last = self._relu6(last)
        self.emit(f"  linalg.yield {last} : f32")
        self.emit(f"}} -> {_t((m, f))}")
        out = self.new("y")
        self.emit(
            f"{out} = tensor.expand_shape {y2} [[0, 1, 2], [3]] output_shape [1, {oh}, {ow}, {f}] : "
            f"{_t((m, f))} into {_t(out_shape)}"
        )
        return out, out_shape

    def global_avg(self, x: str, shape) -> tuple[str, tuple]:
        """Mean over H and W: [N, H, W, C] → [N, C]."""
        n, hh, ww, c = shape
        empty, fill, summed, pooled = self.new("e"), self.new("f"), self.new("sum"), self.new("pool")
        self.emit(f"{empty} = tensor.empty() : tensor<{n}x{c}xf32>")
        self.emit(f"{fill} = linalg.fill ins(%zero : f32) outs({empty} : tensor<{n}x{c}xf32>) -> tensor<{n}x{c}xf32>")
        self.emit(
            f"{summed} = linalg.generic {{indexing_maps = [{MAP4}, affine_map<(d0, d1, d2, d3) -> (d0, d3)>], "
            f'iterator_types = ["parallel", "reduction", "reduction", "parallel"]}} ins({x} : {_t(shape)}) '
            f"outs({fill} : tensor<{n}x{c}xf32>) {{"
        )
        self.emit("^bb0(%a: f32, %acc: f32):")
        self.emit("  %s = arith.addf %a, %acc : f32")
        self.emit("  linalg.yield %s : f32")
        self.emit(f"}} -> tensor<{n}x{c}xf32>")
        inv = self.new("inv")
        self.emit(f"{inv} = arith.constant {1.0 / (hh * ww)!r} : f32")
        self.emit(
            f"{pooled} = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], "
            f'iterator_types = ["parallel", "parallel"]}} ins({summed} : tensor<{n}x{c}xf32>) outs({empty} : tensor<{n}x{c}xf32>) {{'
        )
        self.emit("^bb0(%a: f32, %o: f32):")
        self.emit(f"  %s = arith.mulf %a, {inv} : f32")
        self.emit("  linalg.yield %s : f32")
        self.emit(f"}} -> tensor<{n}x{c}xf32>")
        return pooled, (n, c)

    def maxpool2(self, x: str, shape) -> tuple[str, tuple]:
        """2×2 max-pool, stride 2 (floor): the maximum of four strided slices."""
        n, h, w, c = shape
        out_shape = (n, h // 2, w // 2, c)
        parts = []
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            v = self.new("mp")
            self.emit(
                f"{v} = tensor.extract_slice {x}[0, {dy}, {dx}, 0] [{n}, {h // 2}, {w // 2}, {c}] [1, 2, 2, 1] "
                f": {_t(shape)} to {_t(out_shape)}"
            )
            parts.append(v)
        empty, out = self.new("e"), self.new("pool")
        self.emit(f"{empty} = tensor.empty() : {_t(out_shape)}")
        t = _t(out_shape)
        self.emit(
            f"{out} = linalg.generic {{indexing_maps = [{MAP4}, {MAP4}, {MAP4}, {MAP4}, {MAP4}], iterator_types = {PAR4}}} "
            f"ins({', '.join(parts)} : {t}, {t}, {t}, {t}) outs({empty} : {t}) {{"
        )
        self.emit("^bb0(%a: f32, %b: f32, %c: f32, %d: f32, %o: f32):")
        self.emit("  %m1 = arith.maximumf %a, %b : f32")
        self.emit("  %m2 = arith.maximumf %c, %d : f32")
        self.emit("  %m3 = arith.maximumf %m1, %m2 : f32")
        self.emit("  linalg.yield %m3 : f32")
        self.emit(f"}} -> {t}")
        return out, out_shape

    def _scale_bias(self, scale: str | None) -> None:
        """In an epilogue's body: %s0 = %a (× %scale) + %bias."""
        if scale:
            self.emit("  %m0 = arith.mulf %a, %scale : f32")
            self.emit("  %s0 = arith.addf %m0, %bias : f32")
        else:
            self.emit("  %s0 = arith.addf %a, %bias : f32")

    def _relu6(self, v: str) -> str:
        """min(max(v, 0), 6) inside a generic's body; returns the result's name."""
        self.emit("  %c6 = arith.constant 6.0 : f32")
        self.emit(f"  %r6a = arith.maximumf {v}, %zero : f32")
        self.emit("  %r6b = arith.minimumf %r6a, %c6 : f32")
        return "%r6b"

    def depthwise_relu6(self, x: str, shape, w: str, b: str, stride: int, scale: str | None = None):
        """3×3 depthwise convolution (padding 1) as linalg.depthwise_conv_2d_nhwc_hwc, then
        (× per-channel scale) + bias and ReLU6 (MobileNetV2). `w` is [3, 3, C].

        Why the named op and not im2col + matmul: a depthwise convolution has no reduction over
        channels, so there is no matmul to make; IREE vectorises this op along the channels for
        x86, aarch64 and armv7 NEON (a hand-written gather generic stayed scalar, 7–18× slower)."""
        n, h, wd, c = shape
        oh, ow = (h + 2 - 3) // stride + 1, (wd + 2 - 3) // stride + 1
        padded, (hi_h, hi_w) = self._pad1(x, shape, oh, ow, stride)
        padded_shape, out_shape = (n, h + 1 + hi_h, wd + 1 + hi_w, c), (n, oh, ow, c)
        empty, fill, conv, out = (self.new(p) for p in ("e", "f", "dw", "y"))
        self.emit(f"{empty} = tensor.empty() : {_t(out_shape)}")
        self.emit(f"{fill} = linalg.fill ins(%zero : f32) outs({empty} : {_t(out_shape)}) -> {_t(out_shape)}")
        self.emit(
            f"{conv} = linalg.depthwise_conv_2d_nhwc_hwc {{dilations = dense<1> : tensor<2xi64>, strides = "
            f"dense<{stride}> : tensor<2xi64>}} ins({padded}, {w} : {_t(padded_shape)}, {_t((3, 3, c))}) "
            f"outs({fill} : {_t(out_shape)}) -> {_t(out_shape)}"
        )
        mapc = "affine_map<(d0, d1, d2, d3) -> (d3)>"
        ins, types, maps, args = [conv], [_t(out_shape)], [MAP4], ["%a: f32"]
        if scale:
            ins, types, maps, args = ins + [scale], types + [f"tensor<{c}xf32>"], maps + [mapc], args + ["%scale: f32"]
        ins, types, maps, args = ins + [b], types + [f"tensor<{c}xf32>"], maps + [mapc], args + ["%bias: f32"]
        self.emit(
            f"{out} = linalg.generic {{indexing_maps = [{', '.join(maps + [MAP4])}], iterator_types = {PAR4}}} "
            f"ins({', '.join(ins)} : {', '.join(types)}) outs({empty} : {_t(out_shape)}) {{"
        )
        self.emit(f"^bb0({', '.join(args + ['%o: f32'])}):")
        self._scale_bias(scale)
        self.emit(f"  linalg.yield {self._relu6('%s0')} : f32")
        self.emit(f"}} -> {_t(out_shape)}")
        return out, out_shape

    def _pad1(self, x: str, shape, oh: int, ow: int, stride: int) -> tuple[str, tuple[int, int]]:
        """Zero padding of 1 before, and after only as much as a 3×3 window at `stride` reads for an
        oh×ow output (a stride-2 window over an even size reads no row past the end; IREE rejects
        an input larger than the op reads)."""
        n, h, w, c = shape
        hi_h, hi_w = (oh - 1) * stride + 3 - h - 1, (ow - 1) * stride + 3 - w - 1
        padded = self.new("pad")
        self.emit(f"{padded} = tensor.pad {x} low[0, 1, 1, 0] high[0, {hi_h}, {hi_w}, 0] {{")
        self.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
        self.emit("  tensor.yield %zero : f32")
        self.emit(f"}} : {_t(shape)} to {_t((n, h + 1 + hi_h, w + 1 + hi_w, c))}")
        return padded, (hi_h, hi_w)

    def maxpool3s2(self, x: str, shape) -> tuple[str, tuple]:
        """3×3 max-pool, stride 2, padding 1 (torchvision's ResNet stem). It follows a ReLU, so every
        value is ≥ 0 and zero padding gives the same maxima as -inf padding."""
        n, h, w, c = shape
        oh, ow = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        padded, (hi_h, hi_w) = self._pad1(x, shape, oh, ow, 2)
        padded_shape, out_shape = (n, h + 1 + hi_h, w + 1 + hi_w, c), (n, oh, ow, c)
        win, empty, fill, out = (self.new(p) for p in ("win", "e", "f", "pool"))
        self.emit(f"{win} = tensor.empty() : tensor<3x3xf32>")
        self.emit(f"{empty} = tensor.empty() : {_t(out_shape)}")
        self.emit(f"{fill} = linalg.fill ins(%zero : f32) outs({empty} : {_t(out_shape)}) -> {_t(out_shape)}")
        self.emit(
            f"{out} = linalg.pooling_nhwc_max {{dilations = dense<1> : vector<2xi64>, strides = dense<2> : "
            f"vector<2xi64>}} ins({padded}, {win} : {_t(padded_shape)}, tensor<3x3xf32>) outs({fill} : "
            f"{_t(out_shape)}) -> {_t(out_shape)}"
        )
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
    if isinstance(block, BasicBlock):  # CIFAR: option-A shortcut
        (w1, w1s, b1, k1), (w2, w2s, b2, k2) = weights[idx]
        stride = block.stride
        h1, s1 = em.conv_bias_act(x, shape, w1, w1s, b1, stride, relu=True, scale=k1)
        sc, _ = em.shortcut(x, shape, stride, block.extra_channels)
        return em.conv_bias_act(h1, s1, w2, w2s, b2, 1, relu=True, residual=sc, scale=k2)
    if isinstance(block, InvertedResidual):  # ReLU6 after all but the projection; + x if kept
        pairs, h, hs = _conv_bn_pairs(block), x, shape
        for n, ((w, ws, b, k), (conv, _)) in enumerate(zip(weights[idx], pairs), start=1):
            last = n == len(pairs)
            if conv.groups > 1:
                h, hs = em.depthwise_relu6(h, hs, w, b, conv.stride[0], scale=k)
            else:
                res = x if last and block.use_res_connect else None
                h, hs = em.conv_bias_act(h, hs, w, ws, b, 1, relu=False, residual=res, scale=k, relu6=not last)
        return h, hs
    # torchvision: basic (3×3, 3×3) or bottleneck (1×1, 3×3 strided, 1×1), then the shortcut
    steps = list(zip(weights[idx], _conv_bn_pairs(block)))
    sc = x
    if block.downsample is not None:
        (w, ws, b, k), (conv, _) = steps.pop()
        sc, _ = em.conv_bias_act(x, shape, w, ws, b, conv.stride[0], relu=False, scale=k)
    h, hs = x, shape
    for n, ((w, ws, b, k), (conv, _)) in enumerate(steps, start=1):
        last = n == len(steps)
        h, hs = em.conv_bias_act(h, hs, w, ws, b, conv.stride[0], relu=True, residual=sc if last else None, scale=k)
    return h, hs


def hwcf(conv: nn.Conv2d) -> np.ndarray:
    """A convolution's weight, OIHW → HWCF (float32), BatchNorm not folded."""
    return conv.weight.detach().permute(2, 3, 1, 0).contiguous().float().numpy()


class GateReader:
    """How a module learns whether gated block k runs: one strategy per way of reading the bits.

    `arguments(g)` is what it adds to the function's arguments after the image; `prologue` emits
    what runs before the first dispatch, `constants` any weights of its own (after the model's);
    `fixed(k)` is gate k's bit when it is known at compile time (else None) and `predicate` emits
    or names gate k's i1 value (`into` is a fresh name it may define); `results` are extra
    function results. `upfront`: every predicate exists before the first dispatch, which the
    fast-path dispatcher needs (it compares them with each fast path's bits).
    """

    upfront = False

    def arguments(self, g: int) -> str:
        return ""

    def prologue(self, em: Emitter, g: int) -> None:
        pass

    def constants(self, em: Emitter) -> None:
        pass

    def fixed(self, gate: int) -> bool | None:
        return None

    def predicate(self, em: Emitter, gate: int, x: str, shape, into: str) -> str:
        raise NotImplementedError

    def results(self, em: Emitter, g: int) -> list[tuple[str, str]]:
        return []


class HostBufferGates(GateReader):
    """The default: the skip vector is a raw `!hal.buffer_view` whose bits the host reads before the
    first dispatch. (A tensor argument read with tensor.extract is first copied on the device into a
    staging buffer, and the host waits for that copy: one more submission per call.) The assert gives
    the caller a clear error for a skip vector of the wrong length or type."""

    upfront = True

    def __init__(self):
        self.preds: list[str] = []

    def arguments(self, g: int) -> str:
        return ", %skip: !hal.buffer_view"

    def prologue(self, em: Emitter, g: int) -> None:
        n_g, et, enc, buf = em.new("ng"), em.new("et"), em.new("enc"), em.new("sbuf")
        em.emit(f"{n_g} = arith.constant {g} : index")
        em.emit(f"{et} = hal.element_type<i32> : i32")
        em.emit(f"{enc} = hal.encoding_type<dense_row_major> : i32")
        em.emit(
            f'hal.buffer_view.assert<%skip : !hal.buffer_view> message("skip") shape([{n_g}]) type({et}) encoding({enc})'
        )
        em.emit(f"{buf} = hal.buffer_view.buffer<%skip : !hal.buffer_view> : !hal.buffer")
        for k in range(g):
            off, val, pred = em.new("go"), em.new("gv"), em.new("gp")
            em.emit(f"{off} = arith.constant {4 * k} : index")
            em.emit(f"{val} = hal.buffer.load<{buf} : !hal.buffer>[{off}] : i32")
            em.emit(f"{pred} = arith.cmpi ne, {val}, %zero_i : i32")
            self.preds.append(pred)

    def predicate(self, em: Emitter, gate: int, x: str, shape, into: str) -> str:
        return self.preds[gate]


class StaticGates(GateReader):
    """Every gate resolved at compile time by `bits` (skipped blocks are left out): the baseline of
    the gate-overhead benchmarks, and the body of each fast path."""

    def __init__(self, bits: Sequence[int]):
        self.bits = list(bits)

    def fixed(self, gate: int) -> bool:
        return bool(self.bits[gate])


def _fast_path_bits(fast_paths: Sequence[Sequence[int]], g: int) -> list[list[int]]:
    paths: list[list[int]] = []
    for p in fast_paths:
        bits = [int(b) if str(b) in "01" else -1 for b in p]
        if len(bits) != g or -1 in bits:
            raise ValueError(f"fast path {''.join(map(str, p))!r} is not a configuration of {g} gates (0/1 each)")
        if bits not in paths:
            paths.append(bits)
    return paths


def _bn_affines(em: Emitter, model: nn.Module, bn_input: bool) -> tuple[tuple, dict]:
    """Weight constants of the stem and of every block's two convolutions, as (weight, weight shape,
    shift, scale): BatchNorm folded in, or with `bn_input` read from the `%bn` input."""
    from explorer.bn import bn_channels, bn_layers

    total = bn_channels(model)
    offsets, off = {}, 0
    for _, m in bn_layers(model):
        offsets[id(m)] = off
        off += m.num_features

    def affine(conv: nn.Conv2d, bn: nn.BatchNorm2d, name: str):
        # matmul weights are [kh·kw·C, F]; a depthwise convolution's are [kh, kw, C]
        def as_const(w: np.ndarray) -> str:
            return em.const(
                f"{name}_w", w.reshape(w.shape[0], w.shape[1], -1) if conv.groups > 1 else w.reshape(-1, w.shape[3])
            )

        if not bn_input:
            wf, bf = fold_bn(conv, bn)
            return as_const(wf), wf.shape, em.const(f"{name}_b", bf), None
        wr = hwcf(conv)
        c, o = bn.num_features, offsets[id(bn)]
        scale, shift = em.new("bs"), em.new("bt")
        em.emit(f"{scale} = tensor.extract_slice %bn[{o}] [{c}] [1] : tensor<{2 * total}xf32> to tensor<{c}xf32>")
        em.emit(
            f"{shift} = tensor.extract_slice %bn[{total + o}] [{c}] [1] : tensor<{2 * total}xf32> to tensor<{c}xf32>"
        )
        return as_const(wr), wr.shape, shift, scale

    stem = affine(*model.stem_conv_bn(), "stem")
    blocks = {
        i: tuple(affine(conv, bn, f"b{i}_{k}") for k, (conv, bn) in enumerate(_conv_bn_pairs(block), start=1))
        for i, block in enumerate(model.blocks)
    }
    head = model.head_conv_bn()
    if head is not None:  # MobileNetV2's 1×1 convolution to 1280 channels before pooling
        blocks["last"] = (affine(*head, "last"),)
    return stem, blocks


def _conv_bn_pairs(block: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """A block's convolutions with their BatchNorms, in the order `_block` uses them: the residual
    branch's (conv1, conv2[, conv3]), then a projection shortcut's (downsample.0, downsample.1)."""
    if isinstance(block, InvertedResidual):  # [expand 1×1,] depthwise 3×3, project 1×1
        layers = [m for m in block.conv.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]
        pairs = list(zip(layers[::2], layers[1::2]))
        for conv, _ in pairs:
            if conv.groups > 1 and (conv.groups != conv.in_channels or conv.kernel_size != (3, 3)):
                raise ConfigError(f"the emitter takes 3×3 depthwise convolutions, not {conv}")
        return pairs
    pairs = [(block.conv1, block.bn1), (block.conv2, block.bn2)]
    if isinstance(block, TVBottleneck):
        pairs.append((block.conv3, block.bn3))
    if getattr(block, "downsample", None) is not None:
        pairs.append((block.downsample[0], block.downsample[1]))
    for conv, _ in pairs:
        k, s, p = conv.kernel_size, conv.stride, conv.padding
        if k[0] != k[1] or s[0] != s[1] or p != (k[0] // 2, k[1] // 2) or conv.groups != 1 or conv.dilation != (1, 1):
            raise ConfigError(f"the emitter takes square k×k convolutions with padding k//2, not {conv}")
    return pairs


def _network(em: Emitter, model: nn.Module, image_shape, stem, weights, fc, gates: GateReader) -> str:
    """The whole network from the image to the logits (returns their SSA name), each gated block
    fixed at compile time or wrapped in an `scf.if` on the predicate `gates` gives."""
    fc_w, fc_b = fc
    relu6 = model.activation == "relu6"
    stride = model.stem_conv_bn()[0].stride[0]
    x, shape = em.conv_bias_act(
        "%image", image_shape, stem[0], stem[1], stem[2], stride, relu=not relu6, scale=stem[3], relu6=relu6
    )
    if getattr(model, "maxpool", None) is not None:  # torchvision's 3×3/2 max-pool after the stem
        x, shape = em.maxpool3s2(x, shape)
    for i, block in enumerate(model.blocks):
        gate = model.gate_of_block[i]
        bit = gates.fixed(gate) if gate >= 0 else True
        if bit is not None:
            if bit:
                x, shape = _block(em, block, i, x, shape, weights)
            continue
        into, res = em.new("gp"), em.new("gate")  # `into`: the name a reader may define its predicate under
        pred = gates.predicate(em, gate, x, shape, into)
        em.emit(f"{res} = scf.if {pred} -> ({_t(shape)}) {{")
        em.indent += 1
        y, _ = _block(em, block, i, x, shape, weights)
        em.emit(f"scf.yield {y} : {_t(shape)}")
        em.indent -= 1
        em.emit("} else {")
        em.emit(f"  scf.yield {x} : {_t(shape)}")
        em.emit("}")
        x = res
    if "last" in weights:  # MobileNetV2's 1×1 convolution to 1280 channels
        w, ws, b, k = weights["last"][0]
        x, shape = em.conv_bias_act(x, shape, w, ws, b, 1, relu=not relu6, scale=k, relu6=relu6)
    pooled, (n, c) = em.global_avg(x, shape)
    n_cls = model.linear_head().out_features
    logits_t = f"tensor<{n}x{n_cls}xf32>"
    e2, f2, mm, logits = em.new("e"), em.new("f"), em.new("mm"), em.new("logits")
    em.emit(f"{e2} = tensor.empty() : tensor<{n}x{n_cls}xf32>")
    em.emit(f"{f2} = linalg.fill ins(%zero : f32) outs({e2} : {logits_t}) -> {logits_t}")
    em.emit(
        f"{mm} = linalg.matmul ins({pooled}, {fc_w} : tensor<{n}x{c}xf32>, tensor<{c}x{n_cls}xf32>) "
        f"outs({f2} : {logits_t}) -> {logits_t}"
    )
    em.emit(
        f"{logits} = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>, "
        f'affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}} '
        f"ins({mm}, {fc_b} : {logits_t}, tensor<1x{n_cls}xf32>) outs({e2} : {logits_t}) {{"
    )
    em.emit("^bb0(%a: f32, %b: f32, %o: f32):")
    em.emit("  %s = arith.addf %a, %b : f32")
    em.emit("  linalg.yield %s : f32")
    em.emit(f"}} -> {logits_t}")
    return logits


def _dispatch_fast_paths(em: Emitter, preds: list[str], paths: list[list[int]], logits_t: str, network) -> str:
    """Compare the skip vector, packed into 32-bit words, with each fast path's words: a match runs
    that path's branch (`network(StaticGates(bits))`), anything else the per-gate network
    (`network(None)`). Returns the logits' SSA name."""
    g = len(preds)
    words = []
    for w0 in range(0, g, 32):
        acc = None
        for k in range(w0, min(g, w0 + 32)):
            b32, sh = em.new("pb"), em.new("ps")
            em.emit(f"{b32} = arith.extui {preds[k]} : i1 to i32")
            if k > w0:
                c = em.new("pc")
                em.emit(f"{c} = arith.constant {k - w0} : i32")
                em.emit(f"{sh} = arith.shli {b32}, {c} : i32")
            else:
                sh = b32
            if acc is None:
                acc = sh
            else:
                nxt = em.new("pw")
                em.emit(f"{nxt} = arith.ori {acc}, {sh} : i32")
                acc = nxt
        words.append(acc)

    def branch(j: int) -> str:
        if j == len(paths):
            return network(None)
        bits = paths[j]
        match = None
        for wi, w0 in enumerate(range(0, g, 32)):
            code = sum(bits[k] << (k - w0) for k in range(w0, min(g, w0 + 32)))
            c, eq = em.new("fc"), em.new("fm")
            em.emit(f"{c} = arith.constant {code - (1 << 32) if code >= 1 << 31 else code} : i32")
            em.emit(f"{eq} = arith.cmpi eq, {words[wi]}, {c} : i32")
            if match is not None:
                both = em.new("fm")
                em.emit(f"{both} = arith.andi {match}, {eq} : i1")
                eq = both
            match = eq
        res = em.new("fast")
        em.emit(f"{res} = scf.if {match} -> ({logits_t}) {{")
        em.indent += 1
        em.emit(f"scf.yield {network(StaticGates(bits))} : {logits_t}")
        em.indent -= 1
        em.emit("} else {")
        em.indent += 1
        em.emit(f"scf.yield {branch(j + 1)} : {logits_t}")
        em.indent -= 1
        em.emit("}")
        return res

    return branch(0)


def resnet_to_mlir(
    model: nn.Module,
    image_hw: tuple[int, int],
    batch: int = 1,
    static_skip: Sequence[int] | None = None,
    bn_input: bool = False,
    fast_paths: Sequence[Sequence[int]] = (),
    gates: GateReader | None = None,
    emitter: Emitter | None = None,
) -> str:
    """MLIR text of `model` (a GatedResNet or a SkipNet, in eval mode) for IREE; see the module docstring.

    The gates are read by `gates` (default: `HostBufferGates`; `StaticGates(static_skip)` with
    `static_skip`; a SkipNet's own `GateNetworkGates`). `emitter`: the Emitter to build with
    (benchmarks/_emitter_variants.py holds the older variants the benchmarks compare with).

    `bn_input`: BatchNorm is not folded; the function takes a third input `bn: f32[2K]` with the
    per-channel scales then shifts of every BatchNorm (K channels in `explorer.bn.bn_layers`
    order), so one module runs every configuration with its own re-estimated statistics.

    `fast_paths`: configurations (0/1 per gate) that get a branch of their own, with their gates
    resolved at compile time. The module compares the skip vector with each of them (one 32-bit
    compare per 32 gates) before the first dispatch; on a match it runs that branch, which IREE
    schedules as one submission like a statically compiled module, and any other skip vector
    takes the per-gate `scf.if` path. Every `scf.if` boundary ends one submission and starts
    another, with its own transient allocations and fences, so `explorer export` gives the Pareto
    front's configurations fast paths (docs/benchmarks.md has the measurements).
    """
    from explorer.bn import bn_channels

    gate_nets = getattr(model, "gates", None)
    if gate_nets is not None:
        if static_skip is not None or bn_input:
            raise ValueError("a SkipNet module decides its own gates: no static skip, no BatchNorm input")
        from explorer.skipnet.emitter import GateNetworkGates  # the baseline's own emitter code

        model, gates = model.base, GateNetworkGates(gate_nets)
    elif static_skip is not None:
        gates = StaticGates(static_skip)
    gates = gates or HostBufferGates()
    if not isinstance(model, GatedResNet | TVResNet | TVMobileNetV2):
        raise ConfigError(
            f"the IREE emitter builds the CIFAR ResNets (resnet<6n+2>), their SkipNets, torchvision's ResNets and "
            f"MobileNetV2; a {type(model).__name__} is not emitted: search it with the torch evaluators "
            "(--objective macs, --latency-evaluator latency-torch), or compile it through ONNX, more slowly "
            "(explorer compile --route onnx; explorer.deploy.onnx_route for any nn.Module)"
        )
    if batch != 1:
        raise ValueError(f"the module is generated for batch 1 (the deployment case), not {batch}")
    model = model.eval()
    in_c = model.stem_conv_bn()[0].in_channels
    h, w = image_hw
    g = model.num_gates
    paths = _fast_path_bits(fast_paths, g)
    if paths and not gates.upfront:
        raise ValueError("fast paths need gate bits read before the first dispatch (a GateReader with upfront = True)")
    em = emitter or Emitter()
    em.emit("%zero = arith.constant 0.0 : f32")
    em.emit("%zero_i = arith.constant 0 : i32")
    gates.prologue(em, g)
    stem, weights = _bn_affines(em, model, bn_input)
    gates.constants(em)
    classifier = model.linear_head()
    fc = (
        em.const("fc_w", classifier.weight.detach().float().numpy().T),
        em.const("fc_b", classifier.bias.detach().float().numpy().reshape(1, -1)),
    )
    logits_t = f"tensor<{batch}x{classifier.out_features}xf32>"

    def network(reader: GateReader | None) -> str:
        return _network(em, model, (batch, h, w, in_c), stem, weights, fc, reader or gates)

    logits = _dispatch_fast_paths(em, gates.preds, paths, logits_t, network) if paths else network(None)
    extra = gates.results(em, g)
    if extra:
        em.emit(f"return {logits}, {', '.join(v for v, _ in extra)} : {logits_t}, {', '.join(t for _, t in extra)}")
        results = f"({logits_t}, {', '.join(t for _, t in extra)})"
    else:
        em.emit(f"return {logits} : {logits_t}")
        results = logits_t
    sig = f"%image: {_t((batch, h, w, in_c))}" + gates.arguments(g)
    if bn_input:
        sig += f", %bn: tensor<{2 * bn_channels(model)}xf32>"
    head = f"func.func @{ENTRY}({sig}) -> {results} {{"
    blobs = ",\n".join(f'      {name}: "0x04000000{arr.tobytes().hex()}"' for name, arr in em.resources.items())
    return (
        "module {\n" + "  " + head + "\n" + "\n".join(em.lines) + "\n  }\n}\n"
        "{-#\n  dialect_resources: {\n    builtin: {\n" + blobs + "\n    }\n  }\n#-}\n"
    )
