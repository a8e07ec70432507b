"""Training the SkipNet baseline from a trained ResNet checkpoint.

Stage 1, supervised pre-training (SP, `sp_epochs`): soft gates (the residual scaled by the gate's
probability), cross-entropy only; the gates learn which blocks matter for which images.
Stage 2, hybrid loss (the remaining epochs): hard gates in the forward pass (threshold 0.5, as at
inference) with the sigmoid's gradient (straight-through), loss = cross-entropy + α × mean
fraction of gated blocks executed, the computation penalty that makes the gates skip.

SkipNet's own second stage uses REINFORCE on the hard decisions; we use the straight-through
gradient for the same objective (accuracy vs executed blocks), which trains in fewer epochs on
CPU. State is saved after every epoch; `resume=True` continues from the last finished epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from explorer.checkpoint import load_checkpoint, save_checkpoint
from explorer.data import iterate_batches, load_dataset, num_batches
from explorer.errors import TrainingError
from explorer.models.predict import predict
from explorer.progress import TrainListener
from explorer.run_folder import RunFolder
from explorer.skipnet.model import SkipNet

STATE_NAME = "skipnet_state"  # the run folder's state files: skipnet_state.safetensors and .json


@dataclass
class SkipNetConfig:
    init: str  # the ResNet checkpoint SkipNet starts from
    epochs: int = 4
    sp_epochs: int = 1
    alpha: float = 0.1  # weight of the computation penalty (fraction of gated blocks executed)
    lr: float = 0.01
    gate_lr_x: float = 10.0
    batch_size: int = 128
    seed: int = 0
    limit_train: int | None = None
    augment: bool = True


@torch.inference_mode()
def skipnet_eval(model: SkipNet, x, y, mean, std, batch_size: int = 500) -> dict:
    """Accuracy (fraction) and executed fraction of gated blocks (mean, per block) over a split."""
    model.eval()
    model.mode = "hard"
    correct, execs = 0, []
    for xb, yb in iterate_batches(x, y, batch_size, mean=mean, std=std, channels_last=True):
        correct += int((model(xb).argmax(1) == yb).sum())
        execs.append(model.last_executed)
    e = torch.cat(execs)
    return {"accuracy": correct / len(y), "executed": float(e.mean()), "executed_per_gate": e.mean(0).tolist()}


def train_skipnet(
    cfg: SkipNetConfig, out_dir: str | Path, *, data_dir=None, resume: bool = False, force: bool = False,
    listener: TrainListener | None = None, data=None,
) -> Path:  # fmt: skip
    listener = listener or TrainListener()
    folder = RunFolder(out_dir, STATE_NAME)
    out = folder.path
    if cfg.sp_epochs < 0 or cfg.sp_epochs > cfg.epochs or cfg.epochs < 1:
        raise TrainingError(f"need 0 ≤ --sp-epochs ({cfg.sp_epochs}) ≤ --epochs ({cfg.epochs}), epochs ≥ 1")
    start = folder.prepare(resume=resume, force=force)
    if start == "finished":
        listener.message(f"{out} already holds the finished SkipNet; nothing to resume.", "ok")
        return out
    base = load_checkpoint(cfg.init)
    if base.meta["arch"].startswith("skipnet"):
        raise TrainingError(f"--init {cfg.init} is a SkipNet already: give the ResNet checkpoint it starts from")
    if not base.meta["arch"].startswith("resnet"):
        raise TrainingError(f"--init {cfg.init} is a {base.meta['arch']}: the SkipNet baseline gates resnet<6n+2> only")
    data = data or load_dataset(base.dataset, data_dir, val_size=base.meta["dataset"]["val_size"],
                                split_seed=base.meta["dataset"]["split_seed"])  # fmt: skip
    torch.manual_seed(cfg.seed)
    model = SkipNet(base.model).to(memory_format=torch.channels_last)
    # the gates start from scratch next to a trained network: they learn at gate_lr_x × the rate
    gate_ids = {id(p) for p in model.gates.parameters()}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in gate_ids], "scale": 1.0},
        {"params": list(model.gates.parameters()), "scale": cfg.gate_lr_x},
    ]
    opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=1e-4)
    start_epoch, history = 0, []
    if start == "resume":
        state, _ = folder.load(model, opt)
        if state["config"] != asdict(cfg):
            raise TrainingError(f"cannot resume {out}: it was started with other settings; use them or --force")
        start_epoch, history = state["epoch"], state["history"]
        listener.message(f"Resuming {out} at epoch {start_epoch + 1}")
    x, y = data.train_x, data.train_y
    if cfg.limit_train:
        x, y = x[: cfg.limit_train], y[: cfg.limit_train]
    steps = num_batches(len(y), cfg.batch_size, drop_last=True)
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        stage = "sp" if epoch < cfg.sp_epochs else "hybrid"
        model.train()
        model.mode = "soft" if stage == "sp" else "st"
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(y), generator=gen)
        batches = iterate_batches(x, y, cfg.batch_size, mean=data.mean, std=data.std, order=order,
                                  augment=cfg.augment, generator=gen, channels_last=True, drop_last=True)  # fmt: skip
        t0, loss_sum, seen, exec_sum = time.perf_counter(), 0.0, 0, 0.0
        with listener.task(f"epoch {epoch + 1}/{cfg.epochs} ({stage})", steps) as on_progress:
            for k, (xb, yb) in enumerate(batches):
                lr = 0.5 * cfg.lr * (1 + math.cos(math.pi * (epoch + k / steps) / cfg.epochs))
                for g in opt.param_groups:
                    g["lr"] = lr * g["scale"]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                if stage == "hybrid":
                    executed = torch.stack(model.surrogate, 1)  # what the forward pass did, with gradient
                    loss = loss + cfg.alpha * executed.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach()) * len(yb)
                seen += len(yb)
                exec_sum += float(model.last_executed.mean()) * len(yb)
                on_progress(k + 1, f"loss {loss_sum / seen:.3f} executed {exec_sum / seen:.2f}")
        ev = skipnet_eval(model, data.val_x, data.val_y, data.mean, data.std)
        history.append({"epoch": epoch + 1, "stage": stage, "train_loss": loss_sum / seen,
                        "val_acc": ev["accuracy"], "val_executed": ev["executed"], "time_s": time.perf_counter() - t0})  # fmt: skip
        listener.message(
            f"epoch {epoch + 1}/{cfg.epochs} ({stage})  loss {loss_sum / seen:.4f}  val {100 * ev['accuracy']:.2f}%  "
            f"gated blocks executed {100 * ev['executed']:.1f}%  {time.perf_counter() - t0:.0f} s"
        )
        folder.save(model, opt, {"config": asdict(cfg), "epoch": epoch + 1, "history": history})
    model.eval()
    val = skipnet_eval(model, data.val_x, data.val_y, data.mean, data.std)
    test = skipnet_eval(model, data.test_x, data.test_y, data.mean, data.std)
    meta = {
        "arch": f"skipnet{base.meta['depth'] if 'depth' in base.meta else base.model.depth}",
        "depth": base.model.depth,
        "in_channels": base.meta["in_channels"],
        "num_classes": base.meta["num_classes"],
        "dataset": base.meta["dataset"],
        "training": {
            **asdict(cfg),
            "method": "skipnet",
            "gate_type": model.gate_type,
            "init_sha256": base.sha256,
            "history": history,
            "wall_time_s": round(time.perf_counter() - t_start, 1),
        },  # fmt: skip
        "accuracy": {"val": val["accuracy"], "test": test["accuracy"]},
        "skipnet": {
            "val_executed": val["executed"],
            "test_executed": test["executed"],
            "test_executed_per_gate": test["executed_per_gate"],
        },  # fmt: skip
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_checkpoint(out, model.to(memory_format=torch.contiguous_format), meta)
    folder.finish()
    load_checkpoint(out)
    listener.message(
        f"saved {out}: val {100 * val['accuracy']:.2f}%  test {100 * test['accuracy']:.2f}%, "
        f"gated blocks executed {100 * test['executed']:.1f}% (test)",
        "ok",
    )
    return out


def skipnet_predict(model: SkipNet, x, *, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and executed gates (N × gates) for uint8 images x."""
    preds, execs = [], []
    model.eval()
    for xb, _ in iterate_batches(x, torch.zeros(len(x), dtype=torch.long), 500, mean=mean, std=std):
        with torch.inference_mode():
            preds.append(model(xb).argmax(1))
        execs.append(model.last_executed)
    return torch.cat(preds), torch.cat(execs)


__all__ = ["SkipNetConfig", "train_skipnet", "skipnet_eval", "skipnet_predict", "predict"]
