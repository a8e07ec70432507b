"""The results store: the only module that reads and writes studies, trials and evaluations.

Writes (the engine's): `register_checkpoint`, `open_study`, `cached_metrics`, `record_trials`,
`store_evaluations`, and `import_device_csv` (measurements from a board). Reads: `load_study`
returns a `StudyView`, the read model that export, report, dashboard and CLI work from. An
evaluation is keyed by (checkpoint, evaluator, context, configuration), so a result measured once
serves every study with the same settings.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, null, select

from explorer.errors import ConfigError
from explorer.pareto import front_indices, hypervolume
from explorer.skip import Evaluation, SkipConfig
from explorer.storage.models import (  # the names are re-exported: results is where callers look for them
    DEVICE_EVALUATOR,
    ENERGY_EVALUATOR,
    REFERENCE,
    CheckpointRecord,
    EvaluationRecord,
    Study,
    Trial,
)
from explorer.storage.session import Database, StorageError, StudySettingsError


def device_context(device: str) -> str:
    return f"device={device}"


def is_latency_evaluator(name: str) -> bool:
    """Evaluators that measure `latency_ms` are named latency-* (register_evaluator enforces it), so a
    stored study tells its latency evaluator from its settings alone."""
    return name.startswith("latency-")


# -- writes ----------------------------------------------------------------------------------------


def register_checkpoint(db: Database, *, sha256: str, arch: str, dataset: str, num_gates: int, path: str,
                        meta: dict) -> int:  # fmt: skip
    """The checkpoint's id, inserting its record the first time."""
    with db.session() as s:
        row = {"sha256": sha256, "arch": arch, "dataset": dataset, "num_gates": num_gates, "path": path, "meta": meta}
        db.insert_ignore(s, CheckpointRecord, [row])
        s.commit()
        return s.scalars(select(CheckpointRecord.id).where(CheckpointRecord.sha256 == sha256)).one()


def open_study(db: Database, name: str, checkpoint_id: int, settings: dict, checkpoint_path: str) -> int:
    """The study's id, creating it the first time; refused if the name belongs to another
    checkpoint or was created with other settings."""
    with db.session() as s:
        db.insert_ignore(s, Study, [{"name": name, "checkpoint_id": checkpoint_id, "settings": settings}])
        s.commit()
        study = s.scalars(select(Study).where(Study.name == name)).one()
        if study.checkpoint_id != checkpoint_id:
            other = s.get(CheckpointRecord, study.checkpoint_id)
            raise StorageError(
                f"study {name!r} belongs to checkpoint {other.path} (sha256 {other.sha256[:12]}…), not "
                f"{checkpoint_path}: choose another --study name"
            )
        if study.settings != settings:
            err = StudySettingsError(
                f"study {name!r} was created with other settings ({_settings_text(study.settings)}), "
                f"this run uses {_settings_text(settings)}: use the same options or another --study name"
            )
            err.settings = settings
            raise err
        return study.id


def cached_metrics(
    db: Database, checkpoint_id: int, evaluator: str, context: str, configs: list[str]
) -> dict[str, dict]:
    """configuration → metrics stored for this evaluator and context (those not stored are absent)."""
    with db.session() as s:
        rows = s.execute(
            select(EvaluationRecord.config, EvaluationRecord.metrics).where(
                EvaluationRecord.checkpoint_id == checkpoint_id,
                EvaluationRecord.evaluator == evaluator,
                EvaluationRecord.context == context,
                EvaluationRecord.config.in_(configs),
            )
        ).all()
    return {config: metrics for config, metrics in rows}


def record_trials(db: Database, study_id: int, strategy: str, configs: list[str]) -> None:
    """The configurations a strategy asked for, numbered in asking order after its earlier ones."""
    with db.session() as s:
        start = s.scalar(select(func.count()).where(Trial.study_id == study_id, Trial.strategy == strategy))
        rows = [
            {"study_id": study_id, "strategy": strategy, "config": c, "seq": start + i} for i, c in enumerate(configs)
        ]
        db.insert_ignore(s, Trial, rows)
        s.execute(Study.__table__.update().where(Study.id == study_id).values(updated_at=func.now()))
        s.commit()


def store_evaluations(db: Database, rows: list[dict]) -> int:
    """Insert evaluation rows (columns of `EvaluationRecord`); a row whose key is stored already is
    left as it is (another worker was first). Returns the rows inserted."""
    with db.session() as s:
        added = db.insert_ignore(s, EvaluationRecord, rows)
        s.commit()
    return added


