"""Bring your own model: a state dict in torchvision's layout (safetensors) → one of our checkpoints.

Only safetensors files are read (never a pickle: a `.pt` file can run code when loaded). A user
with a `.pt` state dict converts it on their own machine, where they trust it:

    import torch, safetensors.torch
    sd = torch.load("resnet18.pt", map_location="cpu", weights_only=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, "resnet18.safetensors")

The keys and shapes are checked strictly against our module of the same layout; the first
mismatch is one error that names it. The classifier may be replaced (`new_head`) when the
weights were trained for another number of classes, and only then.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file

from explorer.checkpoint import METADATA_FILE, save_checkpoint
from explorer.data import DataSplits, check_data_fits, dataset_base, load_dataset, parse_dataset_name, sha256_file
from explorer.errors import CheckpointError, ConfigError, DataError
from explorer.models import create_model
from explorer.models.predict import accuracy

# torchvision's builder name → (our architecture, key of its first convolution, key of its classifier)
LAYOUTS = {
    "resnet18": ("tv-resnet18", "conv1.weight", "fc"),
    "resnet34": ("tv-resnet34", "conv1.weight", "fc"),
    "resnet50": ("tv-resnet50", "conv1.weight", "fc"),
    "mobilenet_v2": ("tv-mobilenet_v2", "features.0.0.weight", "classifier.1"),
}
COUNTER = "num_batches_tracked"  # BatchNorm's step counter: unused in eval, absent from some exports


def _shape(t) -> str:
    return "×".join(map(str, t.shape)) or "scalar"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; anything else is one clear error."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no weights file at {p}: pass --weights FILE.safetensors")
    try:
        return load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        hint = " (a pickled .pt/.pth file? convert it to safetensors first: see `explorer import-model --help`)"
        raise CheckpointError(f"{p} is not a safetensors file{hint}: {e}") from None


def _missing(given: dict, key: str, what: str, layout: str) -> CheckpointError:
    """The error for a key `given` lacks, with the likely reason (a prefix such as DataParallel's
    "module.", or another architecture)."""
    prefixed = [k for k in given if k.endswith("." + key)]
    if prefixed:
        return CheckpointError(
            f"{what}; its keys carry a prefix ({prefixed[0][: -len(key)]!r}): strip it before saving"
        )
    return CheckpointError(f"{what}; is it a torchvision {layout} state dict?")


def check_layout(state: dict[str, torch.Tensor], model: nn.Module, layout: str, where: str, skip: tuple = ()) -> None:
    """Raise on the first key or shape of `state` that differs from `model`'s (in `model`'s order);
    keys starting with one of `skip` are not compared."""
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}
    given = {k: v for k, v in state.items() if not k.startswith(skip)}
    for key, want in expected.items():
        if key not in given:
            if key.endswith(COUNTER):
                continue
            raise _missing(given, key, f"{where} lacks {key!r} ({_shape(want)} in torchvision's {layout})", layout)
        if given[key].shape != want.shape:
            raise CheckpointError(
                f"{where}: {key!r} is {_shape(given[key])}, but torchvision's {layout} has {_shape(want)} there: "
                "another architecture or width"
            )
    extra = [k for k in given if k not in expected]
    if extra:
        raise CheckpointError(
            f"{where} has {extra[0]!r}{f' and {len(extra) - 1} more' if len(extra) > 1 else ''}, "
            f"which torchvision's {layout} does not: another architecture?"
        )


def import_torchvision(
    layout: str, weights: str | Path, *, num_classes: int | None = None, new_head: bool = False
) -> tuple[nn.Module, dict]:
    """Our gated model of torchvision layout `layout` holding the weights in `weights`
    (safetensors), in eval mode, and what the checkpoint records about where it came from."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    arch, first_conv, head = LAYOUTS[layout]
    state = read_state_dict(weights)
    where = str(weights)
    if first_conv not in state or state[first_conv].dim() != 4:
        raise _missing(state, first_conv, f"{where} lacks {first_conv!r}", layout)
    in_channels = int(state[first_conv].shape[1])
    head_w = state.get(f"{head}.weight")
    file_classes = int(head_w.shape[0]) if head_w is not None and head_w.dim() == 2 else None
    classes = num_classes or file_classes
    if classes is None:
        raise _missing(state, f"{head}.weight", f"{where} lacks {head + '.weight'!r}", layout)
    model = create_model(arch, in_channels=in_channels, num_classes=classes)
    replace = new_head and file_classes != classes
    if file_classes != classes and not new_head:
        raise CheckpointError(
            f"{where} classifies {file_classes} classes, not {classes}: pass --new-head to start a new "
            f"{classes}-class classifier (then fine-tune it), or use data with {file_classes} classes"
        )
    check_layout(state, model, layout, where, skip=(f"{head}.",) if replace else ())
    own = model.state_dict()
    load = {k: v.to(own[k].dtype) for k, v in state.items() if k in own and not (replace and k.startswith(head + "."))}
    model.load_state_dict(load, strict=False)  # strictness is check_layout's; absent counters stay 0
    model.eval()
    record = {
        "layout": f"torchvision {layout}",
        "weights": str(Path(weights).resolve()),
        "sha256": sha256_file(Path(weights)),
        "classes_in_file": file_classes,
        "new_head": bool(replace),
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return model, record


def import_checkpoint(
    layout: str,
    weights: str | Path,
    out: str | Path,
    *,
    dataset: str,
    data_dir: str | Path | None = None,
    num_classes: int | None = None,
    new_head: bool = False,
    input_size: tuple[int, int] | None = None,
    data: DataSplits | None = None,
) -> Path:
    """Import `weights` (torchvision layout `layout`) as a checkpoint in `out` for data set
    `dataset`: layout and data checked, accuracy at full depth scored on val and test (fractions).
    An `out` that holds a checkpoint already is refused (nothing is overwritten)."""
    if (Path(out) / METADATA_FILE).exists():
        raise CheckpointError(f"{out} already holds a checkpoint: choose another --out, or remove it first")
    if input_size is not None:
        base, size, channels = parse_dataset_name(dataset)
        if size is not None and size != tuple(input_size):
            raise DataError(
                f"--input-size {input_size[0]} {input_size[1]} and --dataset {dataset} ask for two sizes: give one"
            )
        dataset = f"{base}@{input_size[0]}x{input_size[1]}" + (f"x{channels}" if channels else "")
    data = data or load_dataset(dataset, data_dir, val_size=None)  # as training: 10 %, at most 5,000
    model, record = import_torchvision(layout, weights, num_classes=num_classes or data.num_classes, new_head=new_head)
    if _in_channels(model) == 3 and data.in_channels == 1:
        h, w = data.image_size
        raise DataError(
            f"the weights take 3-channel images and data set {data.name} has 1 channel: "
            f"--dataset {dataset_base(data.name)}@{h}x{w}x3 copies its grey into 3 channels"
        )
    meta = {"arch": LAYOUTS[layout][0], "depth": model.depth, "in_channels": _in_channels(model),
            "num_classes": _num_classes(model), "dataset": data.describe()}  # fmt: skip
    check_data_fits(data, meta, weights)
    kw = {"mean": data.mean, "std": data.std}
    meta |= {
        "imported": record,
        "training": {"method": "imported", "sd_pl": 1.0, "epochs": 0, "seed": None},
        "accuracy": {
            "val": accuracy(model, *data.split("val"), **kw),
            "test": accuracy(model, *data.split("test"), **kw),
        },
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_checkpoint(out, model, meta)


def _in_channels(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels


def _num_classes(model: nn.Module) -> int:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features
