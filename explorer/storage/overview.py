"""The read side that spans studies, for the dashboard: study summaries, change markers that key its
caches, and a study's raw trials and measurements (plain Python values; the dashboard makes tables).
The read model of one study is `results.StudyView`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from explorer.storage.models import (
    DEVICE_EVALUATOR,
    ENERGY_EVALUATOR,
    REFERENCE,
    CheckpointRecord,
    EvaluationRecord,
    Study,
    Trial,
)
from explorer.storage.session import Database

if TYPE_CHECKING:  # the read model imports pymoo (about 0.6 s): only when a study is read
    from explorer.storage.results import StudyView


def study_summaries(db: Database) -> list[dict]:
    """One dict per study, newest first: name, arch, dataset, num_gates, checkpoint sha256, settings,
    strategies (sorted, without the reference), configurations, last update (SQL aggregates)."""
    with db.session() as s:
        trials = (
            select(Trial.study_id, func.count(Trial.id).label("trials"),
                   func.count(func.distinct(Trial.config)).label("configurations"),
                   func.max(Trial.created_at).label("last_trial"))
            .group_by(Trial.study_id).subquery()
        )  # fmt: skip
        q = (
            select(Study.name, CheckpointRecord.arch, CheckpointRecord.dataset, CheckpointRecord.num_gates,
                   CheckpointRecord.sha256, Study.settings, Study.updated_at, trials.c.trials,
                   trials.c.configurations, trials.c.last_trial)
            .join(CheckpointRecord, CheckpointRecord.id == Study.checkpoint_id)
            .outerjoin(trials, trials.c.study_id == Study.id)
            .order_by(Study.updated_at.desc())
        )  # fmt: skip
        rows = s.execute(q).all()
        strategies: dict[str, list[str]] = {}
        for name, strategy in s.execute(
            select(Study.name, Trial.strategy).join(Trial, Trial.study_id == Study.id).distinct()
        ):  # portable: no group_concat / string_agg
            if strategy != REFERENCE:
                strategies.setdefault(name, []).append(strategy)
    return [
        {
            "name": r.name, "arch": r.arch, "dataset": r.dataset, "num_gates": r.num_gates, "sha256": r.sha256,
            "settings": r.settings, "strategies": sorted(strategies.get(r.name, [])),
            "configurations": int(r.configurations or 0),
            "last_update": max(x for x in (r.updated_at, r.last_trial) if x is not None),
        }
        for r in rows
    ]  # fmt: skip


def db_version(db: Database) -> tuple:
    """Changes whenever a study, trial or evaluation is added or updated: the key of every cache."""
    with db.session() as s:
        trials = s.execute(select(func.count(Trial.id), func.max(Trial.id))).one()
        evals = s.execute(select(func.count(EvaluationRecord.id), func.max(EvaluationRecord.id))).one()
        studies = s.execute(select(func.count(Study.id), func.max(Study.updated_at))).one()
    return (*trials, *evals, studies[0], str(studies[1]))


def study_versions(db: Database) -> dict[str, tuple]:
    """Per study, what changes when its view may change: its trials (count, last id), the
    evaluations of its checkpoint (count, last id), its last update. Keys the caches of one study,
    so a running search makes only its own study read again."""
    with db.session() as s:
        trials = dict((r[0], r[1:]) for r in s.execute(
            select(Trial.study_id, func.count(Trial.id), func.max(Trial.id)).group_by(Trial.study_id)))  # fmt: skip
        evals = dict((r[0], r[1:]) for r in s.execute(
            select(EvaluationRecord.checkpoint_id, func.count(EvaluationRecord.id), func.max(EvaluationRecord.id))
            .group_by(EvaluationRecord.checkpoint_id)))  # fmt: skip
        studies = s.execute(select(Study.id, Study.name, Study.checkpoint_id, Study.updated_at)).all()
    return {name: (*trials.get(sid, (0, None)), *evals.get(cid, (0, None)), str(updated))
            for sid, name, cid, updated in studies}  # fmt: skip


def left_out(db: Database, view: StudyView) -> list[tuple[str, str, list[str]]]:
    """The study's trials that its view leaves out, and why: (strategy, configuration, the evaluators
    under the view's settings that have not measured it) for each."""
    contexts = view.settings["evaluators"]
    required = set(contexts) - {ENERGY_EVALUATOR}
    shown = {(r["strategy"], r["config"]) for r in view.rows}
    with db.session() as s:
        sid = s.scalars(select(Study.id).where(Study.name == view.name)).one()
        if s.scalar(select(func.count(Trial.id)).where(Trial.study_id == sid)) == len(shown):
            return []  # nothing left out (the common case: no row read)
        trials = [t for t in s.execute(select(Trial.strategy, Trial.config).where(Trial.study_id == sid))
                  if tuple(t) not in shown]  # fmt: skip
        configs = sorted({c for _, c in trials})
        have: dict[str, set] = {}
        for i in range(0, len(configs), 500):
            for config, evaluator, context in s.execute(
                select(EvaluationRecord.config, EvaluationRecord.evaluator, EvaluationRecord.context).where(
                    EvaluationRecord.checkpoint_id == view.checkpoint.id,
                    EvaluationRecord.config.in_(configs[i : i + 500]),
                )
            ):
                if contexts.get(evaluator) == context:
                    have.setdefault(config, set()).add(evaluator)
    return [(st, c, sorted(required - have.get(c, set()))) for st, c in trials]


def trial_counts(db: Database, study: str) -> dict[str, int]:
    """Trials stored per strategy (what the database holds, before any view drops one)."""
    with db.session() as s:
        rows = s.execute(
            select(Trial.strategy, func.count(Trial.id)).join(Study, Study.id == Trial.study_id)
            .where(Study.name == study).group_by(Trial.strategy)
        ).all()  # fmt: skip
    return dict(rows)


def config_measurements(db: Database, checkpoint_id: int, config: str) -> list[tuple[str, str, dict, float]]:
    """Every measurement stored for one configuration of a checkpoint, under any settings:
    (evaluator, settings, metrics, wall time in s), by evaluator."""
    with db.session() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(EvaluationRecord.evaluator, EvaluationRecord.context, EvaluationRecord.metrics,
                       EvaluationRecord.wall_time_s)
                .where(EvaluationRecord.checkpoint_id == checkpoint_id, EvaluationRecord.config == config)
                .order_by(EvaluationRecord.evaluator)
            )
        ]  # fmt: skip


def devices(db: Database, study: str) -> list[str]:
    """Boards with imported latencies for this study."""
    with db.session() as s:
        sid = s.scalars(select(Study.id).where(Study.name == study)).first()
        ctx = s.scalars(
            select(func.distinct(EvaluationRecord.context)).where(
                EvaluationRecord.study_id == sid, EvaluationRecord.evaluator == DEVICE_EVALUATOR
            )
        ).all()
    return [c.split("=", 1)[1] for c in ctx]


def evaluation_span(db: Database, evaluator: str) -> tuple:
    """(first stored, last stored, count) of one evaluator's results in the whole database: the
    throughput of a search, read back from what it stored."""
    with db.session() as s:
        return tuple(
            s.execute(
                select(
                    func.min(EvaluationRecord.created_at), func.max(EvaluationRecord.created_at), func.count()
                ).where(EvaluationRecord.evaluator == evaluator)
            ).one()
        )
