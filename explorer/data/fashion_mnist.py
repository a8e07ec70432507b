"""Fashion-MNIST in the idx format: Debian's package folder, --data-dir, the cache, or a download."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch

from explorer.data.files import cache_dir, download
from explorer.data.splits import RawData, register_dataset
from explorer.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
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
