"""Data sets by name, seeded train/validation/test splits, and a fast in-memory batch iterator.

Every data set is held in memory as uint8 images of shape N×H×W×C plus int64 labels; batches
are normalised (and augmented, for training) on the fly in plain torch. The validation split is
carved from the training set with a seeded permutation: search uses validation, the test split
is only for reporting, so a Pareto front is never selected on test data.

Registry: `DATASETS` maps a name to a reader `(data_dir, download) -> RawData`; add a reader with
`@register_dataset("name")`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import DataError

DEFAULT_VAL_SIZE = 5000
MAX_DEFAULT_VAL_SIZE = 5000
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def cache_dir() -> Path:
    """Where downloads go: $EXPLORER_DATA_DIR, else ~/.cache/skip-explorer/data."""
    env = os.environ.get("EXPLORER_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "skip-explorer" / "data"


class DataWarning(UserWarning):
    """Data that loads but is likely not what the user meant (the CLI prints it as one line)."""


def default_crop_padding(image_size: tuple[int, int]) -> int:
    """Zero padding of the random-crop augmentation for images of `image_size` (H, W): 1/8 of
    the smaller side, rounded down (32 → 4, the CIFAR recipe; 28 → 3; 8 → 1; under 8 → 0)."""
    h, w = image_size
    if h < 1 or w < 1:
        raise DataError(f"image size {h}×{w} must be positive")
    return min(h, w) // 8


def default_val_size(n_train: int) -> int:
    """Validation images carved from a training part of `n_train`: 10%, at least 1, at most 5,000."""
    return max(1, min(MAX_DEFAULT_VAL_SIZE, n_train // 10))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}: choose one of {', '.join(sorted(DATASETS))}")
    raw = DATASETS[name](Path(data_dir) if data_dir else None, download)
    x, y = raw.train_x, raw.train_y
    test_x, test_y = raw.test_x, raw.test_y
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


def load_checkpoint_data(meta: dict, data_dir: str | Path | None, where: str | Path) -> DataSplits:
    """The data set a checkpoint (metadata `meta`, at `where`) was trained on, split exactly as in
    training, and checked to fit the model (channels, classes, image size).

    Without `data_dir`, an npz data set is read from the path recorded at training time if its
    sha256 still matches. With `data_dir` pointing at another npz file than the recorded one, a
    DataWarning says that its splits are not the ones of training.
    """
    ds = meta["dataset"]
    if data_dir is None and ds["name"] == "npz":
        data_dir = recorded_npz(ds, where)
    data = load_dataset(
        ds["name"], data_dir, val_size=ds.get("val_size", DEFAULT_VAL_SIZE), split_seed=ds.get("split_seed", 0)
    )
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


# ---------------------------------------------------------------------------------------------
# Batches


def normalize(xb: torch.Tensor, mean, std, channels_last: bool = False) -> torch.Tensor:
    """uint8 B×H×W×C → float32 B×C×H×W, normalised with per-channel mean/std (fractions)."""
    out = xb.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    out = out.sub_(m).div_(s)
    if channels_last:
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()


def random_crop_flip(xb: torch.Tensor, pad: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the zero-padded image (pad pixels each side) and random horizontal flip.

    Works on a whole uint8 B×H×W×C batch at once with one gather, no per-image Python loop.
    """
    b, h, w, _ = xb.shape
    if pad > 0:
        padded = F.pad(xb, (0, 0, pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    else:
        padded = xb
        oy = ox = torch.zeros(b, dtype=torch.long)
    rows = oy[:, None] + torch.arange(h)
    cols = ox[:, None] + torch.arange(w)
    if flip:
        mirrored = torch.rand(b, generator=generator) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    return padded[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    mean,
    std,
    order: torch.Tensor | None = None,
    augment: bool = False,
    pad: int = 4,
    flip: bool = True,
    generator: torch.Generator | None = None,
    channels_last: bool = False,
    drop_last: bool = False,
    start: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised (images, labels) batches; `order` is a permutation for shuffling.

    `start` skips the first `start` batches (used when resuming mid-epoch).
    """
    n = len(y)
    idx_all = order if order is not None else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n > batch_size else n
    for i in range(start * batch_size, stop, batch_size):
        idx = idx_all[i : i + batch_size]
        xb = x[idx]
        if augment:
            xb = random_crop_flip(xb, pad, flip, generator)
        yield normalize(xb, mean, std, channels_last), y[idx]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    if drop_last and n > batch_size:
        return n // batch_size
    return -(-n // batch_size)


# ---------------------------------------------------------------------------------------------
# File helpers


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str) -> Path:
    """Download `url` to `dest` (via a .part file) and check its md5; a bad file is removed."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                transient=True,
            ) as progress:
                task = progress.add_task(f"download {dest.name}", total=total)
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
    except OSError as e:
        part.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url} ({e}); download it by hand into {dest.parent} "
            "or pass --data-dir pointing at a folder that holds the files"
        ) from None
    got = md5_of(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} is corrupt: md5 {got}, expected {md5}; try again")
    part.replace(dest)
    return dest


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (idx format)

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
# file stem -> (md5 of the official .gz, sha256 of the decompressed idx bytes)
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte": (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train-labels-idx1-ubyte": (
        "25c81989df183df01b3e8a0aad5dffbe",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "t10k-images-idx3-ubyte": (
        "bef4ecab320f06d8554ea6380940ec79",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte": (
        "bb300cfdad3c16e7a12a480ee83cd310",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_bytes(data: bytes, path: Path) -> np.ndarray:
    """Parse the idx format (big-endian header: 0, 0, dtype code, ndim, then ndim uint32 dims)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataError(f"{path} is not an idx file (bad magic number); re-download it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (incomplete header); re-download it")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path} has {len(data)} bytes but its header promises {expected}: "
            "the file is truncated or corrupt; re-download it"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx(path: Path, sha256: str | None = None) -> np.ndarray:
    """Read an idx file, gzipped or not; optionally check the sha256 of the decompressed bytes."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read {path} ({e}): the file is truncated or corrupt; re-download it") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(
            f"{path} does not hold the official data (sha256 mismatch): it is corrupt or another "
            "data set; delete it and re-download, or use the npz data set for your own data"
        )
    return read_idx_bytes(data, path)


def _find_fashion_mnist(data_dir: Path | None, allow_download: bool) -> dict[str, Path]:
    """Locate the 4 idx files: --data-dir, the Debian package folder, the cache, else download."""
    candidates = []
    if data_dir is not None:
        candidates += [data_dir, data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw"]
    else:
        candidates += [DEBIAN_FASHION_MNIST, cache_dir() / "fashion-mnist"]
    for folder in candidates:
        found = {}
        for stem in FASHION_MNIST_FILES:
            for name in (stem + ".gz", stem):
                if (folder / name).is_file():
                    found[stem] = folder / name
                    break
        if len(found) == len(FASHION_MNIST_FILES):
            return found
        if found and data_dir is not None:
            missing = sorted(set(FASHION_MNIST_FILES) - set(found))
            raise DataError(f"{folder} lacks Fashion-MNIST file(s) {', '.join(missing)} (.gz or raw)")
    if data_dir is not None:
        raise DataError(
            f"no Fashion-MNIST idx files in {data_dir}: put train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there"
        )
    if not allow_download:
        raise DataError(
            "Fashion-MNIST not found: install it with `apt-get install dataset-fashion-mnist` "
            f"(puts it in {DEBIAN_FASHION_MNIST}) or pass --data-dir"
        )
    folder = cache_dir() / "fashion-mnist"
    return {
        stem: download(FASHION_MNIST_URL + stem + ".gz", folder / (stem + ".gz"), md5)
        for stem, (md5, _) in FASHION_MNIST_FILES.items()
    }


@register_dataset("fashion-mnist")
def read_fashion_mnist(data_dir: Path | None, allow_download: bool = True) -> RawData:
    """Fashion-MNIST: 60,000 train and 10,000 test 28×28 grey images, 10 classes."""
    files = _find_fashion_mnist(data_dir, allow_download)
    arrays = {stem: read_idx(path, FASHION_MNIST_FILES[stem][1]) for stem, path in files.items()}
    return RawData(
        train_x=torch.from_numpy(arrays["train-images-idx3-ubyte"].copy()).unsqueeze(-1),
        train_y=torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64)),
        test_x=torch.from_numpy(arrays["t10k-images-idx3-ubyte"].copy()).unsqueeze(-1),
        test_y=torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)),
        classes=list(FASHION_MNIST_CLASSES),
    )


