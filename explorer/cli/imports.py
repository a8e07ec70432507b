"""`explorer import-model`: a state dict in torchvision's layout becomes a gated checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from explorer.cli import app
from explorer.cli.common import DataDirOption, ThreadsOption, set_threads


@app.command("import-model")
def import_model_cmd(
    arch: str = typer.Option(
        ..., "--arch", help="Layout of the weights: resnet18, resnet34, resnet50 or mobilenet_v2."
    ),
    weights: Path = typer.Option(
        ...,
        "--weights",
        help="State dict as safetensors (never a pickle). From a .pt file, on a machine that trusts it: "
        "sd = torch.load('m.pt', weights_only=True); safetensors.torch.save_file({k: v.contiguous() for k, v in "
        "sd.items()}, 'm.safetensors').",
    ),
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to create (model.safetensors + metadata.json)."),
    dataset: str = typer.Option(
        "npz",
        "--dataset",
        help="The data set it is evaluated (and fine-tuned) on: npz, fashion-mnist, cifar10, cifar100; "
        "NAME@HxW resizes its images (e.g. fashion-mnist@64x64), NAME@HxWx3 also copies grey into 3 channels "
        "(for weights trained on colour images). Recorded in the checkpoint: later commands read it the same way.",
    ),
    data_dir: Path | None = DataDirOption,
    num_classes: int | None = typer.Option(
        None, "--num-classes", help="Classes of the model (default: the data set's); must match the data set."
    ),
    new_head: bool = typer.Option(
        False, "--new-head", help="Replace a classifier trained for another number of classes by a new one (random)."
    ),
    input_size: tuple[int, int] | None = typer.Option(
        None, "--input-size", help="H W: resize the data set's images to this size (the same as --dataset NAME@HxW)."
    ),
    threads: int | None = ThreadsOption,
) -> None:
    """Import weights in torchvision's layout; the blocks with an identity shortcut become gates.

    Gates: ResNet-18 5 of 8 blocks, ResNet-34 13 of 16, ResNet-50 12 of 16, MobileNetV2 10 of 17
    inverted residuals. Keys and shapes are checked strictly; accuracy at full depth is scored on
    the data set's validation and test splits. Search, export and serve the checkpoint like any
    other."""
    from explorer.checkpoint import load_checkpoint
    from explorer.import_model import import_checkpoint

    set_threads(threads)
    folder = import_checkpoint(arch, weights, out, dataset=dataset, data_dir=data_dir, num_classes=num_classes,
                               new_head=new_head, input_size=input_size)  # fmt: skip
    ckpt = load_checkpoint(folder)
    acc = ckpt.meta["accuracy"]
    head = " (new classifier: fine-tune it)" if ckpt.meta["imported"]["new_head"] else ""
    print(f"imported {ckpt.arch}: {ckpt.num_gates} gates of {ckpt.model.num_blocks} blocks, "
          f"val {100 * acc['val']:.2f}%  test {100 * acc['test']:.2f}% (all blocks){head} → {folder}")  # fmt: skip
