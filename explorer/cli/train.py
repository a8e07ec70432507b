"""`explorer train`: Stochastic Depth (or standard) training of a gated ResNet."""

from __future__ import annotations

from pathlib import Path

import typer

from explorer.cli import app
from explorer.cli.common import ConsoleTrainListener, DataDirOption, ThreadsOption, set_threads
from explorer.training import DEFAULT_RECIPE, RECIPES, TrainConfig, train


@app.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to create (model.safetensors + metadata.json)."),
    arch: str = typer.Option(
        "resnet20",
        "--arch",
        help="resnet<6n+2>: resnet20, resnet32, resnet44, resnet56, resnet110, …; or torchvision's layouts "
        "tv-resnet18, tv-resnet34, tv-resnet50, tv-mobilenet_v2 (the blocks with an identity shortcut are gated).",
    ),
    dataset: str = typer.Option(
        "fashion-mnist",
        "--dataset",
        help="fashion-mnist, cifar10, cifar100 or npz; NAME@HxW resizes the images (fashion-mnist@64x64), "
        "NAME@HxWx3 also copies grey into 3 channels.",
    ),
    data_dir: Path | None = DataDirOption,
    epochs: int | None = typer.Option(
        None, "--epochs", help="Training epochs; the schedule scales with them (default: 30; SkipNet 4)."
    ),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(
        0.1, "--lr", help="Initial learning rate (SGD, momentum 0.9, weight decay 1e-4; SkipNet: default 0.01)."
    ),
    recipe: str = typer.Option(
        DEFAULT_RECIPE,
        "--recipe",
        help=f"Settings of --schedule, --sd-scope and --rule where they are not given. {DEFAULT_RECIPE}: "
        + ", ".join(f"{k} {v}" for k, v in RECIPES[DEFAULT_RECIPE].items())
        + " (the recipe study's winner, docs/benchmarks.md); paper: "
        + ", ".join(f"{k} {v}" for k, v in RECIPES["paper"].items())
        + " (Stochastic Depth as the paper trained it).",
    ),
    schedule: str | None = typer.Option(
        None,
        "--schedule",
        help="step: lr, lr/10 from 50%, lr/1000 from 85% of the epochs; cosine: per iteration; "
        "onecycle: linear warm-up from lr/25 over 15% of the iterations, then cosine to 0 (default: the recipe's).",
    ),
    sd_scope: str | None = typer.Option(
        None,
        "--sd-scope",
        help="Blocks Stochastic Depth drops: all, or gated (only those a skip vector can skip; default: the recipe's).",
    ),
    rule: str | None = typer.Option(
        None,
        "--rule",
        help="Training step. sd: one Stochastic-Depth sample per batch (the paper); distill: the full network "
        "learns from the labels and one sampled sub-network from its soft output; sandwich: distill plus the "
        "network with every gated block skipped (default: the recipe's).",
    ),
    device: str = typer.Option("cpu", "--device", help="Where the steps run: cpu, cuda, cuda:N or auto."),
    sd_pl: float = typer.Option(
        0.5, "--sd-pl", help="Stochastic Depth survival probability of the last block p_L; 1 = standard training."
    ),
    sd_mode: str = typer.Option(
        "batch", "--sd-mode", help="batch: drop a block for the whole mini-batch; sample: per image."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, shuffling, augmentation and drops."),
    val_size: int | None = typer.Option(
        None, "--val-size", help="Validation images carved from the training set (default: 10%, at most 5,000)."
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the validation split."),
    limit_train: int | None = typer.Option(None, "--limit-train", help="Use only the first N training images."),
    augment: bool = typer.Option(
        True, "--augment/--no-augment", help="Random crop (zero padding) and horizontal flip; --no-augment: neither."
    ),
    crop_padding: int | None = typer.Option(
        None, "--crop-padding", help="Padding in pixels for the random crop (default: 1/8 of the smaller image side)."
    ),
    flip: bool = typer.Option(
        True, "--flip/--no-flip", help="Random horizontal flips (--no-flip for digits, text and other asymmetric data)."
    ),
    channels_last: bool = typer.Option(
        True, "--channels-last/--no-channels-last", help="NHWC memory layout (faster on CPU)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    force: bool = typer.Option(False, "--force", help="Discard whatever --out holds and start over."),
    save_every: float = typer.Option(
        120.0, "--save-every", help="Seconds between mid-epoch saves of the training state."
    ),
    bn_recal: int = typer.Option(
        2000, "--bn-recal", help="At the end, re-estimate BatchNorm statistics on N training images (0: off)."
    ),
    method: str = typer.Option(
        "sd", "--method", help="sd: Stochastic Depth / standard training; skipnet: the SkipNet baseline from --init."
    ),
    init: Path | None = typer.Option(None, "--init", help="SkipNet: the trained ResNet checkpoint it starts from."),
    sp_epochs: int = typer.Option(1, "--sp-epochs", help="SkipNet: supervised pre-training epochs (soft gates)."),
    alpha: float = typer.Option(
        0.3, "--alpha", help="SkipNet: weight of the computation penalty (fraction of gated blocks executed)."
    ),
    threads: int | None = ThreadsOption,
) -> None:
    """Train a skip-resilient ResNet with Stochastic Depth (or the SkipNet baseline); resumable with --resume."""
    set_threads(threads)
    if method == "skipnet":
        from explorer.errors import TrainingError
        from explorer.skipnet.training import SkipNetConfig, train_skipnet

        if init is None:
            raise TrainingError("--method skipnet needs --init: the trained ResNet checkpoint SkipNet starts from")
        scfg = SkipNetConfig(
            init=str(init), epochs=epochs or 4, sp_epochs=sp_epochs, alpha=alpha,
            lr=lr if lr != 0.1 else 0.01, batch_size=batch_size, seed=seed, limit_train=limit_train, augment=augment,
        )  # fmt: skip
        train_skipnet(scfg, out, data_dir=data_dir, resume=resume, force=force, listener=ConsoleTrainListener())
        return
    if method != "sd":
        from explorer.errors import TrainingError

        raise TrainingError(f"--method must be 'sd' or 'skipnet', not {method!r}")
    cfg = TrainConfig.from_recipe(
        recipe,
        arch=arch, dataset=dataset, epochs=epochs or 30, batch_size=batch_size, lr=lr, schedule=schedule,
        sd_pl=sd_pl, sd_mode=sd_mode, seed=seed, val_size=val_size, split_seed=split_seed,
        limit_train=limit_train, augment=augment, crop_padding=crop_padding, flip=augment and flip,
        channels_last=channels_last, sd_scope=sd_scope, rule=rule,
    )  # fmt: skip
    train(
        cfg, out, data_dir=data_dir, resume=resume, force=force, save_every_s=save_every, bn_recal=bn_recal,
        device=device, listener=ConsoleTrainListener(),
    )  # fmt: skip


@app.command("recalibrate")
def recalibrate_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint directory."),
    out: Path | None = typer.Option(None, "--out", help="Write the recalibrated checkpoint here."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace the checkpoint itself (its sha256 changes)."),
    images: int = typer.Option(2000, "--images", help="Training images to estimate the statistics on."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration images."),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
) -> None:
    """Re-estimate a checkpoint's full-depth BatchNorm statistics (no weight changes)."""
    from explorer.bn import recalibrate_full_depth
    from explorer.checkpoint import save_checkpoint
    from explorer.cli.common import load_for_checkpoint
    from explorer.errors import CheckpointError

    if (out is None) == (not in_place):
        raise CheckpointError("give either --out DIR or --in-place")
    set_threads(threads)
    ckpt, data = load_for_checkpoint(checkpoint, data_dir)
    model, info = recalibrate_full_depth(ckpt.model, data, images, seed)
    meta = {
        k: v for k, v in ckpt.meta.items() if k not in ("format", "format_version", "weights_sha256", "weights_file")
    }
    meta["accuracy"] = {"val": info["val_after"], "test": info["test_after"]}
    meta["bn_recalibration"] = info
    dest = save_checkpoint(checkpoint if in_place else out, model, meta)
    print(
        f"wrote {dest}: val {100 * info['val_before']:.2f}% → {100 * info['val_after']:.2f}%, "
        f"test {100 * info['test_before']:.2f}% → {100 * info['test_after']:.2f}% (all blocks)"
    )


@app.command("finetune")
def finetune_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="The checkpoint to fine-tune (e.g. from import-model)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to create."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: 5)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: 0.01)."),
    sd_pl: float | None = typer.Option(
        None, "--sd-pl", help="Stochastic Depth survival probability of the last gated block (default: 0.5)."
    ),
    recipe: str = typer.Option(
        DEFAULT_RECIPE,
        "--recipe",
        help=f"As for explorer train (default {DEFAULT_RECIPE}: sandwich over the gated blocks).",
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Default: 128."),
    limit_train: int | None = typer.Option(None, "--limit-train", help="Use only the first N training images."),
    data_dir: Path | None = DataDirOption,
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    force: bool = typer.Option(False, "--force", help="Discard whatever --out holds and start over."),
    bn_recal: int = typer.Option(
        2000, "--bn-recal", help="At the end, re-estimate BatchNorm statistics on N training images (0: off)."
    ),
    threads: int | None = ThreadsOption,
) -> None:
    """Fine-tune a checkpoint with Stochastic Depth over its gated blocks, on its own data and splits;
    resumable with --resume. Then search it with --bn-recal for per-configuration statistics."""
    from explorer.cli.common import load_for_checkpoint
    from explorer.training import finetune_config

    set_threads(threads)
    ckpt, data = load_for_checkpoint(checkpoint, data_dir)
    cfg = finetune_config(ckpt.meta, ckpt.path, recipe, epochs=epochs, lr=lr, sd_pl=sd_pl, batch_size=batch_size,
                          limit_train=limit_train)  # fmt: skip
    train(cfg, out, data=data, resume=resume, force=force, bn_recal=bn_recal, device=device,
          listener=ConsoleTrainListener())  # fmt: skip
    # the stored BatchNorm statistics are the full network's; a model fine-tuned to skip needs its
    # skipped configurations measured with their own (sandwich: stock ones can fall to chance)
    print(
        f"next: explorer search --checkpoint {out} --bn-recal 2000 … (per-configuration BatchNorm statistics; "
        "the stored ones fit the full network only)"
    )