# ---------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100: binary or python version, archive or unpacked folder

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"


@dataclass(frozen=True)
class CifarSpec:
    name: str
    bin_archive: str
    bin_md5: str
    bin_folder: str
    bin_train: tuple[str, ...]
    bin_test: str
    bin_label_bytes: int  # CIFAR-100 records carry (coarse, fine) labels
    bin_names: str
    py_archive: str
    py_md5: str
    py_folder: str
    py_train: tuple[str, ...]
    py_test: str
    py_meta: str
    py_label_key: str
    py_names_key: str
    num_classes: int
    bin_coarse_classes: int = 0  # CIFAR-100 binary records: coarse label (0…19) before the fine one


CIFAR10 = CifarSpec(
    name="cifar10",
    bin_archive="cifar-10-binary.tar.gz",
    bin_md5="c32a1d4ab5d03f1284b67883e8d87530",
    bin_folder="cifar-10-batches-bin",
    bin_train=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    bin_test="test_batch.bin",
    bin_label_bytes=1,
    bin_names="batches.meta.txt",
    py_archive="cifar-10-python.tar.gz",
    py_md5="c58f30108f718f92721af3b95e74349a",
    py_folder="cifar-10-batches-py",
    py_train=tuple(f"data_batch_{i}" for i in range(1, 6)),
    py_test="test_batch",
    py_meta="batches.meta",
    py_label_key="labels",
    py_names_key="label_names",
    num_classes=10,
)
CIFAR100 = CifarSpec(
    name="cifar100",
    bin_archive="cifar-100-binary.tar.gz",
    bin_md5="03b5dce01913d631647c71ecec9e9cb8",
    bin_folder="cifar-100-binary",
    bin_train=("train.bin",),
    bin_test="test.bin",
    bin_label_bytes=2,
    bin_names="fine_label_names.txt",
    py_archive="cifar-100-python.tar.gz",
    py_md5="eb9058c3a382ffc7106e4002c42a8d85",
    py_folder="cifar-100-python",
    py_train=("train",),
    py_test="test",
    py_meta="meta",
    py_label_key="fine_labels",
    py_names_key="fine_label_names",
    num_classes=100,
    bin_coarse_classes=20,
)


