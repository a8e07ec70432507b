"""The prefix walk: many configurations per batch, equal to the plain forward pass bit for bit."""

from __future__ import annotations

import subprocess
import sys

import torch

from explorer.checkpoint import load_checkpoint
from explorer.data import iterate_batches
from explorer.models.walk import block_executions, shared_prefix_logits
from explorer.skip import SkipConfig

ALL = [SkipConfig.from_int(i, 6) for i in range(64)]


def test_shared_prefix_logits_equal_plain_forward_bit_for_bit(tiny_ckpt, fmnist):
    model = load_checkpoint(tiny_ckpt).model
    xb, _ = next(
        iterate_batches(fmnist.val_x[:64], fmnist.val_y[:64], 64, mean=fmnist.mean, std=fmnist.std, channels_last=True)
    )
    shared = shared_prefix_logits(model, xb, ALL)
    with torch.inference_mode():
        for config, logits in zip(ALL, shared):
            assert torch.equal(logits, model(xb, list(config.bits))), str(config)


def test_prefix_sharing_saves_block_runs():
    shared, naive = block_executions(ALL)
    assert (shared, naive) == (1 + 2 + 4 + 8 + 16 + 32, 192)  # distinct executing prefixes vs 6·64/2
    assert block_executions([SkipConfig.all_on(6)]) == (6, 6)


def test_training_and_bn_reestimation_need_no_search_or_storage_layer():
    # scripts/train_models.py runs on machines with PyTorch alone (the GPU machine had no
    # SQLAlchemy): re-estimating BatchNorm at the end of training must not import the database layer,
    # and neither trainer draws with rich (the CLI's listener does)
    code = (
        "import sys\n"
        "for m in ('sqlalchemy', 'pymoo', 'optuna', 'explorer.storage', 'explorer.evaluators', 'explorer.search',"
        " 'rich'):\n"
        "    sys.modules[m] = None\n"
        "import torch\n"
        "from explorer.bn import reestimate\n"
        "from explorer.models import create_model\n"
        "from explorer.skip import SkipConfig\n"
        "import explorer.training\n"
        "import explorer.skipnet.training\n"
        "m = create_model('resnet20', in_channels=1, num_classes=10)\n"
        "imgs = torch.randint(0, 255, (8, 28, 28, 1), dtype=torch.uint8)\n"
        "stats = reestimate(m, imgs, [SkipConfig.all_on(m.num_gates)], mean=[0.5], std=[0.25])\n"
        "print(len(stats))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
