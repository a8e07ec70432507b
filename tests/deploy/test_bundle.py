"""pareto.bin round-trips, and no damage to a bundle escapes as anything but a BundleError."""

from __future__ import annotations

import json
import random
import struct
import zlib

import numpy as np
import pytest

from explorer.deploy.bundle import (
    HEADER,
    BundleError,
    ParetoRow,
    decode_pareto,
    encode_pareto,
    read_bundle,
    sha256_file,
)
from explorer.skip import SkipConfig


def rows(g=6):
    return [
        ParetoRow(
            SkipConfig.from_int(0b110000, g) if g == 6 else SkipConfig.skipping([0, 1], g), 0.81, 1.25, 16_000_000
        ),
        ParetoRow(SkipConfig.all_on(g), 0.93, 2.5, 30_000_000),
        ParetoRow(SkipConfig.skipping([g - 1], g), 0.92, 2.1, 27_000_000),
    ]


@pytest.mark.parametrize("g", [6, 24, 51, 64, 65])
def test_round_trip_sorted_by_skipped_blocks(g):
    data = encode_pareto(rows(g), g)
    back = decode_pareto(data, expected_gates=g)
    assert [r.config.num_skipped for r in back] == [0, 1, 2 if g != 6 else 4]
    assert back[0].config == SkipConfig.all_on(g) and back[0].macs == 30_000_000
    assert back[0].accuracy == pytest.approx(0.93) and back[0].latency_ms == pytest.approx(2.5)


def test_layout_is_the_documented_one():
    data = encode_pareto(rows(), 6)
    magic, version, gates, count, size = HEADER.unpack_from(data)
    assert (magic, version, gates, count, size) == (b"SKPARETO", 1, 6, 3, 1 + 16)
    first = data[HEADER.size : HEADER.size + size]
    assert first[0] == 0b111111  # all six gates execute: bits 0..5 set, LSB first
    assert struct.unpack_from("<ffQ", first, 1) == (pytest.approx(0.93), 2.5, 30_000_000)
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
    # mask of 110000 (gates 2..5 skipped): gate 0 and 1 execute → bits 0 and 1
    last = data[HEADER.size + 2 * size]
    assert last == 0b000011


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d[:10], "truncated"),
        (lambda d: d[:-1], "promises"),
        (lambda d: d + b"\0", "trailing|promises"),
        (lambda d: b"XKPARETO" + d[8:], "bad magic"),
        (lambda d: d[:8] + struct.pack("<H", 3) + d[10:], "version 3"),
        (lambda d: d[:30] + bytes([d[30] ^ 1]) + d[31:], "CRC"),
    ],
)
def test_damaged_files_are_named_errors(mutate, match):
    with pytest.raises(BundleError, match=match):
        decode_pareto(mutate(encode_pareto(rows(), 6)), "x/pareto.bin")


def test_gate_count_must_match_the_module():
    with pytest.raises(BundleError, match="6 gates but the module has 24"):
        decode_pareto(encode_pareto(rows(), 6), expected_gates=24)


def bn_rows(g=6, values=10):
    rng = np.random.default_rng(0)
    return [
        ParetoRow(r.config, r.accuracy, r.latency_ms, r.macs, rng.standard_normal(values).astype(np.float32))
        for r in rows(g)
    ]


def test_version_2_carries_batchnorm_values_per_row():
    data = encode_pareto(bn_rows(), 6)
    assert struct.unpack_from("<H", data, 8)[0] == 2 and struct.unpack_from("<I", data, 20)[0] == 10
    back = decode_pareto(data, expected_gates=6, expected_bn=10)
    by_config = {str(r.config): r for r in bn_rows()}
    for r in back:
        assert np.array_equal(r.bn, by_config[str(r.config)].bn)
    # files without statistics stay version 1, readable as before
    assert struct.unpack_from("<H", encode_pareto(rows(), 6), 8)[0] == 1
    with pytest.raises(BundleError, match="carries 10 BatchNorm values per row but the module takes 12"):
        decode_pareto(data, expected_gates=6, expected_bn=12)
    with pytest.raises(BundleError, match="carries 0 BatchNorm values"):
        decode_pareto(encode_pareto(rows(), 6), expected_bn=12)
    with pytest.raises(BundleError, match="either every row"):
        encode_pareto(bn_rows()[:1] + rows()[1:], 6)


@pytest.mark.parametrize("version", [1, 2])
def test_fuzzed_files_only_raise_bundle_errors(version):
    rng = random.Random(version)
    good = encode_pareto(rows(24) if version == 1 else bn_rows(24, 7), 24)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(5000):
        data = bytearray(good)
        kind = rng.random()
        if kind < 0.3:
            data = data[: rng.randrange(len(data))]
        elif kind < 0.8:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            # flips with a recomputed CRC: the field checks themselves must catch it
            data[rng.randrange(len(data) - 4)] ^= 1 << rng.randrange(8)
            data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
        try:
            decode_pareto(bytes(data), expected_gates=24, expected_bn=0 if version == 1 else 7)
            outcomes["ok"] += 1
        except BundleError:
            outcomes["error"] += 1
    assert outcomes["error"] > 3000


def _bundle(tmp_path):
    (tmp_path / "model.vmfb").write_bytes(b"module bytes")
    (tmp_path / "pareto.bin").write_bytes(encode_pareto(rows(), 6))
    files = {
        "module": {"name": "model.vmfb", "sha256": sha256_file(tmp_path / "model.vmfb")},
        "pareto": {"name": "pareto.bin", "sha256": sha256_file(tmp_path / "pareto.bin")},
    }
    manifest = {"format": "skip-explorer-bundle", "format_version": 1, "model": {"num_gates": 6}, "files": files}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_manifest_verification(tmp_path):
    b = read_bundle(_bundle(tmp_path))
    assert len(b.rows) == 3 and b.vmfb.name == "model.vmfb"
    (tmp_path / "model.vmfb").write_bytes(b"other bytes")
    with pytest.raises(BundleError, match="model.vmfb does not match the sha256"):
        read_bundle(tmp_path)
    (tmp_path / "model.vmfb").unlink()
    with pytest.raises(BundleError, match="model.vmfb .module. is missing"):
        read_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle(tmp_path)
    with pytest.raises(BundleError, match="not a bundle"):
        read_bundle(tmp_path / "nothing")


def test_manifest_gate_count_checked_against_pareto_bin(tmp_path):
    _bundle(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["model"]["num_gates"] = 24
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="6 gates but the module has 24"):
        read_bundle(tmp_path)
