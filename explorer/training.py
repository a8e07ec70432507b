"""Stochastic Depth training (Huang et al. 2016) with exact resume.

Survival probability of residual block l (1-based, over all L blocks): p_l = 1 − (l/L)(1 − p_L).
A dropped block is the identity (its parameter-free shortcut), which is what a skipped block
is at inference, so a Stochastic Depth model has seen every skip pattern's kind during training.

Scaling convention ("inverse" scaling): during training a kept residual branch is multiplied
by 1/p_l; at inference nothing is scaled. The full-depth model is therefore the plain ResNet,
and skipping a block at inference just leaves out its residual, exactly as a drop did in training.
(Huang et al. instead scale by p_l at test time; the two are equivalent in expectation.)

Recipe options beyond the paper's (scripts/train_models.py defines the study that compares them;
`RECIPES` names the default, the study's winner, and the paper's):
- `sd_scope="gated"` drops only the blocks a skip vector can switch off (the first block of
  each stage always runs at inference, so dropping it in training teaches nothing we use);
- `rule="distill"`: in-place self-distillation (slimmable networks, Yu et al. 2019; Adaptive
  Depth Networks, NeurIPS 2024): per batch the full network learns from the labels and one
  Stochastic-Depth-sampled sub-network learns from the full network's soft output;
- `rule="sandwich"`: as distill, plus the network with every gated block skipped (the smallest
  configuration) learns from the full network too.
With distill and sandwich a sub-network runs exactly as it will at inference (no 1/p_l scaling):
its target is the full network's output, not the expectation over drops.

Resume: training state (weights, SGD momentum, RNG state, progress) is written after every
epoch and every `save_every_s` seconds inside an epoch, atomically, in safetensors + JSON.
Every random draw of an epoch comes from one generator seeded by (seed, epoch), so a resumed
run sees the same batches and drops as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from explorer.data import DataSplits, dataset_base, default_crop_padding, iterate_batches, load_dataset, num_batches
from explorer.errors import TrainingError
from explorer.models import create_model
from explorer.models.predict import accuracy
from explorer.progress import TaskFn, TrainListener
from explorer.run_folder import RunFolder

STATE_NAME = "train_state"  # the run folder's state files: train_state.safetensors and .json
STATE_JSON = f"{STATE_NAME}.json"
# The step schedule as (fraction of epochs from which it applies, learning-rate factor).
STEP_SCHEDULE = ((0.0, 1.0), (0.5, 0.1), (0.85, 0.001))
SCHEDULES = ("step", "cosine", "onecycle")
ONECYCLE_WARMUP = 0.15  # fraction of iterations of linear warm-up from lr/25 to lr
RULES = ("sd", "distill", "sandwich")
SCALING = {  # what the checkpoint records about residual scaling, per rule
    "sd": "inverse: kept residuals scaled by 1/p_l in training; no scaling at inference",
    "distill": "none: sampled sub-networks run unscaled in training, as at inference",
    "sandwich": "none: sampled sub-networks run unscaled in training, as at inference",
}
# Values of fields added after 0.1 that runs saved before them were trained with (for --resume).
LEGACY_FIELDS = {"sd_scope": "all", "rule": "sd", "init": None}
# Named recipes: the settings `explorer train --recipe` fills in where the command line names none.
# "skip" won the recipe study (docs/benchmarks.md, "Training recipe study"): it keeps the most
# accuracy with blocks skipped; "paper" is Huang et al.'s Stochastic Depth as the paper trained it.
RECIPES = {
    "skip": {"schedule": "onecycle", "sd_scope": "gated", "rule": "sandwich"},
    "paper": {"schedule": "step", "sd_scope": "all", "rule": "sd"},
}
DEFAULT_RECIPE = "skip"


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored in the checkpoint metadata)."""

    arch: str = "resnet20"
    dataset: str = "fashion-mnist"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = RECIPES[DEFAULT_RECIPE]["schedule"]
    sd_pl: float = 0.5
    sd_mode: str = "batch"
    seed: int = 0
    val_size: int | None = None  # None: 10% of the training set, at most 5,000
    split_seed: int = 0
    limit_train: int | None = None
    augment: bool = True
    crop_padding: int | None = None  # None: 1/8 of the smaller image side
    flip: bool = True
    channels_last: bool = True
    sd_scope: str = RECIPES[DEFAULT_RECIPE]["sd_scope"]
    rule: str = RECIPES[DEFAULT_RECIPE]["rule"]
    init: str | None = None  # fine-tuning: the checkpoint whose weights start the run (None: random)

    @classmethod
    def from_recipe(cls, recipe: str = DEFAULT_RECIPE, **settings) -> TrainConfig:
        """The recipe's settings, overridden by those given (None means 'not given')."""
        if recipe not in RECIPES:
            raise TrainingError(f"--recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
        given = {k: v for k, v in settings.items() if v is not None}
        return cls(**{**RECIPES[recipe], **given})

    def validate(self) -> None:
        if self.epochs < 1:
            raise TrainingError(f"--epochs must be at least 1, got {self.epochs}")
        if not 0.0 < self.sd_pl <= 1.0:
            raise TrainingError(f"--sd-pl must be in (0, 1], got {self.sd_pl} (1 = standard training)")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.sd_scope not in ("all", "gated"):
            raise TrainingError(f"--sd-scope must be 'all' or 'gated', got {self.sd_scope!r}")
        if self.rule not in RULES:
            raise TrainingError(f"--rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if self.rule != "sd" and self.sd_mode != "batch":
            raise TrainingError(f"--rule {self.rule} samples one sub-network per batch: use --sd-mode batch")
        if self.sd_mode not in ("batch", "sample"):
            raise TrainingError(f"--sd-mode must be 'batch' or 'sample', got {self.sd_mode!r}")
        if self.batch_size < 2:
            raise TrainingError(f"--batch-size must be at least 2 (BatchNorm), got {self.batch_size}")


def survival_probabilities(num_blocks: int, p_last: float) -> list[float]:
    """p_l = 1 − (l/L)(1 − p_L) for l = 1..L (the linear decay rule of Huang et al.)."""
    return [1.0 - (block / num_blocks) * (1.0 - p_last) for block in range(1, num_blocks + 1)]


def scoped_survival(model: nn.Module, cfg: TrainConfig) -> list[float]:
    """Survival probability of every block; with `sd_scope="gated"` ungated blocks always run."""
    survival = survival_probabilities(model.num_blocks, cfg.sd_pl)
    if cfg.sd_scope == "gated":
        survival = [p if gate >= 0 else 1.0 for p, gate in zip(survival, model.gate_of_block)]
    return survival


def learning_rate(cfg: TrainConfig, epoch: int, progress_in_epoch: float = 0.0) -> float:
    """Learning rate at `epoch` (0-based): step schedule per epoch; cosine or one-cycle per iteration.

    One-cycle: linear warm-up from lr/25 to lr over the first 15% of iterations, then cosine to 0.
    """
    t = (epoch + progress_in_epoch) / cfg.epochs
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * t))
    if cfg.schedule == "onecycle":
        if t < ONECYCLE_WARMUP:
            return cfg.lr * (0.04 + 0.96 * t / ONECYCLE_WARMUP)
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * (t - ONECYCLE_WARMUP) / (1.0 - ONECYCLE_WARMUP)))
    frac = epoch / cfg.epochs
    factor = [f for start, f in STEP_SCHEDULE if frac >= start - 1e-12][-1]
    return cfg.lr * factor