def import_device_csv(
    db: Database, study: str, csv_path: Path, device: str, evaluator: str, metric: str, unit: str
) -> tuple[int, int]:
    """Store per-configuration measurements from a board (CSV: config,<metric>[,<p95>]) as
    evaluations of `evaluator` for `device`; returns (rows added, rows that were stored already)."""
    with db.session() as s:
        st = s.scalars(select(Study).where(Study.name == study)).first()
        if st is None:
            raise StorageError(f"no study named {study!r} in {db.url}")
        ckpt = s.get(CheckpointRecord, st.checkpoint_id)
    if not csv_path.is_file():
        raise ConfigError(f"{csv_path} does not exist")
    p95 = metric.replace("_ms", "_p95_ms") if metric.endswith("_ms") else None
    rows = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "config" not in reader.fieldnames or metric not in reader.fieldnames:
            raise ConfigError(f"{csv_path} needs a header with columns config,{metric}" + (f"[,{p95}]" if p95 else ""))
        for line, rec in enumerate(reader, start=2):
            try:
                config = SkipConfig.parse(rec["config"].strip(), ckpt.num_gates)
                metrics = {metric: float(rec[metric])}
                if p95 and rec.get(p95):
                    metrics[p95] = float(rec[p95])
            except (ValueError, TypeError, AttributeError) as e:
                raise ConfigError(f"{csv_path} line {line}: {e}") from None
            if not np.isfinite(metrics[metric]) or metrics[metric] <= 0:
                raise ConfigError(f"{csv_path} line {line}: {metric} {metrics[metric]} {unit} is not a positive number")
            rows.append(
                {"checkpoint_id": ckpt.id, "evaluator": evaluator, "context": device_context(device),
                 "config": str(config), "num_skipped": config.num_skipped, "metrics": metrics, "wall_time_s": 0.0,
                 "study_id": st.id, "strategy": "import"}
            )  # fmt: skip
    added = store_evaluations(db, rows)
    return added, len(rows) - added


def _settings_text(settings: dict) -> str:
    parts = [f"cost {settings.get('cost_metric')}"]
    parts += [f"{k}[{v}]" if v else k for k, v in sorted(settings.get("evaluators", {}).items())]
    return ", ".join(parts)


# -- reads ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def _config_of(bits: str) -> SkipConfig:
    """The SkipConfig of a stored bit string (immutable, so one object serves every view that reads
    it: a study of 10,000 configurations is read for its front more than once per page)."""
    return SkipConfig(tuple(int(b) for b in bits))


@dataclass
class StudyView:
    """Everything stored for one study: its settings, checkpoint, and per-strategy evaluations."""

    name: str
    settings: dict
    checkpoint: CheckpointRecord
    rows: list[dict]  # one per (strategy, configuration): config, strategy, seq, metrics, wall_time_s
    # evaluator → config → the artifact (bytes) it stored beside its metrics (the accuracy evaluator's
    # re-estimated BatchNorm statistics); which evaluator declares which artifact is the registry's business
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    measured_by: dict[str, str] = field(default_factory=dict)  # metric → the evaluator that stored it

    @property
    def cost_metric(self) -> str:
        return self.settings["cost_metric"]

    @property
    def latency_evaluator(self) -> str | None:
        """The evaluator whose latency_ms this view uses (a measured one, or an imported device)."""
        return next((name for name in self.settings["evaluators"] if is_latency_evaluator(name)), None)

    def evaluations(self, strategy: str | None = None) -> list[Evaluation]:
        seen: dict[str, Evaluation] = {}
        for r in self.rows:
            if (strategy is None or r["strategy"] == strategy) and r["config"] not in seen:
                seen[r["config"]] = Evaluation(_config_of(r["config"]), r["metrics"])
        return list(seen.values())

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(r["strategy"] for r in self.rows if r["strategy"] != REFERENCE))

    @property
    def full(self) -> Evaluation:
        full = "1" * self.checkpoint.num_gates
        for r in self.rows:  # the first row of it, as in evaluations()
            if r["config"] == full:
                return Evaluation(_config_of(full), r["metrics"])
        if DEVICE_EVALUATOR in self.settings["evaluators"]:
            raise StorageError(
                f"no latency of the full-depth configuration {full} was imported for "
                f"{self.settings['evaluators'][DEVICE_EVALUATOR]}: it is the reference of the front; "
                "include it in the CSV (bench.sh does)"
            )
        raise StorageError(f"study {self.name!r} has no full-depth evaluation yet: run explorer search first")

    def front(self, strategy: str | None = None) -> list[Evaluation]:
        evs = [e for e in self.evaluations(strategy) if self.cost_metric in e.metrics and "accuracy" in e.metrics]
        idx = front_indices([e["accuracy"] for e in evs], [e[self.cost_metric] for e in evs])
        return [evs[i] for i in idx]

    def hypervolume(self, strategy: str | None = None) -> float:
        evs = [e for e in self.evaluations(strategy) if self.cost_metric in e.metrics]
        return hypervolume(
            [e["accuracy"] for e in evs], [e[self.cost_metric] for e in evs], self.full[self.cost_metric]
        )

    def wall_time_s(self, strategy: str) -> float:
        """Seconds its configurations cost to evaluate (all evaluators), whoever evaluated them first."""
        return sum(r["wall_time_s"] for r in self.rows if r["strategy"] == strategy)


