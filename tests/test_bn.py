"""BatchNorm re-estimation: equals a direct computation, shared equals per-configuration, training data only."""

from __future__ import annotations

import copy
import dataclasses
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer.bn import BNStats, bn_channels, bn_layers, calibration_images, recalibrated, reestimate
from explorer.checkpoint import load_checkpoint
from explorer.data import iterate_batches
from explorer.evaluators import Subject, create_evaluator
from explorer.models.predict import predict
from explorer.skip import SkipConfig
from explorer.storage import Database
from explorer.storage.models import SCHEMA_VERSION

CONFIGS = [SkipConfig.from_int(i, 6) for i in (63, 0, 42, 13, 62, 31)]


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return load_checkpoint(tiny_ckpt).model


@pytest.fixture(scope="module")
def images(fmnist):
    return calibration_images(fmnist, 300, seed=1)


def direct(model, images, config, fmnist):
    """The textbook way, in float64: reset statistics, momentum=None, train-mode passes."""
    m = copy.deepcopy(model).double()
    for _, b in bn_layers(m):
        b.reset_running_stats()
        b.momentum = None
    m.train()
    with torch.no_grad():
        for xb, _ in iterate_batches(
            images, torch.zeros(len(images), dtype=torch.long), 100, mean=fmnist.mean, std=fmnist.std
        ):
            m(xb.double(), list(config.bits))
    ran = np.concatenate([np.full(b.num_features, int(b.num_batches_tracked) > 0) for _, b in bn_layers(m)])
    return BNStats.of_model(m), ran


