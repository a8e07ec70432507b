"""The fallback route for networks the emitter does not know: torch.export → ONNX → IREE.

    from explorer.models.named_blocks import gate_blocks
    from explorer.deploy.onnx_route import compile_onnx_route
    gated = gate_blocks(my_model, ["blocks.1", "blocks.2"])
    compile_onnx_route(gated, (64, 64), Path("my.vmfb"), fast_paths=["11", "01"])

The module has the emitter's calling convention (`forward(image NHWC f32, skip i32[G]) → logits`),
so `IreeModule` and IREE's own tools run it as they run ours. Every gate is a `torch.cond` (an
ONNX `If`); each fast path is one more `If` around a copy of the network with that
configuration's gates fixed, tried before the per-gate network.

Speed (docs/benchmarks.md, "The ONNX route"): iree-import-onnx's convolutions go through IREE's
own convolution path (`--iree-global-opt-use-im2col-for-convs`, the fastest of its flags here):
as fast as the emitter on ResNet-18 at 64×64, 1.5× slower on MobileNetV2 (depthwise
convolutions), and about 5× longer to compile. No BatchNorm input mode: the statistics are the
weights'. Needs `pip install 'skip-explorer[onnx]'` (onnx, onnxscript).
"""

from __future__ import annotations

import copy
import logging
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn

from explorer.deploy.iree import DeployError, compiler_path, get_target
from explorer.deploy.mlir import ENTRY
from explorer.models.gating import GatedNetwork
from explorer.models.named_blocks import BlockGates
from explorer.skip import check_skip

# instead of the emitter's per-model flags (iree.compile_flags): with data tiling this route was
# slower on ResNet-18 and MobileNetV2 alike (docs/benchmarks.md)
ROUTE_FLAGS = ("--iree-global-opt-use-im2col-for-convs",)


class _Entry(nn.Module):
    """NHWC image and skip vector in, logits out; fast paths first, then the per-gate network.

    Nothing inside a `torch.cond` branch may change Python state, so the gates are arranged before
    tracing: a GatedNetwork's per-gate path takes the skip tensor as an argument; a BlockGates'
    gates read the one bound here, at the top level, and each fast path is a copy of the network
    with its gates resolved (weights shared, exported once)."""

    def __init__(self, net: nn.Module, fast_paths: list[list[int]]):
        super().__init__()
        self.net, self.paths = net, fast_paths
        self.named = isinstance(net, BlockGates)  # else a GatedNetwork
        if self.named:
            self.fixed = nn.ModuleList(net.resolved(p) for p in fast_paths)

    def forward(self, image: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2)
        if self.named:
            self.net.bind(skip)
        # the comparisons at the top level: a constant made inside a torch.cond branch breaks export
        matches = [torch.all(skip == torch.tensor(p, dtype=torch.int32)) for p in self.paths]
        try:
            return self._dispatch(x, skip, matches, 0)
        finally:
            if self.named:
                self.net.bind(None)

    def _per_gate(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.net.model(x) if self.named else self.net._forward_cond(x, skip)

    def _fixed(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.fixed[i](x) if self.named else self.net(x, self.paths[i])

    def _dispatch(self, x: torch.Tensor, skip: torch.Tensor, matches: list[torch.Tensor], i: int) -> torch.Tensor:
        if i == len(self.paths):
            return self._per_gate(x, skip)

        def rest(x, s):
            return self._dispatch(x, s, matches, i + 1)

        return torch.cond(matches[i], lambda x, s: self._fixed(i, x), rest, (x, skip))


def _need_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise DeployError(
            f"the ONNX route needs onnx and onnxscript ({e}): pip install 'skip-explorer[onnx]'"
        ) from None


@contextmanager
def _quiet_export() -> Iterator[None]:
    """torch.export and torch.onnx log an error ("always_classified is unsupported"), warnings
    ("torchvision is not installed") and a FutureWarning on a *successful* export of a network with
    `torch.cond`: a user would take them for failures. A failed export still raises, and
    export_onnx's DeployError names its cause."""
    loggers = [logging.getLogger(n) for n in ("torch.export._trace", "torch.onnx._internal.exporter._registration")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(net: nn.Module, image_hw: tuple[int, int], in_channels: int, path: Path, fast_paths=()) -> Path:
    """Write `net` (a GatedNetwork or a BlockGates) as ONNX with the module's calling convention;
    its graph is named like the emitter's entry function."""
    if not isinstance(net, GatedNetwork | BlockGates):
        raise DeployError(
            f"the ONNX route takes a gated network: wrap your {type(net).__name__} with "
            "explorer.models.named_blocks.gate_blocks(model, [names of its skippable blocks])"
        )
    _need_onnx()
    import onnx

    net = copy.deepcopy(net).eval()
    if isinstance(net, GatedNetwork):
        net.gate_mode = "python"  # the fast paths' copies; the per-gate path calls _forward_cond
    g = net.num_gates
    paths = [list(p) for p in dict.fromkeys(tuple(check_skip(p, g)) for p in fast_paths)]
    entry = _Entry(net, paths).eval()
    image = torch.randn(1, *image_hw, in_channels)
    skip = torch.ones(g, dtype=torch.int32)
    try:
        with torch.no_grad(), _quiet_export():
            program = torch.onnx.export(entry, (image, skip), dynamo=True, input_names=["image", "skip"], verbose=False)
    except Exception as e:  # noqa: BLE001 - torch.export's many error types, one message for the user
        cause = e.__cause__ or e
        raise DeployError(
            f"torch.onnx.export could not trace {type(net).__name__} for a {in_channels}×{image_hw[0]}×{image_hw[1]} "
            f"image: {type(cause).__name__}: {str(cause).strip().splitlines()[0][:500]}"
        ) from e
    program.save(str(path))
    proto = onnx.load(str(path))
    proto.graph.name = ENTRY  # iree-import-onnx names the function after the graph
    onnx.save(proto, str(path))
    return path


def compile_onnx_route(
    net: nn.Module,
    image_hw: tuple[int, int],
    out: Path,
    target: str = "host",
    *,
    in_channels: int = 3,
    fast_paths: Sequence[str | Sequence[int]] = (),
) -> Path:
    """Compile `net` through ONNX into `out` (.vmfb) for `target`; see the module docstring."""
    tgt = get_target(target)
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, mlir = Path(tmp) / "model.onnx", Path(tmp) / "model.mlir"
        export_onnx(net, image_hw, in_channels, onnx_path, fast_paths)
        steps = [
            ("iree-import-onnx", [sys.executable, "-m", "iree.compiler.tools.import_onnx", str(onnx_path), "-o", str(mlir)]),
            ("iree-compile", [compiler_path(), str(mlir), *tgt.flags, *ROUTE_FLAGS, "-o", str(Path(tmp) / "m.vmfb")]),
        ]  # fmt: skip
        for name, cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                raise DeployError(f"{name} failed on the ONNX route for target {tgt.name}:\n{proc.stderr[-4000:]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / "m.vmfb", out)
    return out
