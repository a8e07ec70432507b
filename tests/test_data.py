"""Data loaders against the real Fashion-MNIST and small files generated in the official formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import tarfile
import urllib.request

import numpy as np
import pytest
import torch

from explorer import data as D
from explorer.errors import DataError

# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (real data)


def test_fashion_mnist_splits(fmnist):
    assert fmnist.train_x.shape == (55000, 28, 28, 1) and fmnist.train_x.dtype == torch.uint8
    assert fmnist.val_x.shape == (5000, 28, 28, 1)
    assert fmnist.test_x.shape == (10000, 28, 28, 1)
    assert fmnist.num_classes == 10 and fmnist.in_channels == 1 and fmnist.image_size == (28, 28)
    assert set(fmnist.val_y.tolist()) == set(range(10))
    # normalisation from the training part: about 0.286 / 0.353 for Fashion-MNIST
    assert abs(fmnist.mean[0] - 0.286) < 0.01 and abs(fmnist.std[0] - 0.353) < 0.01


def test_validation_split_is_seeded_and_disjoint(fmnist):
    raw = D.read_fashion_mnist(None, False)
    again = D.load_dataset("fashion-mnist", split_seed=0)
    assert torch.equal(again.val_x, fmnist.val_x)
    other = D.load_dataset("fashion-mnist", split_seed=1)
    assert not torch.equal(other.val_y, fmnist.val_y)
    # every training image is used exactly once across train and val
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fmnist.val_y, raw.train_y[perm[:5000]])
    assert torch.equal(fmnist.train_y, raw.train_y[perm[5000:]])
    assert torch.equal(fmnist.test_y, raw.test_y)


def test_limit_train_keeps_normalisation(fmnist):
    small = D.load_dataset("fashion-mnist", limit_train=300)
    assert len(small.train_y) == 300 and small.mean == fmnist.mean and len(small.val_y) == 5000


def test_fashion_mnist_from_data_dir_raw_and_gz(tmp_path):
    for path in D.DEBIAN_FASHION_MNIST.glob("*.gz"):
        if path.name.startswith("train"):
            shutil.copy(path, tmp_path / path.name)  # gzipped
        else:
            (tmp_path / path.stem).write_bytes(gzip.decompress(path.read_bytes()))  # unpacked
    raw = D.read_fashion_mnist(tmp_path, False)
    assert raw.train_x.shape == (60000, 28, 28, 1) and raw.test_x.shape == (10000, 28, 28, 1)


def test_truncated_fashion_mnist_names_the_file(tmp_path):
    for path in D.DEBIAN_FASHION_MNIST.glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*(truncated|corrupt)"):
        D.read_fashion_mnist(tmp_path, False)


def test_fashion_mnist_with_wrong_content_fails_checksum(tmp_path):
    for path in D.DEBIAN_FASHION_MNIST.glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    victim = tmp_path / "train-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(victim.read_bytes()))
    content[100] = (content[100] + 1) % 10
    victim.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*sha256"):
        D.read_fashion_mnist(tmp_path, False)


def test_missing_fashion_mnist_files_are_named(tmp_path):
    shutil.copy(D.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(DataError, match="lacks Fashion-MNIST file.*t10k-images"):
        D.read_fashion_mnist(tmp_path, False)
    with pytest.raises(DataError, match="no Fashion-MNIST idx files"):
        D.read_fashion_mnist(tmp_path / "empty", False)


def test_idx_reader_on_generated_files(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    blob = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", 2, 3, 4) + arr.tobytes()
    (tmp_path / "a").write_bytes(blob)
    (tmp_path / "a.gz").write_bytes(gzip.compress(blob))
    assert np.array_equal(D.read_idx(tmp_path / "a"), arr)
    assert np.array_equal(D.read_idx(tmp_path / "a.gz", hashlib.sha256(blob).hexdigest()), arr)
    (tmp_path / "short").write_bytes(blob[:-1])
    with pytest.raises(DataError, match="short.*truncated"):
        D.read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01" + blob[1:])
    with pytest.raises(DataError, match="magic"):
        D.read_idx(tmp_path / "magic")


def test_unknown_dataset_lists_choices():
    with pytest.raises(DataError, match="cifar10.*fashion-mnist"):
        D.load_dataset("imagenet")


# ---------------------------------------------------------------------------------------------
# CIFAR: files generated in exactly the official formats


def _images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _rows(images):
    """Official row layout: the 1024 red, then green, then blue values of each image."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def make_cifar10_bin(folder, n=7):
    d = folder / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    truth = []
    for i, name in enumerate([f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]):
        x = _images(n, i)
        y = np.arange(n, dtype=np.uint8) % 10
        (d / name).write_bytes(np.concatenate([y[:, None], _rows(x)], 1).tobytes())
        truth.append((x, y))
    (d / "batches.meta.txt").write_text("\n".join(f"class{c}" for c in range(10)) + "\n\n")
    return truth