def sd_forward(
    model: nn.Module,
    x: torch.Tensor,
    survival: list[float],
    generator: torch.Generator,
    per_sample: bool = False,
) -> torch.Tensor:
    """Training forward pass with Stochastic Depth (inverse scaling of kept residuals)."""
    kept = None if per_sample else sample_keep(survival, generator)
    x = model.stem(x)
    for i, (block, p) in enumerate(zip(model.blocks, survival)):
        if p >= 1.0:
            x = block(x)
        elif per_sample:
            keep = (torch.rand(x.shape[0], 1, 1, 1, generator=generator) < p).to(x.device, x.dtype)
            x = F.relu(block.shortcut(x) + block.residual(x) * (keep / p))
        elif kept[i]:
            x = F.relu(block.shortcut(x) + block.residual(x) * (1.0 / p))
        else:
            # dropped for this mini-batch: the block is its shortcut (input is post-ReLU, so relu is a no-op)
            x = block.shortcut(x)
    return model.head(x)


def sample_keep(survival: list[float], generator: torch.Generator) -> list[bool]:
    """Which blocks a Stochastic-Depth draw keeps for one mini-batch (one draw per block with p < 1)."""
    return [p >= 1.0 or float(torch.rand((), generator=generator)) < p for p in survival]


def subnet_forward(model: nn.Module, x: torch.Tensor, keep: list[bool]) -> torch.Tensor:
    """Forward pass of the sub-network that runs the kept blocks, unscaled: as at inference."""
    x = model.stem(x)
    for block, kept in zip(model.blocks, keep):
        if kept:
            x = block(x)
    return model.head(x)


