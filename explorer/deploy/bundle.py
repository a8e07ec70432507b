"""The deployment bundle: model.vmfb + pareto.bin + pareto.json + manifest.json, and its reader.

pareto.bin, little-endian; see docs/pareto-bin.md. Version 1 (bundles without per-configuration
BatchNorm statistics):

    offset  size  field
    0       8     magic b"SKPARETO"
    8       2     format version (u16) = 1
    10      2     gate count G (u16)
    12      4     row count R (u32)
    16      4     row size in bytes (u32) = ceil(G/8) + 16
    20      R×row rows, sorted by number of skipped gates (ascending), then accuracy (descending):
                  mask     ceil(G/8) bytes: bit i (byte i//8, bit i%8, LSB first) = 1 executes gate i;
                                            unused high bits are 0
                  accuracy f32 (fraction 0..1, validation split)
                  latency  f32 (ms, batch 1, on the device named in the manifest)
                  macs     u64 (multiply-accumulates per inference)
    20+R×row 4    CRC-32 (zlib) of every byte before it

Version 2 (per-configuration BatchNorm statistics): the header gains a u32 at offset 20, the
number B of BatchNorm values per row (2 × channels: scales then shifts, the module's `bn` input),
rows start at 24, and each row ends with B f32 values; row size = ceil(G/8) + 16 + 4·B.

The reader accepts both versions, checks every field and raises one BundleError naming the file
and the problem.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.checkpoint import sha256_of as sha256_file
from explorer.errors import ExplorerError
from explorer.skip import SkipConfig

MAGIC = b"SKPARETO"
VERSION = 2  # the newest version written; version 1 is still written when there are no statistics
HEADER = struct.Struct("<8sHHII")
HEADER2 = struct.Struct("<8sHHIII")
TAIL = struct.Struct("<ffQ")
CRC = struct.Struct("<I")
MANIFEST_FORMAT = "skip-explorer-bundle"


class BundleError(ExplorerError):
    """A bundle file is missing, corrupt, or does not match its module or manifest."""


@dataclass(frozen=True)
class ParetoRow:
    config: SkipConfig
    accuracy: float  # fraction 0..1
    latency_ms: float
    macs: int
    bn: np.ndarray | None = None  # float32 scales then shifts of every BatchNorm (version 2)


def mask_bytes(num_gates: int) -> int:
    return (num_gates + 7) // 8


def row_size(num_gates: int, bn_values: int = 0) -> int:
    return mask_bytes(num_gates) + TAIL.size + 4 * bn_values


def _mask(config: SkipConfig) -> bytes:
    out = bytearray(mask_bytes(len(config)))
    for i, b in enumerate(config.bits):
        if b:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def sort_rows(rows: list[ParetoRow]) -> list[ParetoRow]:
    return sorted(rows, key=lambda r: (r.config.num_skipped, -r.accuracy, r.config.to_int()))


def encode_pareto(rows: list[ParetoRow], num_gates: int) -> bytes:
    """Version 1 when no row carries BatchNorm statistics, else version 2 (all rows must)."""
    with_bn = [r.bn is not None for r in rows]
    if any(with_bn) and not all(with_bn):
        raise BundleError("either every row carries BatchNorm statistics or none does")
    bn_values = int(len(rows[0].bn)) if rows and with_bn[0] else 0
    size = row_size(num_gates, bn_values)
    if bn_values:
        body = bytearray(HEADER2.pack(MAGIC, 2, num_gates, len(rows), size, bn_values))
    else:
        body = bytearray(HEADER.pack(MAGIC, 1, num_gates, len(rows), size))
    for r in sort_rows(rows):
        if len(r.config) != num_gates:
            raise BundleError(f"configuration {r.config} has {len(r.config)} bits, expected {num_gates}")
        body += _mask(r.config) + TAIL.pack(r.accuracy, r.latency_ms, int(r.macs))
        if bn_values:
            if len(r.bn) != bn_values:
                raise BundleError(f"row {r.config} has {len(r.bn)} BatchNorm values, expected {bn_values}")
            body += np.asarray(r.bn, dtype="<f4").tobytes()
    return bytes(body) + CRC.pack(zlib.crc32(body))


def decode_pareto(
    data: bytes, where: str = "pareto.bin", expected_gates: int | None = None, expected_bn: int | None = None
) -> list[ParetoRow]:
    """Parse and validate pareto.bin bytes (version 1 or 2); `expected_gates` is the module's gate
    count and `expected_bn` the length of its BatchNorm input (0 for a module without one)."""
    if len(data) < HEADER.size + CRC.size:
        raise BundleError(f"{where} is truncated: {len(data)} bytes is shorter than the header")
    magic, version, gates, count, size = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BundleError(f"{where} is not a pareto.bin file (bad magic {magic!r})")
    if version not in (1, 2):
        raise BundleError(f"{where} has format version {version}; this skip-explorer reads versions 1 and 2")
    bn_values, start = 0, HEADER.size
    if version == 2:
        if len(data) < HEADER2.size + CRC.size:
            raise BundleError(f"{where} is truncated: {len(data)} bytes is shorter than the version-2 header")
        bn_values, start = HEADER2.unpack_from(data)[5], HEADER2.size
        if bn_values == 0:
            raise BundleError(f"{where}: a version-2 file must carry BatchNorm values")
    if gates == 0:
        raise BundleError(f"{where} declares 0 gates")
    if size != row_size(gates, bn_values):
        raise BundleError(
            f"{where} declares {size}-byte rows, but {gates} gates and {bn_values} BatchNorm values need "
            f"{row_size(gates, bn_values)}"
        )
    expected_len = start + count * size + CRC.size
    if len(data) != expected_len:
        raise BundleError(
            f"{where} has {len(data)} bytes but its header promises {expected_len} ({count} rows): "
            "the file is truncated or has trailing bytes"
        )
    (crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    if zlib.crc32(data[: -CRC.size]) != crc:
        raise BundleError(f"{where} fails its CRC-32 check: the file is corrupt")
    if expected_gates is not None and gates != expected_gates:
        raise BundleError(f"{where} has {gates} gates but the module has {expected_gates}: they do not belong together")
    if expected_bn is not None and bn_values != expected_bn:
        raise BundleError(
            f"{where} carries {bn_values} BatchNorm values per row but the module takes {expected_bn}: "
            "they do not belong together"
        )
    rows = []
    mb = mask_bytes(gates)
    for k in range(count):
        off = start + k * size
        mask = data[off : off + mb]
        bits = tuple((mask[i // 8] >> (i % 8)) & 1 for i in range(gates))
        if any(mask[i // 8] >> (i % 8) & 1 for i in range(gates, mb * 8)):
            raise BundleError(f"{where} row {k}: mask has bits set beyond gate {gates - 1}")
        acc, lat, macs = TAIL.unpack_from(data, off + mb)
        if not (0.0 <= acc <= 1.0) or not math.isfinite(lat) or lat < 0:
            raise BundleError(f"{where} row {k}: accuracy {acc} or latency {lat} ms out of range")
        bn = None
        if bn_values:
            bn = np.frombuffer(data, dtype="<f4", count=bn_values, offset=off + mb + TAIL.size).copy()
            if not np.isfinite(bn).all():
                raise BundleError(f"{where} row {k}: BatchNorm values are not finite")
        rows.append(ParetoRow(SkipConfig(bits), acc, lat, macs, bn))
    if [r.config.num_skipped for r in rows] != sorted(r.config.num_skipped for r in rows):
        raise BundleError(f"{where}: rows are not sorted by number of skipped gates")
    return rows


@dataclass
class Bundle:
    """A verified bundle directory."""

    path: Path
    manifest: dict
    rows: list[ParetoRow]

    @property
    def vmfb(self) -> Path:
        return self.path / self.manifest["files"]["module"]["name"]

    @property
    def num_gates(self) -> int:
        return int(self.manifest["model"]["num_gates"])

    @property
    def bn_values(self) -> int:
        """Length of the module's BatchNorm input (0: statistics folded into the module)."""
        return int(self.manifest["model"].get("bn_values", 0))


def read_bundle(path: str | Path) -> Bundle:
    """Open a bundle directory: manifest, every file's sha256, pareto.bin against the module."""
    folder = Path(path)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise BundleError(f"{mpath} is missing: {folder} is not a bundle made by `explorer export`")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{mpath} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BundleError(f"{mpath} is not a skip-explorer bundle manifest")
    try:
        files = manifest["files"]
        for role, entry in files.items():
            fpath = folder / entry["name"]
            if not fpath.is_file():
                raise BundleError(f"{fpath} ({role}) is missing from the bundle")
            if sha256_file(fpath) != entry["sha256"]:
                raise BundleError(f"{fpath} does not match the sha256 in manifest.json: corrupt or replaced")
        gates = int(manifest["model"]["num_gates"])
        rows = decode_pareto(
            (folder / files["pareto"]["name"]).read_bytes(), str(folder / files["pareto"]["name"]), gates
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{mpath} lacks a required field ({e})") from None
    return Bundle(folder, manifest, rows)