def make_cifar100_bin(folder, n=9):
    d = folder / "cifar-100-binary"
    d.mkdir(parents=True)
    truth = []
    for i, name in enumerate(["train.bin", "test.bin"]):
        x = _images(n, 10 + i)
        fine = (np.arange(n, dtype=np.uint8) * 11) % 100
        coarse = fine // 5
        (d / name).write_bytes(np.concatenate([coarse[:, None], fine[:, None], _rows(x)], 1).tobytes())
        truth.append((x, fine))
    (d / "fine_label_names.txt").write_text("\n".join(f"f{c}" for c in range(100)))
    (d / "coarse_label_names.txt").write_text("\n".join(f"c{c}" for c in range(20)))
    return truth


def make_cifar_py(folder, kind, n=6):
    """Python version: protocol-2 pickles of dicts holding a uint8 N×3072 array and label lists."""
    sub, train, label_key, meta, names_key, classes = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{k}" for k in range(1, 6)], "labels", "batches.meta", "label_names", 10),
        "cifar100": ("cifar-100-python", ["train"], "fine_labels", "meta", "fine_label_names", 100),
    }[kind]  # fmt: skip
    test = "test_batch" if kind == "cifar10" else "test"
    d = folder / sub
    d.mkdir(parents=True)
    truth = []
    for i, name in enumerate(train + [test]):
        x = _images(n, 20 + i)
        y = [int(v) for v in (np.arange(n) * 7) % classes]
        batch = {
            "batch_label": f"batch {i}",
            label_key: y,
            "data": _rows(x),
            "filenames": [f"{j}.png" for j in range(n)],
        }
        if kind == "cifar100":
            batch["coarse_labels"] = [v // 5 for v in y]
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
        truth.append((x, np.array(y)))
    (d / meta).write_bytes(pickle.dumps({names_key: [f"n{c}" for c in range(classes)]}, protocol=2))
    return truth


def _check(raw, truth):
    train = truth[:-1]
    assert torch.equal(raw.train_x, torch.from_numpy(np.concatenate([t[0] for t in train])))
    assert raw.train_y.tolist() == np.concatenate([t[1] for t in train]).astype(int).tolist()
    assert torch.equal(raw.test_x, torch.from_numpy(truth[-1][0]))
    assert raw.test_y.tolist() == truth[-1][1].astype(int).tolist()


def test_cifar10_binary_folder(tmp_path):
    truth = make_cifar10_bin(tmp_path)
    raw = D.read_cifar10(tmp_path, False)
    _check(raw, truth)
    assert raw.classes == [f"class{c}" for c in range(10)]


def test_cifar100_binary_folder_uses_fine_labels(tmp_path):
    truth = make_cifar100_bin(tmp_path)
    raw = D.read_cifar100(tmp_path, False)
    _check(raw, truth)
    assert len(raw.classes) == 100 and raw.classes[0] == "f0"


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
def test_cifar_python_folder_with_restricted_unpickler(tmp_path, kind):
    truth = make_cifar_py(tmp_path, kind)
    raw = D.DATASETS[kind](tmp_path, False)
    _check(raw, truth)
    assert raw.classes[:2] == ["n0", "n1"]


def test_cifar_python_refuses_code_in_pickles(tmp_path):
    make_cifar_py(tmp_path, "cifar10")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="data_batch_3.*refusing to load"):
        D.read_cifar10(tmp_path, False)
    assert not (tmp_path / "pwned").exists()


