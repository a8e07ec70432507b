"""CIFAR-10 / CIFAR-100: binary or python version, archive or unpacked folder, validated by content."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.data.files import cache_dir, download
from explorer.data.splits import RawData, register_dataset
from explorer.errors import DataError

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
