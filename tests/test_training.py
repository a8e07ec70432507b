"""Stochastic Depth training: survival schedule, drops, learning-rate schedule, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from explorer.checkpoint import load_checkpoint
from explorer.errors import TrainingError
from explorer.models import create_model
from explorer.training import (
    DEFAULT_RECIPE,
    STATE_JSON,
    TrainConfig,
    learning_rate,
    sd_forward,
    survival_probabilities,
    train,
)


def test_survival_probabilities_follow_the_linear_rule():
    p = survival_probabilities(9, 0.5)
    assert len(p) == 9
    assert p[-1] == pytest.approx(0.5)
    assert p[0] == pytest.approx(1 - 0.5 / 9)
    assert all(a > b for a, b in zip(p, p[1:]))
    assert survival_probabilities(27, 1.0) == [1.0] * 27
    assert survival_probabilities(54, 0.2)[26] == pytest.approx(1 - 27 / 54 * 0.8)


def _count_executions(model):
    counts = [0] * model.num_blocks
    for i, block in enumerate(model.blocks):
        block.conv1.register_forward_hook(lambda m, a, o, i=i: counts.__setitem__(i, counts[i] + 1))
    return counts


def test_blocks_are_kept_with_their_survival_probability():
    torch.manual_seed(0)
    model = create_model("resnet14", in_channels=1)
    counts = _count_executions(model)
    survival = survival_probabilities(model.num_blocks, 0.3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8, 8)
    trials = 1500
    with torch.no_grad():
        for _ in range(trials):
            sd_forward(model, x, survival, gen)
    for count, p in zip(counts, survival):
        sigma = (p * (1 - p) / trials) ** 0.5
        assert abs(count / trials - p) < 4 * sigma + 1e-9


def test_kept_residuals_are_scaled_by_inverse_survival_and_drops_are_identity():
    torch.manual_seed(0)
    model = create_model("resnet14", in_channels=1).eval()
    x = torch.randn(2, 1, 8, 8)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        # survival 1 everywhere: the plain forward
        assert torch.equal(sd_forward(model, x, [1.0] * 6, gen), model(x))
        # survival ~0: every block dropped, only shortcuts remain
        h = model.stem(x)
        for b in model.blocks:
            h = b.shortcut(h)
        assert torch.equal(sd_forward(model, x, [1e-12] * 6, gen), model.head(h))
        # survival p with a forced keep: residual scaled by 1/p
        p = 0.999999
        h = model.stem(x)
        for b in model.blocks:
            h = F.relu(b.shortcut(h) + b.residual(h) * (1.0 / p))
        assert torch.equal(sd_forward(model, x, [p] * 6, torch.Generator().manual_seed(0)), model.head(h))


def test_per_sample_drops_differ_across_the_batch():
    torch.manual_seed(0)
    model = create_model("resnet14", in_channels=1).eval()
    x = torch.randn(1, 1, 8, 8).repeat(64, 1, 1, 1)
    with torch.no_grad():
        out = sd_forward(model, x, [0.5] * 6, torch.Generator().manual_seed(0), per_sample=True)
    assert len({tuple(o.round(decimals=5).tolist()) for o in out}) > 5


def test_step_schedule_scales_with_epochs():
    cfg = TrainConfig(epochs=20, lr=0.1, schedule="step")
    lrs = [learning_rate(cfg, e) for e in range(20)]
    assert lrs[:10] == [0.1] * 10
    assert lrs[10:17] == [pytest.approx(0.01)] * 7
    assert lrs[17:] == [pytest.approx(1e-4)] * 3
    cos = TrainConfig(epochs=10, lr=0.1, schedule="cosine")
    assert learning_rate(cos, 0) == pytest.approx(0.1)
    assert learning_rate(cos, 5) == pytest.approx(0.05)
    assert learning_rate(cos, 9, 1.0) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "--epochs"),
        ({"sd_pl": 0.0}, "--sd-pl"),
        ({"sd_pl": 1.5}, "--sd-pl"),
        ({"schedule": "poly"}, "--schedule"),
    ],
)
def test_bad_training_options_are_clear_errors(kwargs, match, tmp_path):
    with pytest.raises(TrainingError, match=match):
        train(TrainConfig(**kwargs), tmp_path / "out")


TINY = ["--arch", "resnet14", "--epochs", "2", "--limit-train", "1536", "--batch-size", "64", "--threads", "1"]


def _tiny_cfg():
    return TrainConfig.from_recipe("paper", arch="resnet14", epochs=2, limit_train=1536, batch_size=64)


@pytest.mark.slow
def test_training_writes_a_complete_checkpoint(tmp_path, fmnist, fmnist_small):
    # the real training split; validation and test cut to 500 images each (scoring the full 15,000
    # images, several times over, was most of this test's time)
    out = train(_tiny_cfg(), tmp_path / "ckpt", data=fmnist_small)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["metadata.json", "model.safetensors"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["arch"] == "resnet14" and meta["depth"] == 14 and meta["num_gates"] == 3
    assert meta["dataset"]["name"] == "fashion-mnist" and meta["dataset"]["mean"] == list(fmnist.mean)
    assert meta["training"]["sd_pl"] == 0.5 and meta["training"]["epochs"] == 2 and meta["training"]["seed"] == 0
    assert len(meta["training"]["history"]) == 2
    assert [h["device"] for h in meta["training"]["history"]] == ["cpu", "cpu"] and meta["training"]["device"] == "cpu"
    assert 0.0 <= meta["accuracy"]["val"] <= 1.0 and 0.0 <= meta["accuracy"]["test"] <= 1.0
    assert meta["dataset"]["test_size"] == 500 and meta["dataset"]["train_size"] == 1536
    assert meta["accuracy"]["val"] > 0.3  # 2 short epochs already learn something real
    assert len(meta["weights_sha256"]) == 64 and meta["project_version"]
    recal = meta["bn_recalibration"]  # full-depth statistics re-estimated at the end, by default
    assert recal["images"] == 1536 and recal["val_after"] == meta["accuracy"]["val"]
    ckpt = load_checkpoint(out)
    assert ckpt.sha256 == meta["weights_sha256"]
    # an existing checkpoint is never overwritten by accident
    with pytest.raises(TrainingError, match="--resume.*--force"):
        train(_tiny_cfg(), out)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(tmp_path, fmnist_npz):
    # every run in a fresh process, as a user runs them (the reference too: a process that ran
    # torch.export before training does not reproduce a fresh process's weights bit for bit);
    # 768 real Fashion-MNIST images (12 batches an epoch) and small validation and test splits: the
    # runs cost training steps, not the scoring of 15,000 images that the full data set would add
    # the paper's recipe, one forward pass a step: the default's extra sub-network passes draw from
    # the same per-epoch generator, so they add time here and no new path to resume
    small = ["--arch", "resnet14", "--epochs", "2", "--limit-train", "768", "--batch-size", "64", "--threads", "1",
             "--dataset", "npz", "--data-dir", str(fmnist_npz), "--recipe", "paper"]  # fmt: skip

    def cmd(out, *extra):
        return [sys.executable, "-m", "explorer.cli", "train", *small, "--out", str(out), *extra]

    subprocess.run(cmd(tmp_path / "reference"), check=True, capture_output=True, timeout=600)

    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out, "--save-every", "0"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if (out / STATE_JSON).exists():
                state = json.loads((out / STATE_JSON).read_text())
                if state["epoch"] == 1 and state["batch"] >= 3:  # well inside the second epoch
                    break
            time.sleep(0.05)
        else:
            pytest.fail("training never reached the second epoch")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "metadata.json").exists()
    resumed = subprocess.run(cmd(out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and "Resuming" in resumed.stdout
    a = load_checkpoint(tmp_path / "reference").meta
    b = load_checkpoint(out).meta
    assert a["weights_sha256"] == b["weights_sha256"]
    assert [h["train_loss"] for h in a["training"]["history"]] == [h["train_loss"] for h in b["training"]["history"]]


@pytest.mark.slow
def test_ctrl_c_saves_state_and_prints_how_to_resume(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "explorer.cli", "train", *TINY, "--save-every", "1000", "--out", str(out)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    deadline = time.time() + 300
    while not (out / STATE_JSON).exists() and time.time() < deadline:  # written at the end of epoch 1
        time.sleep(0.05)
    time.sleep(2)  # now inside epoch 2, whose progress exists only in memory
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "--resume" in err and "Traceback" not in err
    state = json.loads((out / STATE_JSON).read_text())
    assert state["epoch"] == 1 and state["batch"] > 0
    with pytest.raises(TrainingError, match="different settings.*epochs"):
        train(TrainConfig(arch="resnet14", epochs=3, limit_train=1536, batch_size=64), out, resume=True)
    # resumed under the other recipe: the error names the recipe the run was started with
    paper = TrainConfig.from_recipe("paper", arch="resnet14", epochs=2, limit_train=1536, batch_size=64)
    with pytest.raises(TrainingError, match=f"schedule, .*its recipe is --recipe {DEFAULT_RECIPE}"):
        train(paper, out, resume=True)


def test_recipes_fill_what_is_not_given_and_unknown_ones_are_refused():
    assert TrainConfig() == TrainConfig.from_recipe(DEFAULT_RECIPE)
    paper = TrainConfig.from_recipe("paper", rule=None, schedule="cosine")
    assert (paper.schedule, paper.sd_scope, paper.rule) == ("cosine", "all", "sd")
    with pytest.raises(TrainingError, match="--recipe must be one of skip, paper"):
        TrainConfig.from_recipe("fast")


def test_gated_scope_always_runs_the_first_block_of_each_stage():
    from explorer.training import scoped_survival

    model = create_model("resnet20", in_channels=1)
    all_blocks = scoped_survival(model, TrainConfig(sd_scope="all"))
    gated = scoped_survival(model, TrainConfig(sd_scope="gated"))
    for p_all, p_gated, gate in zip(all_blocks, gated, model.gate_of_block):
        assert p_gated == (p_all if gate >= 0 else 1.0)
    assert sum(p < 1 for p in gated) == model.num_gates


def test_onecycle_warms_up_from_a_25th_to_the_peak_then_anneals_to_zero():
    cfg = TrainConfig(epochs=20, lr=0.1, schedule="onecycle")
    assert learning_rate(cfg, 0) == pytest.approx(0.004)
    assert learning_rate(cfg, 3) == pytest.approx(0.1)  # 15% of 20 epochs
    assert learning_rate(cfg, 1) < learning_rate(cfg, 2) < learning_rate(cfg, 3) > learning_rate(cfg, 10)
    assert learning_rate(cfg, 19, 1.0) == pytest.approx(0.0, abs=1e-12)


def test_sandwich_loss_is_the_full_network_on_labels_plus_the_smallest_and_a_sampled_one_on_its_output():
    from explorer.training import sample_keep, scoped_survival, step_loss, subnet_forward

    torch.manual_seed(0)
    model = create_model("resnet14", in_channels=1).eval()  # eval: outputs independent of the batch
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    cfg = TrainConfig(rule="sandwich", sd_scope="gated")
    survival = scoped_survival(model, cfg)
    loss, logits = step_loss(model, x, y, cfg, survival, torch.Generator().manual_seed(5))
    keep = sample_keep(survival, torch.Generator().manual_seed(5))
    soft = model(x).softmax(1)
    smallest = [gate < 0 for gate in model.gate_of_block]
    expected = (
        F.cross_entropy(model(x), y)
        + F.cross_entropy(subnet_forward(model, x, smallest), soft)
        + F.cross_entropy(subnet_forward(model, x, keep), soft)
    )
    assert torch.equal(logits, model(x))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the smallest sub-network is exactly the model with every gated block skipped, as at inference
    assert torch.equal(subnet_forward(model, x, smallest), model(x, "0" * model.num_gates))
    distill, _ = step_loss(model, x, y, TrainConfig(rule="distill", sd_scope="gated"), survival,
                           torch.Generator().manual_seed(5))  # fmt: skip
    assert distill.item() == pytest.approx(
        (expected - F.cross_entropy(subnet_forward(model, x, smallest), soft)).item()
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_that_is_not_there_is_one_clear_error(tmp_path):
    with pytest.raises(TrainingError, match="sees no CUDA GPU here; use --device cpu"):
        train(TrainConfig(arch="resnet14", epochs=1, limit_train=64), tmp_path / "out", device="cuda")
