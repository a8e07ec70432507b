"""A user's own data as one .npz file (no pickles: `allow_pickle=False`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from explorer.data.files import sha256_file
from explorer.data.splits import RawData, register_dataset
from explorer.errors import DataError


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