def _tar(folder, sub, archive, arcname=None, mode="w:gz"):
    """Pack folder/sub into folder/archive as `tar czf archive sub` does, and remove the folder."""
    with tarfile.open(folder / archive, mode) as tar:
        tar.add(folder / sub, arcname=arcname or sub)
    shutil.rmtree(folder / sub)
    return folder / archive


OWN_ARCHIVES = [
    ("cifar10", make_cifar10_bin, "cifar-10-batches-bin", "cifar-10-binary.tar.gz"),
    ("cifar10", lambda f: make_cifar_py(f, "cifar10"), "cifar-10-batches-py", "cifar-10-python.tar.gz"),
    ("cifar100", make_cifar100_bin, "cifar-100-binary", "cifar-100-binary.tar.gz"),
    ("cifar100", lambda f: make_cifar_py(f, "cifar100"), "cifar-100-python", "cifar-100-python.tar.gz"),
]


@pytest.mark.parametrize("kind,make,sub,archive", OWN_ARCHIVES, ids=[a[3] for a in OWN_ARCHIVES])
def test_users_own_cifar_archive_is_read_by_content_without_the_official_md5(tmp_path, kind, make, sub, archive):
    truth = make(tmp_path)
    path = _tar(tmp_path, sub, archive)
    assert D.md5_of(path) not in (D.CIFAR10.bin_md5, D.CIFAR10.py_md5, D.CIFAR100.bin_md5, D.CIFAR100.py_md5)
    _check(D.DATASETS[kind](tmp_path, False), truth)
    assert not (tmp_path / sub).exists()  # read without extracting


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_cifar_archive_packed_from_inside_its_parent_folder_is_read(tmp_path, mode):
    truth = make_cifar10_bin(tmp_path)  # `tar cf - -C parent ./cifar-10-batches-bin`, not gzipped
    _tar(tmp_path, "cifar-10-batches-bin", "cifar-10-binary.tar.gz", arcname="./cifar-10-batches-bin", mode=mode)
    _check(D.read_cifar10(tmp_path, False), truth)


@pytest.mark.parametrize("kind,make,sub,archive", OWN_ARCHIVES, ids=[a[3] for a in OWN_ARCHIVES])
def test_truncated_cifar_archive_is_one_clear_error(tmp_path, kind, make, sub, archive):
    make(tmp_path)
    path = _tar(tmp_path, sub, archive)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=f"cannot read .*{archive}.*truncated or corrupt"):
        D.DATASETS[kind](tmp_path, False)


@pytest.mark.parametrize("mode", ["w", "w:xz"])
def test_truncated_uncompressed_or_xz_archive_is_one_clear_error(tmp_path, mode):
    make_cifar10_bin(tmp_path)
    path = _tar(tmp_path, "cifar-10-batches-bin", "cifar-10-binary.tar.gz", mode=mode)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="cannot read .*cifar-10-binary.tar.gz.*truncated or corrupt"):
        D.read_cifar10(tmp_path, False)


def test_cifar_archive_with_a_flipped_byte_fails_its_gzip_check(tmp_path):
    make_cifar10_bin(tmp_path)
    path = _tar(tmp_path, "cifar-10-batches-bin", "cifar-10-binary.tar.gz")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # random pixels are stored, not compressed: only the CRC can tell
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz.*truncated or corrupt"):
        D.read_cifar10(tmp_path, False)


def test_cifar_archive_without_a_batch_names_the_member(tmp_path):
    make_cifar10_bin(tmp_path)
    (tmp_path / "cifar-10-batches-bin" / "data_batch_4.bin").unlink()
    _tar(tmp_path, "cifar-10-batches-bin", "cifar-10-binary.tar.gz")
    with pytest.raises(DataError, match="lacks cifar-10-batches-bin/data_batch_4.bin.*official layout"):
        D.read_cifar10(tmp_path, False)


