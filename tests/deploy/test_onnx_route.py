"""The ONNX route: a network the emitter does not know, its blocks named by the user, compiles to one
IREE module with the emitter's calling convention (NHWC image, skip vector) that equals PyTorch on
its fast path and on the per-gate path; `explorer compile --route onnx` does it for a checkpoint."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch

from explorer.checkpoint import load_checkpoint, save_checkpoint
from explorer.cli import main
from explorer.deploy.iree import DeployError, IreeModule
from explorer.deploy.mlir import resnet_to_mlir
from explorer.deploy.onnx_route import compile_onnx_route, export_onnx
from explorer.errors import ConfigError
from explorer.models import create_model
from explorer.models.named_blocks import gate_blocks

pytest.importorskip("onnxscript")


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


def test_a_successful_export_logs_no_error_and_warns_nothing(user_net, tmp_path):
    # torch.export logs "always_classified is unsupported" as an error on a successful export of a
    # torch.cond network, and warns FutureWarning: a user would read them as failures (torch's own
    # handler writes to a stderr of its own, so the records are caught at the logger)
    gated = gate_blocks(user_net().eval(), ["features.0", "features.1", "features.3"])
    trace_log, logged = logging.getLogger("torch.export._trace"), Records()
    trace_log.addHandler(logged)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            export_onnx(gated, (12, 12), 3, tmp_path / "m.onnx", fast_paths=["101"])
    finally:
        trace_log.removeHandler(logged)
    assert logged.seen == []


def test_named_blocks_of_any_module_compile_through_onnx(user_net, tmp_path):
    torch.manual_seed(0)
    gated = gate_blocks(user_net().eval(), ["features.0", "features.1", "features.3"])
    with pytest.raises(ConfigError, match="not emitted.*--route onnx"):
        resnet_to_mlir(gated, (12, 12))
    with pytest.raises(DeployError, match="gate_blocks"):
        compile_onnx_route(user_net(), (12, 12), tmp_path / "x.vmfb")
    with pytest.raises(DeployError, match="could not trace BlockGates for a 1×12×12 image"):
        compile_onnx_route(gated, (12, 12), tmp_path / "x.vmfb", in_channels=1)
    module = IreeModule(compile_onnx_route(gated, (12, 12), tmp_path / "m.vmfb", fast_paths=["101"]))
    x = torch.randn(1, 3, 12, 12)
    for bits in ("111", "101", "010", "000"):  # 101 on its fast path, the rest per gate
        with torch.no_grad():
            want = gated(x, bits).numpy()
        got = module(nhwc(x), np.array([int(b) for b in bits], dtype=np.int32))
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max()), bits


def test_compile_route_onnx_cli_serves_a_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("resnet14", in_channels=1, num_classes=10).eval()  # 3 gates; random weights suffice
    meta = {"arch": "resnet14", "in_channels": 1, "num_classes": 10, "dataset": {"name": "npz", "image_size": [8, 8]}}
    ckpt_dir = save_checkpoint(tmp_path / "r14", model, meta)
    out = tmp_path / "onnx.vmfb"
    cmd = ["compile", "--checkpoint", str(ckpt_dir), "--out", str(out), "--route", "onnx"]
    with pytest.raises(SystemExit) as e:  # in-process: a CLI start costs ~4 s
        main([*cmd, "--static-skip", "111"])
    assert e.value.code == 2 and "emitter route only" in capsys.readouterr().err
    main([*cmd, "--fast-path", "101"])
    assert "through ONNX (the slower route)" in capsys.readouterr().out
    ckpt, module = load_checkpoint(ckpt_dir), IreeModule(out)
    x = torch.randn(1, 1, 8, 8)
    for bits in ("111", "101", "010"):  # 101 on its fast path
        with torch.no_grad():
            want = ckpt.model(x, bits).numpy()
        got = module(nhwc(x), np.array([int(b) for b in bits], dtype=np.int32))
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max()), bits
