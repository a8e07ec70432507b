"""`explorer export` and `predict` on a study of a user's own npz data (8×8 grey images).

The study is searched with PyTorch latencies (quick); export compiles the module with IREE.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_run import run


@pytest.fixture(scope="module")
def npz_study(tmp_path_factory, make_npz, npz_checkpoint):
    """An npz file, a checkpoint trained on it (metadata as training writes it), and a study of it."""
    root = tmp_path_factory.mktemp("npz-study")
    npz = make_npz(root / "mine.npz")
    ckpt = npz_checkpoint(root / "ckpt", npz)
    db = f"sqlite:///{root}/s.db"
    run("search", "--checkpoint", str(ckpt), "--strategy", "sensitivity", "--latency-evaluator", "latency-torch",
        "--db", db, "--study", "s", check=True)  # fmt: skip
    return root, npz, db


def export(npz_study, out, *extra):
    _, _, db = npz_study
    return run("export", "--db", db, "--study", "s", "--out", str(out), "--no-fast-paths", *extra)


def test_export_writes_the_sample_image_for_an_npz_study(npz_study, tmp_path):
    proc = export(npz_study, tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    sample = np.load(tmp_path / "b" / "sample_image.npy")
    assert sample.shape == (1, 8, 8, 1) and sample.dtype == np.float32
    assert "sample_image" in json.loads((tmp_path / "b" / "manifest.json").read_text())["files"]
    ok = run("predict", "--bundle", str(tmp_path / "b"), "--image", str(tmp_path / "b" / "sample_image.npy"))
    assert ok.returncode == 0 and "class" in ok.stdout, ok.stderr


def test_export_says_why_it_cannot_write_the_sample_image(npz_study, tmp_path):
    root, npz, _ = npz_study
    moved = shutil.move(npz, root / "moved.npz")
    try:
        proc = export(npz_study, tmp_path / "b")
        assert proc.returncode == 0, proc.stderr  # the bundle does not need the sample image
        assert (tmp_path / "b" / "model.vmfb").is_file() and not (tmp_path / "b" / "sample_image.npy").exists()
        assert proc.stderr.startswith("warning: no sample_image.npy in the bundle:")
        assert "mine.npz, which is no longer there: pass --data-dir" in proc.stderr
        again = export(npz_study, tmp_path / "b2", "--data-dir", str(moved))
        assert again.returncode == 0 and (tmp_path / "b2" / "sample_image.npy").is_file(), again.stderr
    finally:
        shutil.move(moved, npz)


@pytest.fixture(scope="module")
def bundle(npz_study, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert export(npz_study, out).returncode == 0
    return out


@pytest.mark.parametrize("shape", [(1, 2, 2, 1), (1, 32, 32, 1), (1, 8, 8, 3)])
def test_predict_refuses_an_image_of_another_size(bundle, tmp_path, shape):
    np.save(tmp_path / "img.npy", np.zeros(shape, np.float32))
    proc = run("predict", "--bundle", str(bundle), "--image", str(tmp_path / "img.npy"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"shape {shape}" in proc.stderr and "takes (1, 8, 8, 1)" in proc.stderr


def _predicted(proc):
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]  # "skip=BITS class K (name)"


def test_predict_uses_the_most_accurate_row_by_default(bundle):
    rows = json.loads((bundle / "pareto.json").read_text())
    best = max(rows, key=lambda r: (r["accuracy"], -r["latency_ms"]))
    out = _predicted(run("predict", "--bundle", str(bundle), "--image", str(bundle / "sample_image.npy")))
    assert out.startswith(f"skip={best['config']} ")


def test_predict_normalises_raw_pixels_and_warns_about_an_unnormalised_float_image(npz_study, bundle, tmp_path):
    _, npz, _ = npz_study
    pixels = np.load(npz)["x_test"][0]  # the test image sample_image.npy was made from, uint8 8×8×1
    np.save(tmp_path / "raw.npy", pixels)
    np.save(tmp_path / "float.npy", pixels[None].astype(np.float32))
    reference = _predicted(run("predict", "--bundle", str(bundle), "--image", str(bundle / "sample_image.npy")))
    raw = run("predict", "--bundle", str(bundle), "--image", str(tmp_path / "raw.npy"))
    assert _predicted(raw) == reference and "normalised with the bundle's mean" in raw.stdout
    unnormalised = run("predict", "--bundle", str(bundle), "--image", str(tmp_path / "float.npy"))
    assert unnormalised.returncode == 0 and "far outside a normalised image" in unnormalised.stderr


def test_the_default_row_is_the_most_accurate_not_the_first():
    from types import SimpleNamespace as Row

    from explorer.cli.deploy import most_accurate

    rows = [Row(config="111111", accuracy=0.86, latency_ms=1.0), Row(config="111011", accuracy=0.89, latency_ms=0.9),
            Row(config="110011", accuracy=0.89, latency_ms=0.8), Row(config="000000", accuracy=0.5, latency_ms=0.3)]  # fmt: skip
    assert most_accurate(rows).config == "110011"
