"""The data set registry and seeded train/validation/test splits.

Every data set is held in memory as uint8 images of shape N×H×W×C plus int64 labels. The
validation split is carved from the training set with a seeded permutation: search uses
validation, the test split is only for reporting, so a Pareto front is never selected on test data.

Registry: `DATASETS` maps a name to a reader `(data_dir, download) -> RawData`; add a reader with
`@register_dataset("name")` (the readers of `explorer.data` register themselves on import).

A name may ask for the images resized for a model's input: `fashion-mnist@64x64` (bilinear,
antialiased, back to uint8), `fashion-mnist@64x64x3` (and grey copied to 3 channels, for weights
trained on colour images). The name with its suffix is what checkpoints and bundles record, so
every later command reads the data set the same way.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from explorer.data.files import sha256_file
from explorer.errors import DataError

DEFAULT_VAL_SIZE = 5000
MAX_DEFAULT_VAL_SIZE = 5000


class DataWarning(UserWarning):
    """Data that loads but is likely not what the user meant (the CLI prints it as one line)."""


def default_val_size(n_train: int) -> int:
    """Validation images carved from a training part of `n_train`: 10%, at least 1, at most 5,000."""
    return max(1, min(MAX_DEFAULT_VAL_SIZE, n_train // 10))


@dataclass(frozen=True)
class RawData:
    """A data set as read from disk: uint8 N×H×W×C images, int64 labels, class names, and
    where a user's own file came from (`{"path", "sha256"}`, npz only)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    classes: list[str]
    source: dict | None = None


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits of one data set, with the training normalisation.

    `mean` and `std` are per channel, in units of pixel/255 (fractions), computed on the
    training part only (after the validation split was carved out). `source` names a user's own
    file (absolute path and sha256, npz only), so later commands can find the same data again.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    val_size: int
    split_seed: int
    source: dict | None = None

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[1]), int(self.train_x.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of 'train', 'val' or 'test'."""
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def describe(self) -> dict:
        """JSON-ready description stored in checkpoint metadata."""
        return {
            "name": self.name,
            "image_size": list(self.image_size),
            "channels": self.in_channels,
            "classes": list(self.classes),
            "mean": list(self.mean),
            "std": list(self.std),
            "val_size": self.val_size,
            "split_seed": self.split_seed,
            "train_size": int(len(self.train_y)),
            "test_size": int(len(self.test_y)),
            **({"source": dict(self.source)} if self.source else {}),
        }


DATASETS: dict[str, Callable[[Path | None, bool], RawData]] = {}


def register_dataset(name: str):
    """Decorator: register a reader `(data_dir, download) -> RawData` under `name`."""

    def wrap(fn):
        DATASETS[name] = fn
        return fn

    return wrap


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    val_size: int | None = DEFAULT_VAL_SIZE,
    split_seed: int = 0,
    limit_train: int | None = None,
    download: bool = True,
) -> DataSplits:
    """Read data set `name` and carve a seeded validation split out of its training set.

    `limit_train` keeps only the first N training images (after the split) for quick runs;
    the normalisation is still computed on the whole training part so that it does not
    depend on the limit. `val_size=None`: `default_val_size` of the training part.
    """
    base, size, channels = parse_dataset_name(name)
    raw = DATASETS[base](Path(data_dir) if data_dir else None, download)
    x, y = _prepared(raw.train_x, size, channels, name), raw.train_y
    test_x, test_y = _prepared(raw.test_x, size, channels, name), raw.test_y
    gen = torch.Generator().manual_seed(split_seed)
    if test_x is None:
        # A user's npz without test arrays: hold out a seeded test split first (10%).
        perm = torch.randperm(len(y), generator=gen)
        n_test = max(1, len(y) // 10)
        test_x, test_y = x[perm[:n_test]], y[perm[:n_test]]
        x, y = x[perm[n_test:]], y[perm[n_test:]]
    if val_size is None:
        val_size = default_val_size(len(y))
    if not 0 < val_size < len(y):
        raise DataError(f"--val-size {val_size} must be between 1 and the {len(y)} training images of {name}")
    perm = torch.randperm(len(y), generator=gen)
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    train_x, train_y = x[train_idx], y[train_idx]
    mean, std = channel_stats(train_x)
    if limit_train is not None:
        if limit_train < 1:
            raise DataError(f"--limit-train must be positive, got {limit_train}")
        train_x, train_y = train_x[:limit_train], train_y[:limit_train]
    return DataSplits(
        name=name,
        train_x=train_x,
        train_y=train_y,
        val_x=x[val_idx],
        val_y=y[val_idx],
        test_x=test_x,
        test_y=test_y,
        classes=raw.classes,
        mean=mean,
        std=std,
        val_size=val_size,
        split_seed=split_seed,
        source=raw.source,
    )


_SUFFIX = re.compile(r"(\d+)x(\d+)(?:x(\d+))?")


def parse_dataset_name(name: str) -> tuple[str, tuple[int, int] | None, int | None]:
    """`fashion-mnist@64x64x3` → ("fashion-mnist", (64, 64), 3); no suffix → (name, None, None)."""
    base, at, suffix = name.partition("@")
    if base not in DATASETS:
        raise DataError(f"unknown data set {base!r}: choose one of {', '.join(sorted(DATASETS))}")
    if not at:
        return base, None, None
    m = _SUFFIX.fullmatch(suffix)
    if not m or int(m[1]) < 1 or int(m[2]) < 1 or (m[3] is not None and int(m[3]) not in (1, 3)):
        raise DataError(
            f"data set {name!r}: after '@' give the image size as HxW, optionally xC with C = 1 or 3 "
            f"(e.g. {base}@64x64 or {base}@64x64x3)"
        )
    return base, (int(m[1]), int(m[2])), None if m[3] is None else int(m[3])


def dataset_base(name: str) -> str:
    """The registered reader behind a data set name (`npz@64x64` → `npz`)."""
    return name.partition("@")[0]


def _prepared(x: torch.Tensor | None, size, channels, name: str, chunk: int = 1024) -> torch.Tensor | None:
    """uint8 N×H×W×C images resized to `size` (bilinear, antialiased) and/or with C copied to
    `channels`; done in chunks so that a large set never exists in float32 at once."""
    if x is None or (size is None and channels is None):
        return x
    c = int(x.shape[3])
    if channels not in (None, c) and c != 1:
        raise DataError(f"data set {name!r}: its images have {c} channels; only 1-channel images are copied to 3")
    h, w = size or (int(x.shape[1]), int(x.shape[2]))
    out = torch.empty((len(x), h, w, channels or c), dtype=torch.uint8)
    for i in range(0, len(x), chunk):
        xb = x[i : i + chunk].permute(0, 3, 1, 2).float()
        if (h, w) != tuple(xb.shape[2:]):
            xb = F.interpolate(xb, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        xb = xb.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        out[i : i + chunk] = xb.expand(-1, -1, -1, out.shape[3]) if xb.shape[3] != out.shape[3] else xb
    return out


def recorded_npz(dataset: dict, where: str | Path) -> Path:
    """The npz file a checkpoint was trained on (`dataset` is its metadata's data set), if it is
    still at the recorded path with the recorded sha256; else one error telling what to pass."""
    source = dataset.get("source") or {}
    if "path" not in source or "sha256" not in source:
        raise DataError(
            f"checkpoint {where} was trained on an npz file whose path was not recorded (made by an older "
            "skip-explorer): pass --data-dir pointing at that .npz file"
        )
    path = Path(source["path"])
    if not path.is_file():
        raise DataError(
            f"checkpoint {where} was trained on {path}, which is no longer there: pass --data-dir pointing "
            "at that .npz file where it is now"
        )
    got = sha256_file(path)
    if got != source["sha256"]:
        raise DataError(
            f"{path} has changed since checkpoint {where} was trained on it (sha256 {got[:12]}…, recorded "
            f"{source['sha256'][:12]}…): its validation and test splits are no longer the ones held out in "
            "training; restore the file, or pass --data-dir pointing at the data it was trained on"
        )
    return path


def check_data_fits(data: DataSplits, meta: dict, where: str | Path) -> None:
    """One error when `data` is not what the checkpoint with metadata `meta` takes: another number
    of channels or classes, or another image size (a size is only compared where it was recorded)."""
    expected, found = [], []
    if data.in_channels != meta["in_channels"]:
        expected.append(f"{meta['in_channels']}-channel images")
        found.append(f"{data.in_channels}-channel images")
    recorded = meta.get("dataset", {}).get("image_size")
    if recorded is not None and tuple(int(v) for v in recorded) != data.image_size:
        expected.append("{}×{} images".format(*recorded))
        found.append("{}×{} images".format(*data.image_size))
    if data.num_classes != meta["num_classes"]:
        expected.append(f"{meta['num_classes']} classes")
        found.append(f"{data.num_classes} classes")
    if expected:
        origin = f" ({data.source['path']})" if data.source else ""
        raise DataError(
            f"checkpoint {where} expects {', '.join(expected)}, but data set {data.name}{origin} here has "
            f"{', '.join(found)}: pass the --data-dir of the data set it was trained on"
        )


def load_recorded_splits(ds: dict, data_dir: str | Path | None, where: str | Path) -> DataSplits:
    """Data set `ds["name"]` split as training recorded in `ds` (its `val_size`, `split_seed`); without
    `data_dir`, an npz data set comes from the recorded file (`recorded_npz`; `where` names the model)."""
    if data_dir is None and dataset_base(ds["name"]) == "npz":
        data_dir = recorded_npz(ds, where)
    return load_dataset(
        ds["name"], data_dir, val_size=ds.get("val_size", DEFAULT_VAL_SIZE), split_seed=ds.get("split_seed", 0)
    )


def load_checkpoint_data(meta: dict, data_dir: str | Path | None, where: str | Path) -> DataSplits:
    """The data set a checkpoint (metadata `meta`, at `where`) was trained on, split exactly as in
    training, and checked to fit the model (channels, classes, image size).

    Without `data_dir`, an npz data set is read from the path recorded at training time if its
    sha256 still matches. With `data_dir` pointing at another npz file than the recorded one, a
    DataWarning says that its splits are not the ones of training.
    """
    ds = meta["dataset"]
    data = load_recorded_splits(ds, data_dir, where)
    check_data_fits(data, meta, where)
    recorded = (ds.get("source") or {}).get("sha256")
    if recorded and data.source and data.source["sha256"] != recorded:
        warnings.warn(
            f"{data.source['path']} is not the file checkpoint {where} was trained on (sha256 differs): "
            "its validation split may hold training images, so accuracy on it can be too high",
            DataWarning,
            stacklevel=2,
        )
    return data


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 N×H×W×C images, as fractions of 255."""
    c = x.shape[3]
    flat = x.reshape(-1, c).to(torch.float64) / 255.0
    mean = flat.mean(0)
    std = flat.std(0).clamp_min(1e-6)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)
