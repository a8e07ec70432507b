"""Data sets by name, seeded train/validation/test splits, and a fast in-memory batch iterator.

    splits.py         the registry (`DATASETS`, `@register_dataset`), `load_dataset` and the
                      checkpoint's own data (`load_checkpoint_data`)
    batching.py       normalisation, augmentation, `iterate_batches`
    files.py          the download cache, checksums, a checked download
    fashion_mnist.py, cifar.py, npz.py
                      the readers; each registers itself when this package is imported

A new data set is one module with a reader `(data_dir, download) -> RawData` decorated with
`@register_dataset("name")`, imported below.
"""

from explorer.data import cifar, fashion_mnist, npz  # noqa: F401  (the readers register themselves)
from explorer.data.batching import default_crop_padding, iterate_batches, normalize, num_batches, random_crop_flip
from explorer.data.cifar import CIFAR10, CIFAR100, read_cifar, read_cifar10, read_cifar100, read_cifar_pickle
from explorer.data.fashion_mnist import DEBIAN_FASHION_MNIST, read_fashion_mnist, read_idx
from explorer.data.files import cache_dir, download, md5_of, sha256_file
from explorer.data.npz import read_npz
from explorer.data.splits import (
    DATASETS,
    DEFAULT_VAL_SIZE,
    DataSplits,
    DataWarning,
    RawData,
    channel_stats,
    check_data_fits,
    dataset_base,
    default_val_size,
    load_checkpoint_data,
    load_dataset,
    load_recorded_splits,
    parse_dataset_name,
    recorded_npz,
    register_dataset,
)

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DEFAULT_VAL_SIZE",
    "DataSplits",
    "DataWarning",
    "RawData",
    "cache_dir",
    "channel_stats",
    "check_data_fits",
    "dataset_base",
    "default_crop_padding",
    "default_val_size",
    "download",
    "iterate_batches",
    "load_checkpoint_data",
    "load_dataset",
    "load_recorded_splits",
    "md5_of",
    "normalize",
    "num_batches",
    "parse_dataset_name",
    "random_crop_flip",
    "read_cifar",
    "read_cifar10",
    "read_cifar100",
    "read_cifar_pickle",
    "read_fashion_mnist",
    "read_idx",
    "read_npz",
    "recorded_npz",
    "register_dataset",
    "sha256_file",
]