def test_reestimated_statistics_equal_a_direct_computation(model, images, fmnist):
    got = reestimate(model, images, CONFIGS, mean=fmnist.mean, std=fmnist.std, batch_size=100)
    for config, stats in zip(CONFIGS, got):
        ref, ran = direct(model, images, config, fmnist)
        assert ran.sum() > 0
        # float32 batch normalisation upstream vs the float64 reference: agreement to float32 rounding
        np.testing.assert_allclose(stats.mean[ran], ref.mean[ran], rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(stats.var[ran], ref.var[ran], rtol=1e-3, atol=1e-5)
        # layers of skipped blocks keep the checkpoint's statistics
        orig = BNStats.of_model(model)
        assert np.array_equal(stats.mean[~ran], orig.mean[~ran])


def test_shared_prefix_equals_one_configuration_at_a_time(model, images, fmnist):
    together = reestimate(model, images, CONFIGS, mean=fmnist.mean, std=fmnist.std, batch_size=100)
    for config, stats in zip(CONFIGS, together):
        alone = reestimate(model, images, [config], mean=fmnist.mean, std=fmnist.std, batch_size=100)[0]
        assert np.array_equal(alone.mean, stats.mean) and np.array_equal(alone.var, stats.var)


def test_calibration_images_come_from_the_training_split_only(model, fmnist):
    poisoned = dataclasses.replace(
        fmnist, val_x=torch.full_like(fmnist.val_x, 255), test_x=torch.full_like(fmnist.test_x, 255)
    )
    a = calibration_images(fmnist, 200, seed=3)
    b = calibration_images(poisoned, 200, seed=3)
    assert torch.equal(a, b)
    pick = torch.randperm(len(fmnist.train_y), generator=torch.Generator().manual_seed(3))[:200]
    assert torch.equal(a, fmnist.train_x[pick])


def test_stats_bytes_round_trip(model):
    stats = BNStats.of_model(model)
    blob = stats.to_bytes()
    assert len(blob) == 2 * 4 * bn_channels(model)
    back = BNStats.from_bytes(blob, bn_channels(model))
    assert np.array_equal(back.mean, stats.mean) and np.array_equal(back.var, stats.var)
    with pytest.raises(ValueError, match="expected"):
        BNStats.from_bytes(blob[:-4], bn_channels(model))


def test_recalibrated_accuracy_equals_per_configuration_models(tiny_ckpt, fmnist):
    subject = Subject(load_checkpoint(tiny_ckpt), _data=fmnist)
    ev = create_evaluator("accuracy", subject, limit=300, bn_recal=300, bn_seed=2)
    out = ev.evaluate(CONFIGS)
    model = subject.checkpoint.model
    calib = calibration_images(fmnist, 300, seed=2)
    stats = reestimate(model, calib, CONFIGS, mean=fmnist.mean, std=fmnist.std)
    for config, res, st in zip(CONFIGS, out, stats):
        own = recalibrated(model, st)
        acc = float(
            (
                predict(own, fmnist.val_x[:300], mean=fmnist.mean, std=fmnist.std, skip=list(config.bits))
                == fmnist.val_y[:300]
            )
            .double()
            .mean()
        )
        plain = float(
            (
                predict(model, fmnist.val_x[:300], mean=fmnist.mean, std=fmnist.std, skip=list(config.bits))
                == fmnist.val_y[:300]
            )
            .double()
            .mean()
        )
        assert res["accuracy"] == acc and res["accuracy_plain"] == plain
        assert res["bn_stats"] == st.to_bytes()
    assert "bn_recal=300;bn_seed=2" in ev.context


def test_search_with_bn_recal_stores_statistics_and_both_fronts(tiny_ckpt, tmp_path):
    db = f"sqlite:///{tmp_path}/b.db"
    cmd = [sys.executable, "-m", "explorer.cli", "search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity",
           "--objective", "macs", "--limit", "200", "--bn-recal", "200", "--db", db, "--study", "b"]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True, timeout=900).returncode == 0
    con = sqlite3.connect(tmp_path / "b.db")
    blobs = con.execute("select length(blob) from evaluations where evaluator='accuracy'").fetchall()
    con.close()
    channels = bn_channels(load_checkpoint(tiny_ckpt).model)
    assert blobs and all(b == (8 * channels,) for b in blobs)
    plain = subprocess.run([sys.executable, "-m", "explorer.cli", "pareto", "--db", db, "--study", "b", "--plain-bn", "--json"],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert plain.returncode == 0 and '"front"' in plain.stdout


def test_version_1_database_is_upgraded(tmp_path):
    Database(f"sqlite:///{tmp_path}/old.db")
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("drop index ix_evaluation_config")
    con.execute("alter table evaluations drop column blob")
    con.execute("update schema_info set version = 1")
    con.commit()
    con.close()
    Database(f"sqlite:///{tmp_path}/old.db")
    con = sqlite3.connect(tmp_path / "old.db")
    cols = [r[1] for r in con.execute("pragma table_info(evaluations)")]
    indexes = [r[1] for r in con.execute("pragma index_list(evaluations)")]
    assert "blob" in cols and "ix_evaluation_config" in indexes
    assert con.execute("select version from schema_info").fetchone() == (SCHEMA_VERSION,)
    con.close()


@pytest.fixture(scope="module")
def npz_ckpt(fmnist_npz, tmp_path_factory):
    """A resnet20 trained briefly (256 images, no final re-estimation) on the small npz of real
    Fashion-MNIST images: `recalibrate` scores its 120 validation and 200 test images, not 15,000."""
    from explorer.training import TrainConfig, train

    cfg = TrainConfig(arch="resnet20", dataset="npz", epochs=1, limit_train=256, batch_size=64)
    return train(cfg, tmp_path_factory.mktemp("npz-ckpt") / "r20", data_dir=fmnist_npz, bn_recal=0)


def test_recalibrate_command_records_before_and_after(npz_ckpt, tmp_path):
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-m", "explorer.cli", "recalibrate", "--checkpoint", str(npz_ckpt), "--out", str(out),
                        "--images", "500"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    new = load_checkpoint(out)
    info = new.meta["bn_recalibration"]
    assert info["images"] == 500 and info["source"] == "training split"
    assert new.meta["accuracy"]["val"] == info["val_after"]
    assert new.sha256 != load_checkpoint(npz_ckpt).sha256
    # only BatchNorm statistics changed
    old = load_checkpoint(npz_ckpt).model.state_dict()
    for k, v in new.model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, old[k]), k
