"""Emitter variants that only the benchmarks compare with: earlier ways of reading the gate bits and
of building convolution patches, kept to measure what the current emitter gained.

    InlineTensorGates   each gate bit read right before its gate with tensor.extract from an
                        i32 tensor argument (emitter version 2; benchmarks/gate_hoist.py)
    ScalarArgGates      the gate bits as one i32 argument each (benchmarks/gate_hoist.py)
    CopyIm2colEmitter   patches by tensor.pad + an affine-map copy (emitter version 4;
                        benchmarks/patches.py, benchmarks/dispatch_profile.py)

Pass them to `resnet_to_mlir(..., gates=..., emitter=...)`.
"""

from __future__ import annotations

from explorer.deploy.mlir import Emitter, GateReader, _t


class InlineTensorGates(GateReader):
    def arguments(self, g: int) -> str:
        return f", %skip: tensor<{g}xi32>"

    def prologue(self, em: Emitter, g: int) -> None:
        self.num_gates = g

    def predicate(self, em: Emitter, gate: int, x: str, shape, into: str) -> str:
        idx, val = em.new("gi"), em.new("gv")
        em.emit(f"{idx} = arith.constant {gate} : index")
        em.emit(f"{val} = tensor.extract %skip[{idx}] : tensor<{self.num_gates}xi32>")
        em.emit(f"{into} = arith.cmpi ne, {val}, %zero_i : i32")
        return into


class ScalarArgGates(GateReader):
    upfront = True

    def __init__(self):
        self.preds: list[str] = []

    def arguments(self, g: int) -> str:
        return "".join(f", %skip_{k}: i32" for k in range(g))

    def prologue(self, em: Emitter, g: int) -> None:
        for k in range(g):
            pred = em.new("gp")
            em.emit(f"{pred} = arith.cmpi ne, %skip_{k}, %zero_i : i32")
            self.preds.append(pred)

    def predicate(self, em: Emitter, gate: int, x: str, shape, into: str) -> str:
        return self.preds[gate]


class CopyIm2colEmitter(Emitter):
    def im2col(self, x: str, shape, out_shape, stride: int, pad: tuple[int, int], kdims: int) -> str:
        """The same patches as `Emitter.im2col` the emitter-4 way: tensor.pad, then a copy with an
        indexing map such as `(d0, d1 + d2, d3)` (left as scalar loops by MLIR's vectoriser)."""
        n, h, w, c = shape
        ph, pw = pad
        hp, wp = h + 2 * ph, w + 2 * pw
        src = x
        if ph or pw:
            src = self.new("pad")
            self.emit(f"{src} = tensor.pad {x} low[0, {ph}, {pw}, 0] high[0, {ph}, {pw}, 0] {{")
            self.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
            self.emit("  tensor.yield %zero : f32")
            self.emit(f"}} : {_t(shape)} to {_t((n, hp, wp, c))}")
        p3, e, out = self.new("p3"), self.new("ec"), self.new("col")
        self.emit(
            f"{p3} = tensor.collapse_shape {src} [[0, 1], [2], [3]] : {_t((n, hp, wp, c))} into {_t((hp, wp, c))}"
        )
        self.emit(f"{e} = tensor.empty() : {_t(out_shape)}")
        if kdims == 1:
            in_map, rank = "(d0, d1 + d2, d3)", 4
        else:
            iy = f"d0 * {stride} + d2" if stride != 1 else "d0 + d2"
            ix = f"d1 * {stride} + d3" if stride != 1 else "d1 + d3"
            in_map, rank = f"({iy}, {ix}, d4)", 5
        dims = ", ".join(f"d{i}" for i in range(rank))
        par = ", ".join(['"parallel"'] * rank)
        self.emit(
            f"{out} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> {in_map}>, affine_map<({dims}) -> ({dims})>], "
            f"iterator_types = [{par}]}} ins({p3} : {_t((hp, wp, c))}) outs({e} : {_t(out_shape)}) {{"
        )
        self.emit("^bb0(%a: f32, %o: f32):")
        self.emit("  linalg.yield %a : f32")
        self.emit(f"}} -> {_t(out_shape)}")
        return out