def step_loss(
    model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig, survival: list[float], gen
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one training step under `cfg.rule`, and the logits it scores training accuracy with."""
    if cfg.rule == "sd":
        logits = sd_forward(model, xb, survival, gen, per_sample=cfg.sd_mode == "sample")
        return F.cross_entropy(logits, yb), logits
    logits = model(xb)  # the full network, the teacher
    loss = F.cross_entropy(logits, yb)
    soft = logits.detach().softmax(1)
    students = [sample_keep(survival, gen)]
    if cfg.rule == "sandwich":
        students.insert(0, [gate < 0 for gate in model.gate_of_block])  # every gated block skipped
    for keep in students:
        loss = loss + F.cross_entropy(subnet_forward(model, xb, keep), soft)
    return loss, logits


def resolve_data_defaults(cfg: TrainConfig, data: DataSplits) -> TrainConfig:
    """The settings left to the data (validation size, crop padding) filled in from it, so that the
    saved state and the checkpoint record what was used."""
    pad = default_crop_padding(data.image_size) if cfg.crop_padding is None else cfg.crop_padding
    if pad < 0:
        raise TrainingError(f"--crop-padding must be at least 0, got {pad}")
    return dataclasses.replace(cfg, val_size=data.val_size, crop_padding=pad)


def augmentation_warnings(cfg: TrainConfig, data: DataSplits) -> list[str]:
    """Augmentations likely wrong for this data: the caller prints them; training goes on."""
    if not cfg.augment:
        return []
    out = []
    side = min(data.image_size)
    if cfg.crop_padding > side // 4:
        out.append(
            f"--crop-padding {cfg.crop_padding} shifts {side}×{side} images by up to "
            f"{100 * cfg.crop_padding / side:.0f}% of their side; "
            f"{default_crop_padding(data.image_size)} (1/8 of the side, the default) keeps objects in view"
        )
    if cfg.flip and dataset_base(data.name) == "npz":
        out.append(
            "horizontal flips are on for your own data set: if its images are not mirror-symmetric "
            "(digits, text, road signs), train with --no-flip"
        )
    return out


def resolve_device(device: str) -> torch.device:
    """`auto` is cuda when PyTorch sees a GPU, else cpu; an unavailable device is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise TrainingError(f"--device {device!r} is not a device: use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    return dev


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class _Interrupted(Exception):
    pass


class _Running:
    """Loss and correct counts summed where the step runs, moved into `stats` every `every` steps:
    reading them each step would make the host wait for a GPU after every batch."""

    def __init__(self, stats: dict, device: torch.device):
        self.stats = stats
        self.every = 1 if device.type == "cpu" else 50
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += loss.detach() * len(y)
        self.correct += (logits.argmax(1) == y).sum()
        self.seen += len(y)

    def flush(self) -> None:
        if self.seen:
            self.stats["loss_sum"] += float(self.loss)
            self.stats["correct"] += int(self.correct)
            self.stats["seen"] += self.seen
            self.loss.zero_()
            self.correct.zero_()
            self.seen = 0


@dataclass
class RunProgress:
    """Where a run stands, as a mid-epoch save records it: `batch` steps of epoch `epoch` (0-based)
    done, with that epoch's generator and running `stats`; `history` holds one record per finished
    epoch; `elapsed_s` is the training time so far, over every session of the run."""

    epoch: int = 0
    batch: int = 0
    gen: torch.Generator | None = None
    stats: dict | None = None
    history: list = dataclasses.field(default_factory=list)
    elapsed_s: float = 0.0
    running: _Running | None = None

    def state(self, cfg: TrainConfig) -> dict:
        return {
            "config": asdict(cfg),
            "epoch": self.epoch,
            "batch": self.batch,
            "history": self.history,
            "epoch_stats": self.stats,
            "elapsed_s": self.elapsed_s,
        }


def _status(stats: dict, lr: float) -> str:
    seen = max(stats["seen"], 1)
    return (
        f"loss {stats['loss_sum'] / seen:.3f} acc {100 * stats['correct'] / seen:.1f}% "
        f"{stats['seen'] / max(stats['time_s'], 1e-9):.0f} img/s lr {lr:.4g}"
    )


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: DataSplits,
    cfg: TrainConfig,
    survival: list[float],
    run: RunProgress,
    order: torch.Tensor,
    dev: torch.device,
    *,
    on_progress: TaskFn,
    checkpoint: Callable[[], None],
    save_every_s: float,
) -> None:
    """The steps of epoch `run.epoch` from batch `run.batch` to its end, in the image `order` of the
    epoch, updating `run` as they go (`run.gen` and `run.stats` are set by the caller). `checkpoint()`
    saves a mid-epoch state at most every `save_every_s` seconds; `on_progress(batch, status)` gets
    each step's progress."""
    steps = num_batches(len(data.train_y), cfg.batch_size, drop_last=True)
    model.train()
    batches = iterate_batches(
        data.train_x, data.train_y, cfg.batch_size, mean=data.mean, std=data.std, order=order,
        augment=cfg.augment, pad=cfg.crop_padding, flip=cfg.flip, generator=run.gen,
        channels_last=cfg.channels_last, drop_last=True, start=run.batch,
    )  # fmt: skip
    stats = run.stats
    t_step = last_save = time.perf_counter()
    run.running = _Running(stats, dev)
    for xb, yb in batches:
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        lr = learning_rate(cfg, run.epoch, run.batch / steps)
        for group in opt.param_groups:
            group["lr"] = lr
        loss, logits = step_loss(model, xb, yb, cfg, survival, run.gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.batch += 1
        run.running.add(loss, logits, yb)
        now = time.perf_counter()
        stats["time_s"] += now - t_step
        run.elapsed_s += now - t_step
        t_step = now
        if run.batch % run.running.every == 0 or run.batch == steps:
            run.running.flush()
            on_progress(run.batch, _status(stats, lr))
        if now - last_save > save_every_s and run.batch < steps:
            run.running.flush()
            checkpoint()
            last_save = now
    run.running.flush()


def _epoch_record(cfg: TrainConfig, run: RunProgress, val_acc: float, dev: torch.device) -> dict:
    stats = run.stats
    return {
        "epoch": run.epoch + 1,
        "lr": learning_rate(cfg, run.epoch),
        "train_loss": stats["loss_sum"] / max(stats["seen"], 1),
        "train_acc": stats["correct"] / max(stats["seen"], 1),
        "val_acc": val_acc,
        "time_s": stats["time_s"],
        "img_per_s": stats["seen"] / max(stats["time_s"], 1e-9),
        "device": str(dev),  # a resumed run may continue elsewhere (GPU, then CPU)
    }


def checkpoint_metadata(
    cfg: TrainConfig,
    model: nn.Module,
    data: DataSplits,
    survival: list[float],
    run: RunProgress,
    dev: torch.device,
    accuracy_: dict,
    recal_info: dict | None,
) -> dict:
    """The metadata a finished run's checkpoint records: model, data set, recipe, history, accuracy
    (fractions) and the BatchNorm re-estimation."""
    history = run.history
    seen = sum(h["img_per_s"] * h["time_s"] for h in history)
    return {
        "arch": cfg.arch,
        "depth": model.depth,
        "in_channels": data.in_channels,
        "num_classes": data.num_classes,
        "dataset": data.describe(),
        "training": {
            **asdict(cfg),
            "method": "stochastic-depth" if cfg.sd_pl < 1 else "standard",
            **({"init_sha256": read_metadata(cfg.init)["weights_sha256"]} if cfg.init else {}),
            "survival": [round(p, 6) for p in survival],
            "device": ", ".join(dict.fromkeys(h.get("device", str(dev)) for h in history)),
            "scaling": SCALING[cfg.rule],
            "wall_time_s": round(run.elapsed_s, 1),
            "throughput_img_s": round(seen / max(run.elapsed_s, 1e-9), 1),
            "threads": torch.get_num_threads(),
            "history": history,
        },
        "accuracy": accuracy_,
        "bn_recalibration": recal_info,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def start_from(model: nn.Module, init: str | Path) -> None:
    """Load the weights of checkpoint `init` into `model` (fine-tuning); one error if they are not
    of the same architecture, channels and classes."""
    ckpt = load_checkpoint(init)
    theirs, ours = ckpt.model.state_dict(), model.state_dict()
    if set(theirs) != set(ours) or any(theirs[k].shape != v.shape for k, v in ours.items()):
        raise TrainingError(
            f"checkpoint {init} ({ckpt.arch}, {ckpt.meta['in_channels']} channels, {ckpt.meta['num_classes']} classes) "
            "does not fit the model being trained: fine-tune it on the data set it was made for"
        )
    model.load_state_dict(theirs)


def finetune_config(meta: dict, init: str | Path, recipe: str = DEFAULT_RECIPE, **settings) -> TrainConfig:
    """The training settings that fine-tune checkpoint `init` (metadata `meta`) on its own data set
    and splits: `recipe` (Stochastic Depth over the gated blocks, the sandwich rule), overridden by
    `settings`; a lower learning rate and fewer epochs than training from scratch by default."""
    ds = meta["dataset"]
    defaults = {"epochs": 5, "lr": 0.01}
    given = {k: v for k, v in settings.items() if v is not None}
    return TrainConfig.from_recipe(
        recipe, **{**defaults, **given}, arch=meta["arch"], dataset=ds["name"], val_size=ds.get("val_size"),
        split_seed=ds.get("split_seed", 0), init=str(Path(init).resolve()),
    )  # fmt: skip


def _resume(folder: RunFolder, model, opt, cfg: TrainConfig) -> tuple[RunProgress, torch.Tensor | None]:
    """The saved progress of an interrupted run, after checking it was started with `cfg`, and the
    state of its epoch's generator if it stopped mid-epoch."""
    state, extra = folder.load(model, opt)
    saved_cfg = {**LEGACY_FIELDS, **state["config"]}
    diff = [f.name for f in fields(cfg) if saved_cfg.get(f.name) != getattr(cfg, f.name)]
    if diff:
        same = [n for n, r in RECIPES.items() if all(saved_cfg.get(k) == v for k, v in r.items())]
        hint = f" (its recipe is --recipe {same[0]})" if same and set(diff) <= set(RECIPES[same[0]]) else ""
        raise TrainingError(
            f"cannot resume {folder.path}: it was started with different settings ({', '.join(diff)}){hint}; "
            "use the same options, or --force to start over"
        )
    run = RunProgress(state["epoch"], state["batch"], None, state["epoch_stats"], state["history"], state["elapsed_s"])
    return run, extra["rng.epoch"] if run.batch > 0 else None


def _finish(
    folder: RunFolder, model: nn.Module, data: DataSplits, cfg: TrainConfig, survival: list[float],
    run: RunProgress, dev: torch.device, bn_recal: int, listener: TrainListener,
) -> None:  # fmt: skip
    """After the last epoch: re-estimate the BatchNorm statistics, score the model, write the
    checkpoint, and remove the run's state files."""
    out = folder.path
    model.eval()
    recal_info = None
    if bn_recal:
        from explorer.bn import recalibrate_full_depth

        # the last epoch scored this very model on the validation split already
        val_before = run.history[-1]["val_acc"] if run.history else None
        model, recal_info = recalibrate_full_depth(model, data, bn_recal, seed=cfg.seed, val_before=val_before)
        listener.message(
            f"BatchNorm statistics re-estimated on {recal_info['images']} training images: "
            f"val {100 * recal_info['val_before']:.2f}% → {100 * recal_info['val_after']:.2f}%"
        )
    if recal_info is not None:  # the re-estimation scored this very model on both splits already
        val_acc, test_acc = recal_info["val_after"], recal_info["test_after"]
    else:
        val_acc = accuracy(model, data.val_x, data.val_y, mean=data.mean, std=data.std)
        test_acc = accuracy(model, data.test_x, data.test_y, mean=data.mean, std=data.std)
    meta = checkpoint_metadata(cfg, model, data, survival, run, dev, {"val": val_acc, "test": test_acc}, recal_info)
    save_checkpoint(out, model.to("cpu", memory_format=torch.contiguous_format), meta)
    folder.finish()
    load_checkpoint(out)  # the file we wrote must load: fail here, not in a later command
    listener.message(
        f"saved {out}: val {100 * val_acc:.2f}%  test {100 * test_acc:.2f}% (all blocks), {run.elapsed_s / 60:.1f} min",
        "ok",
    )


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    save_every_s: float = 120.0,
    listener: TrainListener | None = None,
    data: DataSplits | None = None,
    bn_recal: int = 2000,
    device: str = "cpu",
) -> Path:
    """Train per `cfg` into `out_dir` (a checkpoint directory); returns it.

    `resume` continues an interrupted run in `out_dir` from its last saved state; `force`
    discards whatever is there. Ctrl-C or SIGTERM save the state before stopping. `bn_recal`:
    re-estimate the full-depth BatchNorm statistics on that many training images at the end
    (0: keep the statistics accumulated during training); accuracy before and after is recorded.
    `device`: where the steps run (cpu, cuda, cuda:N or auto); the checkpoint is the same either way.
    `listener` receives messages and per-epoch progress (default: plain lines on stdout).
    """
    cfg.validate()
    dev = resolve_device(device)
    listener = listener or TrainListener()
    folder = RunFolder(out_dir, STATE_NAME)
    out = folder.path
    start = folder.prepare(resume=resume, force=force)
    if start == "finished":
        listener.message(f"{out} already holds the finished checkpoint; nothing to resume.", "ok")
        return out

    if data is None:
        data = load_dataset(
            cfg.dataset, data_dir, val_size=cfg.val_size, split_seed=cfg.split_seed, limit_train=cfg.limit_train
        )
    elif cfg.limit_train is not None and len(data.train_y) > cfg.limit_train:
        data = dataclasses.replace(
            data, train_x=data.train_x[: cfg.limit_train], train_y=data.train_y[: cfg.limit_train]
        )
    cfg = resolve_data_defaults(cfg, data)
    for warning in augmentation_warnings(cfg, data):
        listener.message(warning, "warning")
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.arch, in_channels=data.in_channels, num_classes=data.num_classes)
    if cfg.init:
        start_from(model, cfg.init)
    model = model.to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    opt = _optimizer(model, cfg)
    survival = scoped_survival(model, cfg)

    run, saved_rng = RunProgress(), None
    if start == "resume":
        run, saved_rng = _resume(folder, model, opt, cfg)
        listener.message(f"Resuming {out} at epoch {run.epoch + 1}, batch {run.batch}")
    steps = num_batches(len(data.train_y), cfg.batch_size, drop_last=True)

    def save() -> None:
        folder.save(model, opt, run.state(cfg), {"rng.epoch": run.gen.get_state()})

    def on_signal(signum, frame):
        raise _Interrupted()

    old_handler = signal.signal(signal.SIGTERM, on_signal)
    try:
        for epoch in range(run.epoch, cfg.epochs):
            run.gen = _epoch_generator(cfg.seed, epoch)
            order = torch.randperm(len(data.train_y), generator=run.gen)
            if saved_rng is not None:  # resumed mid-epoch: the generator continues where it stopped
                run.gen.set_state(saved_rng)
                saved_rng = None
            else:
                run.epoch, run.batch, run.stats = epoch, 0, None
            run.stats = run.stats or {"loss_sum": 0.0, "correct": 0, "seen": 0, "time_s": 0.0}
            with listener.task(f"epoch {epoch + 1}/{cfg.epochs}", steps, run.batch) as on_progress:
                train_epoch(
                    model, opt, data, cfg, survival, run, order, dev,
                    on_progress=on_progress, checkpoint=save, save_every_s=save_every_s,
                )  # fmt: skip
            val_acc = accuracy(model, data.val_x, data.val_y, mean=data.mean, std=data.std)
            record = _epoch_record(cfg, run, val_acc, dev)
            run.history.append(record)
            listener.message(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {record['train_loss']:.4f}  "
                f"train {100 * record['train_acc']:.2f}%  val {100 * val_acc:.2f}%  "
                f"{record['img_per_s']:.0f} img/s  {record['time_s']:.0f} s"
            )
            run.epoch, run.batch, run.stats = epoch + 1, 0, None
            save()
    except (KeyboardInterrupt, _Interrupted):
        if run.running is not None and run.stats is not None:
            run.running.flush()
        if run.gen is not None and run.batch > 0 and run.stats is not None:
            save()
        raise TrainingError(
            f"interrupted at epoch {run.epoch + 1}, batch {run.batch}; progress is saved in {out}: "
            "run the same command with --resume to continue"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, old_handler)

    _finish(folder, model, data, cfg, survival, run, dev, bn_recal, listener)
    return out