class CifarUnpickler(pickle.Unpickler):
    """Admits only what the CIFAR python files hold: dicts, lists, str/bytes, numpy uint8 arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        if name == "encode":
            import codecs

            return codecs.encode
        return getattr(np, name)


def read_cifar_pickle(data: bytes, where: str) -> dict:
    try:
        obj = CifarUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as e:  # any parse failure of an untrusted file is a data error
        raise DataError(f"{where} is not a valid CIFAR python batch ({e}); re-download it") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where} is not a valid CIFAR python batch (not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_images(flat: np.ndarray, where: str) -> torch.Tensor:
    if flat.ndim != 2 or flat.shape[1] != 3072:
        raise DataError(f"{where}: expected N×3072 image rows, got shape {flat.shape}")
    # rows hold the red, green and blue 32×32 planes one after another
    return torch.from_numpy(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy())


def parse_cifar_binary(data: bytes, label_bytes: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary version: records of label byte(s) then 3072 pixel bytes; the fine label is last."""
    record = label_bytes + 3072
    if len(data) == 0 or len(data) % record:
        raise DataError(
            f"{where} has {len(data)} bytes, not a whole number of {record}-byte records: "
            "the file is truncated or corrupt; copy or download it again"
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    labels = torch.from_numpy(rows[:, label_bytes - 1].astype(np.int64))
    return _cifar_images(rows[:, label_bytes:], where), labels


def _check_labels(y: torch.Tensor, n_classes: int, what: str, where: str, spec: CifarSpec) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise DataError(
            f"{where}: {what} must be 0…{n_classes - 1}, found {int(y.min())}…{int(y.max())}: the file is "
            f"corrupt or not {spec.name}; use the npz data set for data with other classes"
        )


class _Source:
    """Files of one CIFAR version, read from an unpacked folder or straight out of the archive.

    An archive is decompressed in memory in one pass (so a truncated or corrupt gzip stream fails
    its length or CRC check before anything is used) and its members are read without extracting.
    """

    def __init__(self, folder: Path | None = None, archive: Path | None = None, inner: str = ""):
        self.folder, self.archive, self.inner = folder, archive, inner
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}

    def _open(self) -> tarfile.TarFile:
        if self._tar is None:
            with open(self.archive, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            if gz:
                with gzip.open(self.archive, "rb") as f:
                    blob = f.read()  # reads to the end: checks the gzip length and CRC
                self._tar = tarfile.open(fileobj=io.BytesIO(blob), mode="r:")
            else:  # a plain tar (or bzip2, xz) under the official name
                self._tar = tarfile.open(self.archive, mode="r:*")
            for member in self._tar:
                if member.isfile():
                    name = member.name
                    while name.startswith("./"):
                        name = name[2:]
                    self._members[name] = member
        return self._tar

    def read(self, name: str) -> bytes:
        if self.folder is not None:
            path = self.folder / name
            if not path.is_file():
                raise DataError(f"{path} is missing: the folder is incomplete; re-extract the archive")
            return path.read_bytes()
        try:
            tar = self._open()
            member = self._members.get(f"{self.inner}/{name}")
            if member is None:
                raise DataError(
                    f"{self.archive} lacks {self.inner}/{name}: the archive is truncated, or not in the official "
                    f"layout (a folder {self.inner}/ holding the batch files)"
                )
            return tar.extractfile(member).read()
        except (OSError, EOFError, zlib.error, tarfile.TarError) as e:
            raise DataError(
                f"cannot read {self.archive} ({e}): the archive is truncated or corrupt; copy or download it again"
            ) from None

    def where(self, name: str) -> str:
        return str(self.folder / name) if self.folder else f"{self.archive}:{self.inner}/{name}"


def _find_cifar(spec: CifarSpec, data_dir: Path | None, allow_download: bool) -> tuple[str, _Source]:
    """An unpacked folder or an archive in `data_dir` (else the cache), else a download.

    Only a download is checked against the official md5 (in `download`); a local archive or folder,
    the official one or a user's own in the same layout, is validated by its content in `read_cifar`.
    """
    base = data_dir if data_dir is not None else cache_dir()
    if (base / spec.bin_folder).is_dir():
        return "bin", _Source(folder=base / spec.bin_folder)
    if (base / spec.py_folder).is_dir():
        return "py", _Source(folder=base / spec.py_folder)
    for kind, archive, inner in (("bin", spec.bin_archive, spec.bin_folder), ("py", spec.py_archive, spec.py_folder)):
        if (base / archive).is_file():
            return kind, _Source(archive=base / archive, inner=inner)
    if data_dir is not None or not allow_download:
        raise DataError(
            f"{spec.name} not found in {base}: put {spec.bin_archive} or {spec.py_archive} "
            f"(or their unpacked folders {spec.bin_folder}/ or {spec.py_folder}/) there"
        )
    path = download(CIFAR_URL + spec.bin_archive, cache_dir() / spec.bin_archive, spec.bin_md5)
    return "bin", _Source(archive=path, inner=spec.bin_folder)


def read_cifar(spec: CifarSpec, data_dir: Path | None, allow_download: bool) -> RawData:
    """Read and validate CIFAR by content: whole records or N×3072 uint8 rows, as many labels as
    images, labels in the class range, non-empty batches, and exactly `spec.num_classes` names."""
    kind, src = _find_cifar(spec, data_dir, allow_download)
    if kind == "bin":

        def batch(name: str) -> tuple[torch.Tensor, torch.Tensor]:
            data = src.read(name)
            x, y = parse_cifar_binary(data, spec.bin_label_bytes, src.where(name))
            if spec.bin_coarse_classes:
                coarse = torch.from_numpy(np.frombuffer(data, dtype=np.uint8)[:: spec.bin_label_bytes + 3072].copy())
                _check_labels(coarse.long(), spec.bin_coarse_classes, "coarse labels", src.where(name), spec)
            return x, y

        parts = [batch(n) for n in spec.bin_train]
        test_x, test_y = batch(spec.bin_test)
        try:
            names_text = src.read(spec.bin_names).decode()
        except UnicodeDecodeError:
            raise DataError(f"{src.where(spec.bin_names)} is not a text file of class names") from None
        classes = [c.strip() for c in names_text.splitlines() if c.strip()]
        names_where = src.where(spec.bin_names)
    else:

        def batch(name: str) -> tuple[torch.Tensor, torch.Tensor]:
            where = src.where(name)
            d = read_cifar_pickle(src.read(name), where)
            if "data" not in d or spec.py_label_key not in d:
                raise DataError(f"{where} lacks 'data' or '{spec.py_label_key}'")
            rows = d["data"]
            if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8:
                got = f"{rows.dtype} array" if isinstance(rows, np.ndarray) else type(rows).__name__
                raise DataError(f"{where}: 'data' must be a uint8 N×3072 array, got {got}")
            x = _cifar_images(rows, where)
            labels = np.asarray(d[spec.py_label_key])
            if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"{where}: '{spec.py_label_key}' must be a list of integer labels")
            y = torch.from_numpy(labels.astype(np.int64))
            if len(x) != len(y):
                raise DataError(f"{where}: {len(x)} images but {len(y)} labels")
            return x, y

        parts = [batch(n) for n in spec.py_train]
        test_x, test_y = batch(spec.py_test)
        meta = read_cifar_pickle(src.read(spec.py_meta), src.where(spec.py_meta))
        classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta.get(spec.py_names_key, [])]
        names_where = f"{src.where(spec.py_meta)} ('{spec.py_names_key}')"
    names = list(spec.bin_train if kind == "bin" else spec.py_train) + [
        spec.bin_test if kind == "bin" else spec.py_test
    ]
    for name, (_, y) in zip(names, parts + [(test_x, test_y)]):
        if len(y) == 0:
            raise DataError(f"{src.where(name)} holds no images: the file is truncated or corrupt")
        _check_labels(y, spec.num_classes, "labels", src.where(name), spec)
    if len(classes) != spec.num_classes:
        raise DataError(
            f"{names_where} names {len(classes)} classes; {spec.name} has {spec.num_classes}: the file is "
            "corrupt or not of this data set; use the npz data set for data with other classes"
        )
    train_x = torch.cat([p[0] for p in parts])
    train_y = torch.cat([p[1] for p in parts])
    return RawData(train_x, train_y, test_x, test_y, classes)