def load_study(
    db: Database, name: str, device: str | None = None, plain_bn: bool = False, artifacts: bool = True
) -> StudyView:
    """Read a study and the evaluations of all its trials under the study's evaluator settings.

    `device`: use the latencies imported for that device instead of the study's own latency
    evaluator (only configurations measured on the device are then part of the view).
    `plain_bn`: in a study searched with BatchNorm re-estimation, use the accuracy with the stock
    statistics (`accuracy_plain`) instead, to compare both fronts.
    `artifacts=False`: leave the stored artifacts (BatchNorm statistics, kilobytes per configuration)
    unread, for views that only look at the metrics.
    """
    with db.session() as s:
        study = s.scalars(select(Study).where(Study.name == name)).first()
        if study is None:
            names = s.scalars(select(Study.name).order_by(Study.name)).all()
            hint = f"studies here: {', '.join(names)}" if names else "this database has no studies yet"
            raise StorageError(f"no study named {name!r} in {db.url} ({hint})")
        checkpoint = s.get(CheckpointRecord, study.checkpoint_id)
        settings = study.settings
        if device is not None:
            evaluators = {k: v for k, v in settings["evaluators"].items() if not is_latency_evaluator(k)}
            evaluators[DEVICE_EVALUATOR] = device_context(device)
            evaluators[ENERGY_EVALUATOR] = device_context(device)  # merged where imported, else absent
            settings = {**settings, "evaluators": evaluators, "cost_metric": "latency_ms"}
        contexts = settings["evaluators"]
        q = (
            select(Trial.strategy, Trial.config, Trial.seq, EvaluationRecord.evaluator, EvaluationRecord.context,
                   EvaluationRecord.metrics, EvaluationRecord.wall_time_s,
                   EvaluationRecord.blob if artifacts else null())
            .join(EvaluationRecord, (EvaluationRecord.config == Trial.config)
                  & (EvaluationRecord.checkpoint_id == study.checkpoint_id))
            .where(Trial.study_id == study.id)
            .order_by(Trial.strategy, Trial.seq)
        )  # fmt: skip
        merged: dict[tuple[str, str], dict] = {}
        artifacts: dict[str, dict[str, bytes]] = {}
        measured_by: dict[str, str] = {}
        for strategy, config, seq, evaluator, context, metrics, wall, blob in s.execute(q):
            if contexts.get(evaluator) != context:
                continue  # measured under other settings (another study's split, another machine)
            row = merged.setdefault(
                (strategy, config),
                {"strategy": strategy, "config": config, "seq": seq, "metrics": {}, "wall_time_s": 0.0, "by": set()},
            )
            row["metrics"].update(metrics)
            for metric in metrics:
                measured_by.setdefault(metric, evaluator)
            row["wall_time_s"] += wall
            row["by"].add(evaluator)
            if blob is not None and not plain_bn:  # stock statistics: the stored ones belong to the other accuracy
                artifacts.setdefault(evaluator, {})[config] = blob
        # a configuration counts once every evaluator of the study has measured it (metered energy
        # is optional: merged where imported)
        required = set(contexts) - {ENERGY_EVALUATOR}
        rows = [r for r in merged.values() if r.pop("by") >= required]
        if plain_bn:
            if rows and not all("accuracy_plain" in r["metrics"] for r in rows):
                raise StorageError(f"study {name!r} was not searched with --bn-recal: it has only one accuracy")
            for r in rows:
                r["metrics"] = {**r["metrics"], "accuracy_recal": r["metrics"]["accuracy"],
                                "accuracy": r["metrics"]["accuracy_plain"]}  # fmt: skip
        if device is not None and not rows:
            raise StorageError(
                f"study {name!r} has no latencies imported for device {device!r}: run explorer import-latency"
            )
        return StudyView(study.name, settings, checkpoint, rows, artifacts, measured_by)
