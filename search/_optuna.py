"""Strategies driven by an optuna sampler, through optuna's ask/tell interface.

The sampler proposes a trial (one 0/1 parameter per gate), the engine evaluates and stores the
configuration (claiming it first, like every other), and the result goes back with `study.tell`.
Alone, the optuna study lives in memory and a fixed seed gives the same proposals every run. For
many workers, pass `storage`, an optuna `RDBStorage` on the same database URL (see
`optuna_storage`): all workers then share one optuna study named "<study>/<strategy>", each
worker reseeds its sampler (`worker_salt`) so they do not propose identical populations, and a
worker that dies stops heart-beating its running trials; optuna marks them failed and
`RetryHeartbeatStaleTrialCallback` puts them back in the queue for the others. The paper's
rankers are enqueued first with `enqueue_trial` (by default the l2-norm nested configurations,
which need no evaluations), as NSGA-II's population is seeded in `nsga2`.
"""

from __future__ import annotations

import abc
import warnings

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from explorer.search._base import BaseStrategy
from explorer.skip import Evaluation, SkipConfig

DEFAULT_BUDGET = 100
BATCH = 8  # trials in flight per worker: the engine evaluates them as one chunk
TRIES_PER_BUDGET = 20  # samplers repeat themselves on small spaces: stop after this many trials per budget

optuna.logging.set_verbosity(optuna.logging.WARNING)


def optuna_storage(url: str, heartbeat_s: int = 10, grace_s: int = 60) -> optuna.storages.RDBStorage:
    """optuna's RDB storage on the project's database URL, with heartbeats and retry of stale trials."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats and their retry callback are "experimental" in optuna
        try:
            from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

            stale = {"heartbeat_stale_trial_callback": Retry(max_retry=3)}
        except ImportError:  # optuna < 4.9
            from optuna.storages import RetryFailedTrialCallback as Retry

            stale = {"failed_trial_callback": Retry(max_retry=3)}
        # SQLite: wait for another worker's write lock as our own connections do, instead of failing
        engine_kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else None
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_s, grace_period=grace_s, **stale
        )


class OptunaStrategy(BaseStrategy):
    """Base of the optuna-driven strategies: subclasses only choose the sampler."""

    def __init__(
        self,
        storage=None,
        study_name: str | None = None,
        worker_salt: int = 0,
        enqueue: tuple[str, ...] = ("l2-norm",),
        **kwargs,
    ):
        super().__init__(**kwargs)
        ctx = self.context
        if storage is None and ctx.db_url is not None:  # share the optuna study through the results database
            storage = optuna_storage(ctx.db_url, heartbeat_s=max(1, round(ctx.stale_after_s / 6)),
                                     grace_s=max(2, round(ctx.stale_after_s)))  # fmt: skip
            study_name = study_name or f"{ctx.study}/{self.name}"
        worker_salt = worker_salt or ctx.worker_salt
        self.budget = min(self.budget or DEFAULT_BUDGET, self.space.size)
        g = self.space.num_gates
        self.distributions = {f"g{i}": IntDistribution(0, 1) for i in range(g)}
        seed = self.seed if not worker_salt else (self.seed * 1_000_003 + worker_salt) % 2**31
        self.study = optuna.create_study(
            storage=storage,
            study_name=study_name or f"explorer/{self.name}",
            directions=["maximize", "minimize"],  # accuracy, cost
            sampler=self.sampler(seed),
            load_if_exists=True,
        )
        self.storage = storage
        if self.probe is not None and "l2-norm" in enqueue:
            from explorer.search.l2_norm import L2NormStrategy

            for c in L2NormStrategy(space=self.space, probe=self.probe).nested():
                self.study.enqueue_trial(self._params(c), skip_if_exists=True)
        self._running: dict[SkipConfig, list[optuna.trial.Trial]] = {}
        self._asked = 0
        if ctx.on_heartbeat is not None:
            ctx.on_heartbeat(self.heartbeat)  # the worker's heartbeat keeps this worker's trials alive

    @abc.abstractmethod
    def sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The optuna sampler, seeded."""

    @staticmethod
    def _params(c: SkipConfig) -> dict[str, int]:
        return {f"g{i}": b for i, b in enumerate(c.bits)}

    def _done(self) -> set[SkipConfig]:
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return {SkipConfig(tuple(t.params[f"g{i}"] for i in range(self.space.num_gates))) for t in trials}

    def heartbeat(self) -> None:
        """Tell optuna that this worker's running trials are alive (called from the worker's heartbeat
        thread; a worker that dies stops calling it, and optuna retries its trials)."""
        if self.storage is not None:
            for ts in list(self._running.values()):
                for t in ts:
                    self.storage.record_heartbeat(t._trial_id)

    def ask(self) -> list[SkipConfig]:
        """Up to BATCH trials; the budget counts distinct configurations in the (shared) optuna study,
        so parallel workers may overrun it by at most one batch each."""
        if self.storage is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "experimental"; we heart-beat trials ourselves, not in optimize
                optuna.storages.fail_stale_trials(self.study)  # trials of dead workers: failed, re-queued
        done = self._done()
        room = self.budget - len(done)
        if room <= 0 or self._asked >= TRIES_PER_BUDGET * self.budget:
            return []
        configs: list[SkipConfig] = []
        for _ in range(BATCH):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize": see heartbeat()
                trial = self.study.ask(self.distributions)
            self._asked += 1
            c = SkipConfig(tuple(int(trial.params[f"g{i}"]) for i in range(self.space.num_gates)))
            self._running.setdefault(c, []).append(trial)
            if self.storage is not None:
                self.storage.record_heartbeat(trial._trial_id)
            if c not in configs:
                configs.append(c)
            if len([x for x in configs if x not in done]) >= room:
                break
        return configs

    def tell(self, results: list[Evaluation]) -> None:
        for r in results:
            for trial in self._running.pop(r.config, []):
                self.study.tell(trial, [r[self.accuracy_metric], r[self.cost_metric]])
