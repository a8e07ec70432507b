"""`explorer evaluate`, `info` (and `search`) on a user's own npz data and on damaged checkpoints.

Every check runs the real command in a child process, as a user would, on files generated here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest
from cli_run import run

from explorer.checkpoint import METADATA_FILE, WEIGHTS_FILE


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_npz):
    """A checkpoint made by `explorer train` on an npz file (1 epoch on 8×8 images)."""
    root = tmp_path_factory.mktemp("npz-train")
    npz = make_npz(root / "digits.npz")
    out = root / "ckpt"
    run("train", "--dataset", "npz", "--data-dir", str(npz), "--arch", "resnet20", "--epochs", "1",
        "--val-size", "20", "--batch-size", "32", "--out", str(out), "--threads", "1", check=True)  # fmt: skip
    return out, npz


def test_training_records_the_npz_path_and_sha256(trained):
    ckpt, npz = trained
    source = json.loads((ckpt / METADATA_FILE).read_text())["dataset"]["source"]
    assert source == {"path": str(npz.resolve()), "sha256": hashlib.sha256(npz.read_bytes()).hexdigest()}
    out = run("info", "--checkpoint", str(ckpt), check=True).stdout
    assert "npz (8×8, 1 ch, 4 classes)" in out and "(verified)" in out
    assert re.search(rf"data file\s+{re.escape(str(npz.resolve()))} \(sha256 {source['sha256'][:12]}…\)", out)


def test_evaluate_and_search_use_the_recorded_npz_without_data_dir(trained, tmp_path):
    ckpt, npz = trained
    out = run("evaluate", "--checkpoint", str(ckpt), "--split", "test", check=True).stdout
    assert "resnet20 skip=111111 test[40]: accuracy" in out
    db = f"sqlite:///{tmp_path}/s.db"
    proc = run("search", "--checkpoint", str(ckpt), "--strategy", "sensitivity", "--objective", "macs",
               "--db", db, "--study", "s", check=True)  # fmt: skip
    assert "sensitivity:" in proc.stdout


def test_evaluate_refuses_a_changed_npz_and_names_the_fix(tmp_path, make_npz, npz_checkpoint):
    npz = make_npz(tmp_path / "mine.npz")
    ckpt = npz_checkpoint(tmp_path / "c", npz)
    make_npz(npz, n=201)  # more images: every split would be another one
    proc = run("evaluate", "--checkpoint", str(ckpt))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mine.npz has changed since checkpoint" in proc.stderr and "pass --data-dir" in proc.stderr


def test_evaluate_refuses_a_moved_npz_until_given_its_new_place(tmp_path, make_npz, npz_checkpoint):
    npz = make_npz(tmp_path / "mine.npz")
    ckpt = npz_checkpoint(tmp_path / "c", npz)
    moved = shutil.move(npz, tmp_path / "elsewhere.npz")
    proc = run("evaluate", "--checkpoint", str(ckpt))
    assert proc.returncode == 2 and "which is no longer there: pass --data-dir" in proc.stderr
    ok = run("evaluate", "--checkpoint", str(ckpt), "--data-dir", str(moved), check=True)
    assert "val[20]: accuracy" in ok.stdout and "warning" not in ok.stderr


def test_evaluate_on_another_npz_warns_that_its_splits_are_not_the_trainings(tmp_path, make_npz, npz_checkpoint):
    npz = make_npz(tmp_path / "mine.npz")
    ckpt = npz_checkpoint(tmp_path / "c", npz)
    other = make_npz(tmp_path / "other.npz", seed=5)
    proc = run("evaluate", "--checkpoint", str(ckpt), "--data-dir", str(other), check=True)
    assert "val[20]: accuracy" in proc.stdout
    assert proc.stderr.startswith("warning: ") and "other.npz is not the file checkpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("size", [(2, 2), (32, 32)])
def test_evaluate_refuses_images_of_another_size(tmp_path, size, make_npz, npz_checkpoint):
    ckpt = npz_checkpoint(tmp_path / "c", make_npz(tmp_path / "mine.npz"))
    other = make_npz(tmp_path / "other.npz", size=size)
    proc = run("evaluate", "--checkpoint", str(ckpt), "--data-dir", str(other))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        f"expects 8×8 images, but data set npz ({other.resolve()}) here has {size[0]}×{size[1]} images" in proc.stderr
    )


def test_info_refuses_truncated_weights(tmp_path, make_npz, npz_checkpoint):
    ckpt = npz_checkpoint(tmp_path / "c", make_npz(tmp_path / "mine.npz"))
    weights = ckpt / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for extra in ([], ["--json"]):
        proc = run("info", "--checkpoint", str(ckpt), *extra)
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
        assert "model.safetensors does not match the sha256" in proc.stderr


def test_info_refuses_metadata_claiming_another_architecture(tmp_path, make_npz, npz_checkpoint):
    ckpt = npz_checkpoint(tmp_path / "c", make_npz(tmp_path / "mine.npz"))
    meta = json.loads((ckpt / METADATA_FILE).read_text())
    meta["arch"] = "resnet56"
    (ckpt / METADATA_FILE).write_text(json.dumps(meta))
    proc = run("info", "--checkpoint", str(ckpt))
    assert proc.returncode == 2 and proc.stdout == "" and "does not fit a resnet56" in proc.stderr


def test_search_into_memory_warns_that_nothing_is_kept_and_an_empty_study_is_refused(trained):
    ckpt, _ = trained
    common = ["search", "--checkpoint", str(ckpt), "--strategy", "sensitivity", "--objective", "macs"]
    memory = run(*common, "--db", "sqlite:///", check=True)
    assert "keeps the results in memory: they are lost when this command ends" in memory.stdout
    empty = run(*common, "--db", "sqlite:///:memory:", "--study", "")
    assert empty.returncode == 2 and "--study is empty" in empty.stderr