def test_cifar_labels_out_of_range_are_refused(tmp_path):
    make_cifar10_bin(tmp_path)
    victim = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    blob = bytearray(victim.read_bytes())
    blob[3073] = 10  # the label byte of the second record
    victim.write_bytes(bytes(blob))
    _tar(tmp_path, "cifar-10-batches-bin", "cifar-10-binary.tar.gz")
    with pytest.raises(DataError, match=r"data_batch_3.bin: labels must be 0…9, found 0…10.*npz"):
        D.read_cifar10(tmp_path, False)


def test_cifar100_coarse_labels_are_checked_too(tmp_path):
    make_cifar100_bin(tmp_path)
    victim = tmp_path / "cifar-100-binary" / "test.bin"
    blob = bytearray(victim.read_bytes())
    blob[0] = 20
    victim.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"test.bin: coarse labels must be 0…19"):
        D.read_cifar100(tmp_path, False)


def test_cifar_class_names_must_match_the_data_set(tmp_path):
    make_cifar10_bin(tmp_path)
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").write_text("a\nb\nc\n")
    with pytest.raises(DataError, match="batches.meta.txt names 3 classes; cifar10 has 10"):
        D.read_cifar10(tmp_path, False)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda b: {**b, "data": b["data"].astype(np.int64)}, "'data' must be a uint8 N×3072 array, got int64"),
        (lambda b: {**b, "data": b["data"][:, :3000]}, "expected N×3072 image rows"),
        (lambda b: {**b, "labels": b["labels"][:-1]}, "6 images but 5 labels"),
        (lambda b: {**b, "labels": [0.5] * 6}, "'labels' must be a list of integer labels"),
    ],
)
def test_cifar_python_batches_are_validated_by_content(tmp_path, change, match):
    make_cifar_py(tmp_path, "cifar10")
    victim = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch = D.read_cifar_pickle(victim.read_bytes(), "x")
    victim.write_bytes(pickle.dumps(change(batch), protocol=2))
    _tar(tmp_path, "cifar-10-batches-py", "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match=f"data_batch_2.*{match}"):
        D.read_cifar10(tmp_path, False)


def test_truncated_cifar_binary_names_the_file(tmp_path):
    make_cifar10_bin(tmp_path)
    victim = tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"
    victim.write_bytes(victim.read_bytes()[:-5])
    with pytest.raises(DataError, match="data_batch_2.bin.*truncated"):
        D.read_cifar10(tmp_path, False)


def test_missing_cifar_names_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz or cifar-10-python.tar.gz"):
        D.read_cifar10(tmp_path, False)


def test_cifar10_through_load_dataset(tmp_path):
    make_cifar10_bin(tmp_path, n=40)
    splits = D.load_dataset("cifar10", tmp_path, val_size=50)
    assert splits.in_channels == 3 and splits.image_size == (32, 32) and splits.num_classes == 10
    assert len(splits.train_y) == 150 and len(splits.val_y) == 50 and len(splits.test_y) == 40


# ---------------------------------------------------------------------------------------------
# npz


def test_npz_with_and_without_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 12, 12, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 100)
    np.savez(tmp_path / "with.npz", x=x, y=y, x_test=x[:10], y_test=y[:10], classes=np.array(["a", "b", "c", "d"]))
    s = D.load_dataset("npz", tmp_path / "with.npz", val_size=20)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (80, 20, 10)
    assert s.classes == ["a", "b", "c", "d"] and s.in_channels == 3
    np.savez(tmp_path / "grey.npz", x=x[..., 0], y=y)
    s = D.load_dataset("npz", tmp_path / "grey.npz", val_size=20)
    assert s.in_channels == 1 and len(s.test_y) == 10 and len(s.train_y) + len(s.val_y) == 90


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"y": np.zeros(3, int)}, "lacks the array 'x'"),
        ({"x": np.zeros((3, 4, 4, 1), np.float32), "y": np.zeros(3, int)}, "'x' must be uint8"),
        ({"x": np.zeros((3, 4, 4, 1), np.uint8), "y": np.zeros(2, int)}, "'y' must be 3 integer labels"),
        ({"x": np.zeros((3, 4, 4, 1), np.uint8), "y": np.zeros(3, int), "x_test": np.zeros((1, 4, 4, 1), np.uint8)}, "both x_test and y_test"),
    ],
)  # fmt: skip
def test_bad_npz_is_a_clear_error(tmp_path, arrays, match):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=match):
        D.read_npz(tmp_path / "d.npz")


