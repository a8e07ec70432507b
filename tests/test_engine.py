"""The engine's ask/tell loop on its own: fake evaluators (arithmetic on the bits, counting their
calls) and an in-memory SQLite database, as optuna tests its samplers. No model, no data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from explorer.engine import Engine
from explorer.evaluators import BaseEvaluator
from explorer.search import BaseStrategy
from explorer.skip import SkipConfig, SkipSpace
from explorer.storage import Database
from explorer.storage.results import REFERENCE, load_study
from explorer.workers import Worker

GATES = 4


@dataclass
class FakeCheckpoint:
    num_gates: int = GATES
    sha256: str = "f" * 64
    arch: str = "fake"
    dataset: str = "none"
    path: Path = Path("/nowhere/fake")
    meta: dict = field(default_factory=dict)


@dataclass
class FakeSubject:
    checkpoint: FakeCheckpoint = field(default_factory=FakeCheckpoint)


class Accuracy(BaseEvaluator):
    """accuracy = 0.9 − 0.1 per skipped block; fails on demand after `fail_after` configurations."""

    name, metrics = "accuracy", ("accuracy",)

    def __init__(self, subject, fail_after: int | None = None):
        super().__init__(subject)
        self.seen: list[str] = []
        self.fail_after = fail_after

    def evaluate(self, configs):
        if self.fail_after is not None and len(self.seen) + len(configs) > self.fail_after:
            raise KeyboardInterrupt("killed")  # like a SIGKILL mid-search: nothing of this chunk stored
        self.seen += [str(c) for c in configs]
        return [{"accuracy": 0.9 - 0.1 * c.num_skipped} for c in configs]


class Macs(BaseEvaluator):
    name, metrics = "flops", ("macs",)

    def __init__(self, subject):
        super().__init__(subject)
        self.seen: list[str] = []

    def evaluate(self, configs):
        self.seen += [str(c) for c in configs]
        return [{"macs": 100.0 * sum(c.bits) + 10} for c in configs]


class Scripted(BaseStrategy):
    """Asks the given batches in order and records what it is told."""

    name = "scripted"

    def __init__(self, batches: list[list[str]], **kwargs):
        super().__init__(space=SkipSpace(GATES), **kwargs)
        self.batches = [[SkipConfig.parse(c, GATES) for c in b] for b in batches]
        self.told: list[list[tuple[str, float]]] = []

    def ask(self):
        return self.batches.pop(0) if self.batches else []

    def tell(self, results):
        self.told.append([(str(r.config), r["accuracy"]) for r in results])


def make_engine(db: Database, study: str = "s", **accuracy) -> tuple[Engine, Accuracy, Macs]:
    subject = FakeSubject()
    acc, macs = Accuracy(subject, **accuracy), Macs(subject)
    return Engine(db, subject, study, [acc, macs], "macs", chunk_size=2), acc, macs


@pytest.fixture
def db():
    return Database("sqlite://")


def test_each_ask_is_evaluated_and_told_back_in_the_order_asked(db):
    engine, acc, _ = make_engine(db)
    assert acc.seen == ["1111"]  # the full-depth reference is evaluated when the study opens
    strategy = Scripted([["0111", "1011", "0111"], ["0011"]])
    run = engine.run(strategy)
    assert strategy.told == [[("0111", 0.8), ("1011", 0.8)], [("0011", 0.7)]]  # a repeated ask is told once
    assert sorted(str(e.config) for e in run.evaluations) == ["0011", "0111", "1011"]
    view = load_study(db, "s")
    assert view.strategies() == ["scripted"]
    seqs = [(r["config"], r["seq"]) for r in view.rows if r["strategy"] == "scripted"]
    assert seqs == [("0111", 0), ("1011", 1), ("0011", 2)]
    assert [r["config"] for r in view.rows if r["strategy"] == REFERENCE] == ["1111"]
    # which evaluator stored each metric, read from the rows (the dashboard names it without the registry)
    assert view.measured_by == {"accuracy": "accuracy", "macs": "flops"}


def test_a_second_run_and_another_study_with_the_same_settings_measure_nothing_again(db):
    engine, acc, macs = make_engine(db)
    engine.run(Scripted([["0111", "0011"]]))
    measured = (list(acc.seen), list(macs.seen))
    again, acc2, macs2 = make_engine(db, study="other")  # same checkpoint and evaluator contexts
    strategy = Scripted([["0011", "0111"]])
    again.run(strategy)
    assert (acc2.seen, macs2.seen) == ([], [])  # every value came from the database
    assert strategy.told == [[("0011", 0.7), ("0111", 0.8)]]
    assert measured == (["1111", "0111", "0011"], ["1111", "0111", "0011"])


def test_a_search_killed_mid_run_resumes_with_only_the_missing_configurations(db):
    batches = [["0111", "1011", "1101", "1110"], ["0011"]]
    engine, acc, _ = make_engine(db, fail_after=3)  # reference + the first chunk of 2, then dies
    with pytest.raises(KeyboardInterrupt):
        engine.run(Scripted(batches))
    assert acc.seen == ["1111", "0111", "1011"]
    resumed, acc2, _ = make_engine(db)
    strategy = Scripted(batches)
    resumed.run(strategy)
    assert acc2.seen == ["1101", "1110", "0011"]  # nothing measured twice
    assert [c for c, _ in strategy.told[0]] == batches[0]
    view = load_study(db, "s")
    assert sorted(str(e.config) for e in view.evaluations("scripted")) == sorted(batches[0] + batches[1])
    trials = [r["config"] for r in view.rows if r["strategy"] == "scripted"]
    assert len(trials) == len(set(trials)) == 5  # the replayed asks did not duplicate the trials


def test_a_configuration_a_silent_worker_holds_is_waited_for_with_a_message_then_taken_over(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    said: list[str] = []
    me = Worker(db, stale_after_s=1.0)
    subject = FakeSubject()
    acc, macs = Accuracy(subject), Macs(subject)
    engine = Engine(db, subject, "s", [acc, macs], "macs", chunk_size=2, worker=me, poll_s=0.05, on_wait=said.append)
    dead = Worker(db, stale_after_s=1.0)
    dead._quit.set()  # stops heart-beating without a clean close, like a SIGKILLed search
    dead._thread.join()
    assert dead.claim(engine.checkpoint_id, engine.scope, "s", ["0011"]) == ["0011"]
    started = time.monotonic()
    got = engine.evaluate([SkipConfig.parse("0011", GATES), SkipConfig.parse("0101", GATES)], "t")
    me.close()
    assert [str(e.config) for e in got] == ["0011", "0101"] and "0011" in acc.seen  # taken over and measured
    assert time.monotonic() - started > 0.3  # it did wait for the silence, not take a live claim
    assert len(said) == 1 and "1 configuration(s) other workers claimed" in said[0]
    assert "1 s" in said[0] and "--stale-after" in said[0]


def test_a_configuration_of_the_wrong_length_is_refused_before_anything_is_stored(db):
    engine, acc, _ = make_engine(db)
    with pytest.raises(Exception, match="has 3 bits, the model has 4 gates"):
        engine.evaluate([SkipConfig((1, 0, 1))], "scripted")
    assert acc.seen == ["1111"]


def test_hypervolume_grows_as_better_trade_offs_are_found(db):
    engine, _, _ = make_engine(db)
    hv = []
    engine.run(Scripted([["0111"], ["0011"], ["0001"]]), lambda n, h: hv.append(h))
    assert hv == sorted(hv) and hv[-1] > hv[0] > 0


class AccuracyWithStats(Accuracy):
    artifact = "bn_stats"

    def evaluate(self, configs):
        return [{**m, "bn_stats": str(c).encode()} for m, c in zip(super().evaluate(configs), configs)]


def test_an_evaluators_declared_artifact_is_stored_apart_from_its_metrics(db):
    subject = FakeSubject()
    engine = Engine(db, subject, "s", [AccuracyWithStats(subject), Macs(subject)], "macs")
    engine.run(Scripted([["0111"]]))
    view = load_study(db, "s")
    assert view.artifacts == {AccuracyWithStats.name: {"1111": b"1111", "0111": b"0111"}}
    assert all(set(e.metrics) == {"accuracy", "macs"} for e in view.evaluations())


def test_bytes_returned_as_a_metric_are_refused_before_they_reach_the_database(db):
    class Leaky(AccuracyWithStats):
        artifact = None

    subject = FakeSubject()
    with pytest.raises(TypeError, match="returned bn_stats=bytes: metrics are numbers"):
        Engine(db, subject, "s", [Leaky(subject), Macs(subject)], "macs")
