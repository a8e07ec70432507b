"""optuna-driven strategies on optuna's RDBStorage: shared studies, reseeded workers, dead workers' trials retried."""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from explorer.search import create_strategy
from explorer.search._optuna import optuna_storage
from explorer.skip import Evaluation, SkipSpace


def _fake_results(configs):
    # the strategy only needs two numbers per configuration: fewer skipped blocks, better and costlier
    return [Evaluation(c, {"accuracy": sum(c.bits) / 6, "macs": 1e6 * (1 + sum(c.bits))}) for c in configs]


def test_workers_share_one_optuna_study_in_the_database_and_propose_differently(tmp_path):
    url = f"sqlite:///{tmp_path}/o.db"
    space = SkipSpace(6)
    workers = [
        create_strategy("optuna-random", space=space, seed=0, budget=30, objectives=("accuracy", "macs"),
                        storage=optuna_storage(url), study_name="s/optuna-random", worker_salt=salt)
        for salt in (11, 22)
    ]  # fmt: skip
    first = [w.ask() for w in workers]
    assert first[0] != first[1]  # reseeded: not the same proposals
    for w, configs in zip(workers, first):
        w.tell(_fake_results(configs))
    study = optuna.load_study(study_name="s/optuna-random", storage=url)  # the same database URL
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2 * 8 and not study.get_trials(states=(TrialState.RUNNING,))
    # both workers see the shared study's results: the budget counts them together
    assert workers[0]._done() == workers[1]._done()


def test_running_trials_of_a_dead_worker_are_failed_and_retried_by_another(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    space = SkipSpace(6)
    kw = {"space": space, "seed": 0, "budget": 20, "objectives": ("accuracy", "macs"), "study_name": "s/optuna-tpe"}
    dead = create_strategy("optuna-tpe", storage=optuna_storage(url, heartbeat_s=1, grace_s=2), worker_salt=1, **kw)
    orphaned = dead.ask()  # asked, heart-beaten once, never told: the worker "dies"
    n_orphaned = sum(len(v) for v in dead._running.values())
    # wait until optuna's own staleness test (no heartbeat for longer than grace_s, on the database's
    # clock; the one fail_stale_trials applies) holds for every orphaned trial
    study_id = dead.storage.get_study_id_from_name("s/optuna-tpe")
    deadline = time.monotonic() + 60
    while len(dead.storage._get_stale_trial_ids(study_id)) < n_orphaned:
        assert time.monotonic() < deadline, "the dead worker's trials never went stale"
        time.sleep(0.1)
    alive = create_strategy("optuna-tpe", storage=optuna_storage(url, heartbeat_s=1, grace_s=2), worker_salt=2, **kw)
    retried = alive.ask()  # fails the stale trials first; their retries are queued and served first
    study = optuna.load_study(study_name="s/optuna-tpe", storage=url)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == n_orphaned == 8
    assert set(retried) == set(orphaned)  # the retries are served before anything new
    alive.tell(_fake_results(retried))
    assert set(orphaned) <= alive._done()