@register_dataset("cifar10")
def read_cifar10(data_dir: Path | None, allow_download: bool = True) -> RawData:
    """CIFAR-10: 50,000 train and 10,000 test 32×32 colour images, 10 classes."""
    return read_cifar(CIFAR10, data_dir, allow_download)


@register_dataset("cifar100")
def read_cifar100(data_dir: Path | None, allow_download: bool = True) -> RawData:
    """CIFAR-100 (fine labels): 50,000 train and 10,000 test 32×32 colour images, 100 classes."""
    return read_cifar(CIFAR100, data_dir, allow_download)


# ---------------------------------------------------------------------------------------------
# npz: a user's own data


def looks_channels_first(shape: tuple[int, ...]) -> bool:
    """Whether an N×A×B×C image array is likely N×C×H×W: a second axis of 1 or 3 with a larger last
    axis, or a last axis larger than both others that is not a usual channel count (3 or 4)."""
    _, a, b, c = shape
    return (a in (1, 3) and c > a) or (c > a and c > b and c not in (3, 4))


def _npz_images(arr: np.ndarray, key: str, path: Path) -> torch.Tensor:
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.dtype != np.uint8:
        raise DataError(f"{path}: '{key}' must be uint8 N×H×W×C (or N×H×W), got {arr.dtype} {arr.shape}")
    if looks_channels_first(arr.shape):
        n, c, h, w = arr.shape
        raise DataError(
            f"{path}: '{key}' has shape {arr.shape}, which looks like N×C×H×W ({n} images of {c} channel(s), "
            f"{h}×{w}); images must be N×H×W×C, channels last: save {key}=np.transpose({key}, (0, 2, 3, 1))"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def _npz_labels(arr: np.ndarray, key: str, n: int, path: Path) -> torch.Tensor:
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or len(arr) != n:
        raise DataError(f"{path}: '{key}' must be {n} integer labels, got {arr.dtype} {arr.shape}")
    if len(arr) and arr.min() < 0:
        raise DataError(f"{path}: '{key}' has negative labels")
    return torch.from_numpy(arr.astype(np.int64))


@register_dataset("npz")
def read_npz(data_dir: Path | None, allow_download: bool = True) -> RawData:
    """Your own data: an .npz with `x` (uint8 N×H×W×C), `y` (N int labels), optional `x_test`,
    `y_test` and `classes`; pass the file (or a folder holding data.npz) as --data-dir."""
    if data_dir is None:
        raise DataError("the npz data set needs --data-dir pointing at your .npz file")
    path = data_dir / "data.npz" if data_dir.is_dir() else data_dir
    if not path.is_file():
        raise DataError(f"{path} does not exist: pass --data-dir pointing at your .npz file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile/format errors from an untrusted file
        raise DataError(f"cannot read {path} as .npz ({e}); it must be saved with numpy.savez") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{path} lacks the array '{key}' (needs x: N×H×W×C uint8, y: N labels)")
    x = _npz_images(arrays["x"], "x", path)
    y = _npz_labels(arrays["y"], "y", len(x), path)
    test_x = test_y = None
    if "x_test" in arrays or "y_test" in arrays:
        if "x_test" not in arrays or "y_test" not in arrays:
            raise DataError(f"{path}: give both x_test and y_test, or neither")
        test_x = _npz_images(arrays["x_test"], "x_test", path)
        test_y = _npz_labels(arrays["y_test"], "y_test", len(test_x), path)
        if test_x.shape[1:] != x.shape[1:]:
            raise DataError(f"{path}: x_test images are {tuple(test_x.shape[1:])}, x are {tuple(x.shape[1:])}")
    n_classes = int(max(y.max(), test_y.max() if test_y is not None else 0)) + 1
    if "classes" in arrays:
        classes = [str(c) for c in arrays["classes"].tolist()]
        if len(classes) < n_classes:
            raise DataError(f"{path}: {len(classes)} class names for {n_classes} labels")
    else:
        classes = [str(i) for i in range(n_classes)]
    source = {"path": str(path.resolve()), "sha256": sha256_file(path)}
    return RawData(x, y, test_x, test_y, classes, source=source)
