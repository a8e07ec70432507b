"""Shared-prefix accuracy evaluation equals naive per-configuration evaluation exactly."""

from __future__ import annotations

import pytest
import torch

from explorer.checkpoint import load_checkpoint
from explorer.data import iterate_batches
from explorer.errors import DataError
from explorer.evaluate import predict
from explorer.evaluators import Subject, create_evaluator
from explorer.evaluators.accuracy import block_executions, shared_prefix_logits
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


def test_accuracy_evaluator_equals_naive_for_all_64_configurations(tiny_ckpt, fmnist):
    subject = Subject(load_checkpoint(tiny_ckpt), _data=fmnist)
    # 300 images in batches of 128: two full batches and a partial one
    ev = create_evaluator("accuracy", subject, split="val", limit=300, batch_size=128)
    got = ev.evaluate(ALL)
    x, y = fmnist.val_x[:300], fmnist.val_y[:300]
    for config, metrics in zip(ALL, got):
        naive = predict(
            subject.checkpoint.model, x, mean=fmnist.mean, std=fmnist.std, skip=list(config.bits), batch_size=128
        )
        assert metrics["accuracy"] == float((naive == y).sum()) / 300


def test_prefix_sharing_saves_block_runs():
    shared, naive = block_executions(ALL)
    assert (shared, naive) == (1 + 2 + 4 + 8 + 16 + 32, 192)  # distinct executing prefixes vs 6·64/2
    assert block_executions([SkipConfig.all_on(6)]) == (6, 6)


def test_accuracy_context_names_split_and_limit(tiny_ckpt):
    subject = Subject(load_checkpoint(tiny_ckpt))
    assert create_evaluator("accuracy", subject, split="test", limit=100).context == "split=test;limit=100"
    with pytest.raises(DataError, match="'val'.*'test'"):
        create_evaluator("accuracy", subject, split="train")
