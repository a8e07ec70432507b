"""`explorer import-model`: torchvision-layout weights (made here from our modules, random) become
checkpoints that compute what the original computes; a state dict that does not fit is refused with
one error naming the first mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from explorer.checkpoint import load_checkpoint
from explorer.cli import main
from explorer.models import create_model

LAYOUTS = {"resnet18": "tv-resnet18", "resnet34": "tv-resnet34", "resnet50": "tv-resnet50",
           "mobilenet_v2": "tv-mobilenet_v2"}  # fmt: skip


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    """A user's data set: 3×32×32 uint8 images of 4 classes (random: only shapes matter here)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8), y=rng.integers(0, 4, 100),
             x_test=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 4, 20))  # fmt: skip
    return path


def saved(tmp_path, model, name="w.safetensors", transform=lambda sd: sd):
    sd = transform({k: v.contiguous() for k, v in model.state_dict().items()})
    save_file(sd, tmp_path / name)
    return tmp_path / name


def error_of(capsys, *args) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("layout", LAYOUTS)
def test_import_computes_what_the_original_computes(layout, npz, tmp_path):
    torch.manual_seed(1)
    original = create_model(LAYOUTS[layout], num_classes=4)
    for m in original.modules():  # non-trivial BatchNorm statistics, as trained weights have
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    original.eval()
    main(["import-model", "--arch", layout, "--weights", str(saved(tmp_path, original)), "--data-dir", str(npz),
          "--input-size", "32", "32", "--out", str(tmp_path / "ckpt")])  # fmt: skip
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.arch == LAYOUTS[layout] and ckpt.meta["imported"]["layout"] == f"torchvision {layout}"
    assert ckpt.meta["dataset"]["image_size"] == [32, 32] and 0 <= ckpt.meta["accuracy"]["val"] <= 1
    x = torch.randn(2, 3, 32, 32)
    g = ckpt.num_gates
    with torch.no_grad():
        for skip in ("1" * g, "0" * g, "01" * (g // 2) + "1" * (g % 2)):
            assert torch.equal(ckpt.model(x, skip), original(x, skip)), skip


def test_a_state_dict_that_does_not_fit_is_refused_naming_the_first_mismatch(npz, tmp_path, capsys):
    torch.manual_seed(0)
    r18 = create_model("tv-resnet18", num_classes=4)
    data = ["--data-dir", str(npz), "--out", str(tmp_path / "out")]

    def drop(sd):
        return {k: v for k, v in sd.items() if k != "layer2.1.conv1.weight"}

    def widen(sd):
        return {**sd, "layer3.0.conv2.weight": torch.zeros(256, 256, 5, 5)}

    def prefix(sd):
        return {f"module.{k}": v for k, v in sd.items()}

    def extra(sd):
        return {**sd, "layer5.0.conv1.weight": torch.zeros(1)}

    cases = [
        (drop, "lacks 'layer2.1.conv1.weight' (128×128×3×3 in torchvision's resnet18)"),
        (widen, "'layer3.0.conv2.weight' is 256×256×5×5, but torchvision's resnet18 has 256×256×3×3"),
        (prefix, "its keys carry a prefix ('module.'): strip it"),
        (extra, "has 'layer5.0.conv1.weight', which torchvision's resnet18 does not"),
    ]
    for transform, message in cases:
        err = error_of(capsys, "import-model", "--arch", "resnet18", "--weights",
                       str(saved(tmp_path, r18, f"{transform.__name__}.safetensors", transform)), *data)  # fmt: skip
        assert message in err and "Traceback" not in err, (transform.__name__, err)
    imagenet = create_model("tv-resnet18", num_classes=1000)
    r18_1000 = saved(tmp_path, imagenet, "imagenet.safetensors")
    assert "classifies 1000 classes, not 4: pass --new-head" in error_of(
        capsys, "import-model", "--arch", "resnet18", "--weights", str(r18_1000), *data
    )
    assert "lacks 'features.0.0.weight'" in error_of(
        capsys, "import-model", "--arch", "mobilenet_v2", "--weights", str(r18_1000), *data
    )
    torch.save(r18.state_dict(), tmp_path / "r18.pt")  # a pickle is never loaded
    assert "is not a safetensors file" in error_of(
        capsys, "import-model", "--arch", "resnet18", "--weights", str(tmp_path / "r18.pt"), *data
    )
    assert not (tmp_path / "out").exists()  # nothing written by a refused import
    main(["import-model", "--arch", "resnet18", "--weights", str(r18_1000), "--new-head", *data])
    ckpt = load_checkpoint(tmp_path / "out")
    assert ckpt.meta["imported"]["new_head"] and ckpt.meta["num_classes"] == 4
    assert "already holds a checkpoint" in error_of(
        capsys, "import-model", "--arch", "resnet18", "--weights", str(r18_1000), "--new-head", *data
    )
    assert torch.equal(ckpt.model.layer4[1].conv2.weight, imagenet.layer4[1].conv2.weight)  # the body is kept


def test_colour_weights_on_grey_data_take_the_resized_three_channel_data_set(tmp_path, capsys):
    rng = np.random.default_rng(0)
    grey = tmp_path / "grey.npz"
    np.savez(grey, x=rng.integers(0, 256, (60, 28, 28, 1), dtype=np.uint8), y=np.arange(60) % 4)
    weights = saved(tmp_path, create_model("tv-resnet18", num_classes=4))
    args = ["import-model", "--arch", "resnet18", "--weights", str(weights), "--data-dir", str(grey)]
    err = error_of(capsys, *args, "--out", str(tmp_path / "a"))
    assert "take 3-channel images and data set npz has 1 channel: --dataset npz@28x28x3" in err
    err = error_of(capsys, *args, "--dataset", "npz@28x28x3", "--input-size", "40", "40", "--out", str(tmp_path / "a"))
    assert "ask for two sizes: give one" in err
    main([*args, "--dataset", "npz@40x40x3", "--out", str(tmp_path / "b")])
    ckpt = load_checkpoint(tmp_path / "b")
    assert ckpt.meta["dataset"]["name"] == "npz@40x40x3" and ckpt.meta["dataset"]["image_size"] == [40, 40]


def test_finetune_starts_from_the_checkpoint_on_its_own_data_and_names_the_search_to_run_next(npz, tmp_path, capsys):
    torch.manual_seed(2)
    original = create_model("tv-resnet18", num_classes=4)
    main(["import-model", "--arch", "resnet18", "--weights", str(saved(tmp_path, original)), "--data-dir", str(npz),
          "--out", str(tmp_path / "imported")])  # fmt: skip
    # lr 0: the weights stay those it started from (BatchNorm statistics still move in training)
    main(["finetune", "--checkpoint", str(tmp_path / "imported"), "--out", str(tmp_path / "ft"), "--epochs", "1",
          "--lr", "0", "--batch-size", "16", "--limit-train", "48", "--bn-recal", "0"])  # fmt: skip
    assert f"next: explorer search --checkpoint {tmp_path / 'ft'} --bn-recal" in capsys.readouterr().out
    ft = load_checkpoint(tmp_path / "ft")
    tr = ft.meta["training"]
    assert tr["init"] == str((tmp_path / "imported").resolve()) and tr["sd_pl"] == 0.5 and tr["rule"] == "sandwich"
    assert tr["init_sha256"] == load_checkpoint(tmp_path / "imported").sha256
    assert ft.meta["dataset"]["split_seed"] == 0 and ft.meta["dataset"]["source"]["path"] == str(npz)
    assert torch.equal(ft.model.layer3[1].conv1.weight, original.layer3[1].conv1.weight)
    assert not torch.equal(ft.model.bn1.running_mean, original.bn1.running_mean)
