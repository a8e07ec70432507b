"""Checkpoints: weights in safetensors plus a JSON metadata file; loading never unpickles.

A checkpoint is a directory holding `model.safetensors` and `metadata.json`. The metadata records
the architecture, the data set and its normalisation, how the model was trained, its accuracy
with all blocks executed, and the sha256 of the weights file, which is verified on load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from explorer import __version__
from explorer.data import sha256_file as sha256_of
from explorer.errors import CheckpointError, ConfigError
from explorer.models import create_model

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
FORMAT = "skip-explorer-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "arch", "in_channels", "num_classes", "dataset", "weights_sha256")


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def save_tensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, CPU) and its metadata."""

    path: Path
    model: nn.Module
    meta: dict

    @property
    def sha256(self) -> str:
        return self.meta["weights_sha256"]

    @property
    def arch(self) -> str:
        return self.meta["arch"]

    @property
    def dataset(self) -> str:
        return self.meta["dataset"]["name"]

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(self.meta["dataset"]["mean"])

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(self.meta["dataset"]["std"])

    @property
    def num_gates(self) -> int:
        return self.model.num_gates


def save_checkpoint(out_dir: str | Path, model: nn.Module, meta: dict) -> Path:
    """Write weights and metadata into `out_dir`; returns the directory.

    `meta` must hold arch, in_channels, num_classes and dataset; format fields, the project
    version, the gate count and the weights' sha256 are added here.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_FILE
    # One metadata key only: safetensors writes its metadata map in hash order, which differs
    # between processes, and the file's sha256 must depend on the weights alone.
    save_tensors_atomic(weights, model.state_dict(), metadata={"format": FORMAT})
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "project_version": __version__,
        **meta,
        "num_gates": model.num_gates,
        "num_blocks": model.num_blocks,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256_of(weights),
    }
    write_json_atomic(out / METADATA_FILE, full)
    return out


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file() and p.name in (WEIGHTS_FILE, METADATA_FILE):
        p = p.parent
    if not p.exists():
        raise CheckpointError(
            f"no checkpoint at {p}: expected a directory with {WEIGHTS_FILE} and {METADATA_FILE} "
            "(made by `explorer train`)"
        )
    if not p.is_dir():
        raise CheckpointError(f"{p} is not a checkpoint directory (expected {WEIGHTS_FILE} + {METADATA_FILE} inside)")
    return p


def read_metadata(path: str | Path) -> dict:
    """Metadata of the checkpoint at `path` (directory, or either of its two files), validated."""
    folder = _resolve(path)
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path} is missing: {folder} is not a complete checkpoint")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{meta_path} is not valid JSON ({e}): the file is corrupt; re-train or restore it"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not skip-explorer checkpoint metadata (format field missing or wrong)")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"{meta_path} lacks {', '.join(missing)}: the file is incomplete or corrupt")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} has format version {meta['format_version']}, newer than this skip-explorer "
            f"({__version__}) reads ({FORMAT_VERSION}); upgrade skip-explorer"
        )
    return meta


def load_checkpoint(path: str | Path, *, verify_hash: bool = True) -> Checkpoint:
    """Load and validate a checkpoint: metadata, weights hash, and weights against the architecture."""
    folder = _resolve(path)
    meta = read_metadata(folder)
    weights = folder / meta.get("weights_file", WEIGHTS_FILE)
    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing: the checkpoint is incomplete")
    if verify_hash and sha256_of(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights} does not match the sha256 recorded in {METADATA_FILE}: the weights are "
            "corrupt, truncated or were replaced; restore the file or re-train"
        )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e}); restore it or re-train") from None
    try:
        model = create_model(meta["arch"], in_channels=meta["in_channels"], num_classes=meta["num_classes"])
    except ConfigError as e:
        raise CheckpointError(f"{folder / METADATA_FILE}: {e}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{'…' if len(unexpected) > 3 else ''}")
        if wrong:
            parts.append(f"wrong shape {', '.join(wrong[:3])}{'…' if len(wrong) > 3 else ''}")
        raise CheckpointError(
            f"{weights} does not fit a {meta['arch']} with {meta['in_channels']} input channels and "
            f"{meta['num_classes']} classes ({'; '.join(parts)}): metadata and weights do not belong together"
        )
    for key, actual in (("num_blocks", model.num_blocks), ("num_gates", model.num_gates)):
        if key in meta and meta[key] != actual:
            raise CheckpointError(
                f"{folder / METADATA_FILE} records {key} {meta[key]}, but a {meta['arch']} has {actual}: "
                "metadata and weights do not belong together; restore the metadata or re-train"
            )
    model.load_state_dict(state)
    model.eval()
    return Checkpoint(path=folder, model=model, meta=meta)
