"""The accuracy evaluator equals naive per-configuration evaluation exactly."""

from __future__ import annotations

import pytest

from explorer.checkpoint import load_checkpoint
from explorer.errors import DataError
from explorer.evaluators import Subject, create_evaluator
from explorer.models.predict import predict
from explorer.skip import SkipConfig

ALL = [SkipConfig.from_int(i, 6) for i in range(64)]


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


def test_accuracy_context_names_split_and_limit(tiny_ckpt):
    subject = Subject(load_checkpoint(tiny_ckpt))
    assert create_evaluator("accuracy", subject, split="test", limit=100).context == "split=test;limit=100"
    with pytest.raises(DataError, match="'val'.*'test'"):
        create_evaluator("accuracy", subject, split="train")