def test_npz_never_unpickles(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.array([object()], dtype=object), y=np.zeros(1, int))
    with pytest.raises(DataError, match="cannot read"):
        D.read_npz(tmp_path / "d.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        D.read_npz(tmp_path / "junk.npz")


@pytest.mark.parametrize("shape", [(5, 3, 32, 32), (5, 1, 28, 28), (5, 3, 8, 8), (5, 1, 8, 8), (5, 2, 4, 6)])
def test_channels_first_npz_is_refused_with_the_transpose(tmp_path, shape):
    x = np.zeros(shape, np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(5, int))
    with pytest.raises(DataError, match=r"looks like N×C×H×W.*np\.transpose\(x, \(0, 2, 3, 1\)\)"):
        D.read_npz(tmp_path / "d.npz")
    np.savez(tmp_path / "t.npz", x=x.transpose(0, 2, 3, 1), y=np.zeros(5, int), x_test=x, y_test=np.zeros(5, int))
    with pytest.raises(DataError, match=r"'x_test' has shape.*np\.transpose\(x_test, \(0, 2, 3, 1\)\)"):
        D.read_npz(tmp_path / "t.npz")


@pytest.mark.parametrize(
    "shape", [(5, 32, 32, 3), (5, 28, 28, 1), (5, 8, 8, 1), (5, 2, 2, 1), (5, 2, 2, 3), (5, 16, 16, 4)]
)
def test_channels_last_npz_of_any_size_is_accepted(tmp_path, shape):
    np.savez(tmp_path / "d.npz", x=np.zeros(shape, np.uint8), y=np.zeros(5, int))
    assert tuple(D.read_npz(tmp_path / "d.npz").train_x.shape) == shape


def test_npz_source_is_recorded_in_the_description(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (40, 6, 6, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    for given in (tmp_path / "d.npz", tmp_path):  # the file, or a folder holding data.npz
        if given == tmp_path:
            (tmp_path / "d.npz").rename(tmp_path / "data.npz")
        s = D.load_dataset("npz", given, val_size=5)
        path = (given if given.suffix == ".npz" else given / "data.npz").resolve()
        assert s.describe()["source"] == {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert "source" not in D.load_dataset("cifar10", _cifar_dir(tmp_path), val_size=5).describe()


def _cifar_dir(tmp_path):
    make_cifar10_bin(tmp_path / "c")
    return tmp_path / "c"


# ---------------------------------------------------------------------------------------------
# The data set of a checkpoint


def _npz_meta(path, **split):
    """Checkpoint metadata as training writes it, for the npz file at `path`."""
    data = D.load_dataset("npz", path, **split)
    return {"in_channels": data.in_channels, "num_classes": data.num_classes, "dataset": data.describe()}


@pytest.fixture
def npz_file(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.integers(0, 256, (60, 8, 8, 1), dtype=np.uint8), y=np.arange(60) % 4)
    return path


def test_checkpoint_data_comes_from_the_recorded_npz(npz_file):
    meta = _npz_meta(npz_file, val_size=7, split_seed=3)
    data = D.load_checkpoint_data(meta, None, "ckpt")
    again = D.load_dataset("npz", npz_file, val_size=7, split_seed=3)
    assert torch.equal(data.val_x, again.val_x) and torch.equal(data.test_y, again.test_y)


def test_changed_recorded_npz_is_refused(npz_file):
    meta = _npz_meta(npz_file, val_size=7)
    with np.load(npz_file) as z:
        np.savez(npz_file, x=z["x"][:-1], y=z["y"][:-1])
    with pytest.raises(DataError, match=r"mine.npz has changed since checkpoint ckpt.*pass --data-dir"):
        D.load_checkpoint_data(meta, None, "ckpt")


def test_missing_recorded_npz_is_refused(npz_file):
    meta = _npz_meta(npz_file, val_size=7)
    moved = npz_file.rename(npz_file.with_name("moved.npz"))
    with pytest.raises(DataError, match=r"trained on .*mine.npz, which is no longer there: pass --data-dir"):
        D.load_checkpoint_data(meta, None, "ckpt")
    assert D.load_checkpoint_data(meta, moved, "ckpt").val_size == 7  # where it is now


def test_npz_checkpoint_without_a_recorded_source_asks_for_data_dir(npz_file):
    meta = _npz_meta(npz_file, val_size=7)
    del meta["dataset"]["source"]
    with pytest.raises(DataError, match="path was not recorded.*pass --data-dir"):
        D.load_checkpoint_data(meta, None, "ckpt")


def test_another_npz_given_explicitly_is_used_with_a_warning(npz_file):
    meta = _npz_meta(npz_file, val_size=7)
    other = npz_file.with_name("other.npz")
    with np.load(npz_file) as z:
        np.savez(other, x=z["x"][::-1], y=z["y"][::-1])
    with pytest.warns(D.DataWarning, match="other.npz is not the file checkpoint ckpt was trained on"):
        D.load_checkpoint_data(meta, other, "ckpt")


@pytest.mark.parametrize("size", [(2, 2), (32, 32), (8, 6)])
def test_images_of_another_size_than_the_checkpoints_are_refused(npz_file, size):
    meta = _npz_meta(npz_file, val_size=7)
    other = npz_file.with_name("other.npz")
    np.savez(other, x=np.zeros((60, *size, 1), np.uint8), y=np.arange(60) % 4)
    h, w = size
    with pytest.raises(DataError, match=rf"checkpoint ckpt expects 8×8 images, but data set npz .* has {h}×{w} images"):
        D.load_checkpoint_data(meta, other, "ckpt")


def test_every_mismatch_is_named_in_one_error(npz_file):
    meta = {**_npz_meta(npz_file, val_size=7), "in_channels": 3, "num_classes": 10}
    meta["dataset"]["image_size"] = [32, 32]
    with pytest.raises(DataError) as err:
        D.load_checkpoint_data(meta, None, "ckpt")
    assert "expects 3-channel images, 32×32 images, 10 classes" in str(err.value)
    assert "has 1-channel images, 8×8 images, 4 classes" in str(err.value)


def test_a_resize_suffix_resizes_every_split_and_is_replayed_from_the_checkpoint(npz_file):
    import torch.nn.functional as F

    plain = D.load_dataset("npz", npz_file, val_size=7)
    big = D.load_dataset("npz@20x12x3", npz_file, val_size=7)
    assert big.name == "npz@20x12x3" and big.describe()["name"] == "npz@20x12x3"
    assert big.image_size == (20, 12) and big.in_channels == 3 and big.val_size == 7
    want = F.interpolate(plain.val_x.permute(0, 3, 1, 2).float(), size=(20, 12), mode="bilinear", antialias=True)
    want = want.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    assert torch.equal(big.val_x[..., :1], want) and torch.equal(big.val_x[..., 2:], want)  # grey copied
    assert torch.equal(big.test_y, plain.test_y) and big.train_x.shape == (len(plain.train_y), 20, 12, 3)
    # a checkpoint trained on it reads the same resized splits from the recorded file
    meta = {"in_channels": 3, "num_classes": 4, "dataset": big.describe()}
    again = D.load_checkpoint_data(meta, None, "ckpt")
    assert torch.equal(again.val_x, big.val_x) and again.image_size == (20, 12)
    assert D.load_dataset("npz@4x4", npz_file, val_size=7).image_size == (4, 4)  # down as well


@pytest.mark.parametrize(
    "name,match",
    [("npz@64", "HxW"), ("npz@0x8", "HxW"), ("npz@8x8x2", "C = 1 or 3"), ("mnist@8x8", "unknown data set 'mnist'")],
)
def test_a_bad_resize_suffix_is_one_clear_error(npz_file, name, match):
    with pytest.raises(DataError, match=match):
        D.load_dataset(name, npz_file)


def test_only_grey_images_are_copied_to_three_channels(tmp_path):
    path = tmp_path / "rgb.npz"
    np.savez(path, x=np.zeros((20, 8, 8, 3), np.uint8), y=np.arange(20) % 2)
    with pytest.raises(DataError, match="3 channels; only 1-channel images are copied to 3"):
        D.load_dataset("npz@8x8x1", path, val_size=2)
    assert D.load_dataset("npz@8x8x3", path, val_size=2).in_channels == 3


# ---------------------------------------------------------------------------------------------
# Defaults that adapt to the data


@pytest.mark.parametrize(
    "size,pad", [((32, 32), 4), ((28, 28), 3), ((8, 8), 1), ((64, 16), 2), ((7, 7), 0), ((1, 1), 0)]
)
def test_default_crop_padding_is_an_eighth_of_the_smaller_side(size, pad):
    assert D.default_crop_padding(size) == pad


@pytest.mark.parametrize("n,val", [(60000, 5000), (50000, 5000), (45000, 4500), (1797, 179), (15, 1), (9, 1), (1, 1)])
def test_default_val_size_is_a_tenth_at_most_5000(n, val):
    assert D.default_val_size(n) == val


# ---------------------------------------------------------------------------------------------
# Batches and augmentation


def test_random_crop_is_a_window_of_the_padded_image():
    x = torch.randint(0, 255, (16, 8, 8, 2), dtype=torch.uint8)
    out = D.random_crop_flip(x, pad=2, flip=True, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (0, 0, 2, 2, 2, 2))
    for i in range(16):
        windows = [padded[i, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        windows += [w.flip(1) for w in windows]
        assert any(torch.equal(out[i], w) for w in windows)
    assert torch.equal(D.random_crop_flip(x, pad=0, flip=False), x)


def test_crops_and_flips_vary_across_images():
    x = torch.arange(64, dtype=torch.uint8).view(1, 8, 8, 1).repeat(200, 1, 1, 1)
    out = D.random_crop_flip(x, pad=4, flip=True, generator=torch.Generator().manual_seed(0))
    assert len({bytes(o.flatten().tolist()) for o in out}) > 50


def test_batches_normalise_and_cover_every_image(fmnist):
    x, y = fmnist.val_x[:1000], fmnist.val_y[:1000]
    seen = []
    for xb, yb in D.iterate_batches(x, y, 128, mean=fmnist.mean, std=fmnist.std, channels_last=True):
        assert xb.shape[1:] == (1, 28, 28) and xb.dtype == torch.float32
        assert xb.is_contiguous(memory_format=torch.channels_last)
        seen.append(yb)
    assert torch.equal(torch.cat(seen), y)
    full = next(D.iterate_batches(fmnist.train_x, fmnist.train_y, 4096, mean=fmnist.mean, std=fmnist.std))[0]
    assert abs(float(full.mean())) < 0.05 and abs(float(full.std()) - 1) < 0.05
    n = sum(1 for _ in D.iterate_batches(x, y, 128, mean=(0,), std=(1,), drop_last=True))
    assert n == D.num_batches(1000, 128, drop_last=True) == 7


def test_channel_stats_are_fractions():
    x = torch.full((2, 2, 2, 3), 255, dtype=torch.uint8)
    x[..., 1] = 0
    mean, std = D.channel_stats(x)
    assert mean == (1.0, 0.0, 1.0)


def test_download_failure_names_the_fix(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", boom)
    with pytest.raises(DataError, match="could not download.*--data-dir"):
        D.download("http://127.0.0.1:9/x.gz", tmp_path / "x.gz", "0" * 32)
    assert not (tmp_path / "x.gz.part").exists()


def test_download_checks_md5(tmp_path, monkeypatch):
    payload = b"hello"

    class Resp(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Resp(payload))
    with pytest.raises(DataError, match="corrupt: md5"):
        D.download("http://127.0.0.1/x", tmp_path / "x", "0" * 32)
    good = hashlib.md5(payload).hexdigest()
    assert D.download("http://127.0.0.1/x", tmp_path / "x", good).read_bytes() == payload
