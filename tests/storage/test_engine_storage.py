"""Storage is idempotent, searches resume after SIGKILL without re-evaluating, errors are clear."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from explorer.checkpoint import load_checkpoint, save_checkpoint
from explorer.engine import Engine
from explorer.errors import DataError
from explorer.evaluators import Subject, create_evaluator
from explorer.models import create_model
from explorer.models.predict import predict
from explorer.search import create_strategy
from explorer.skip import SkipConfig, SkipSpace
from explorer.storage import Database, EvaluationRecord, StorageError, Trial
from explorer.storage.models import SCHEMA_VERSION
from explorer.storage.results import load_study

ENV = {**os.environ, "COLUMNS": "200"}


class Counting:
    """Wraps an evaluator and counts the configurations it really evaluates."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.name, self.metrics, self.artifact = inner.name, inner.metrics, inner.artifact

    @property
    def context(self):
        return self.inner.context

    def evaluate(self, configs):
        self.calls += len(configs)
        return self.inner.evaluate(configs)


def _engine(db, subject, study="s", counted=None):
    evs = [create_evaluator("accuracy", subject, limit=200), create_evaluator("flops", subject)]
    if counted is not None:
        evs = [Counting(e) for e in evs]
        counted.extend(evs)
    return Engine(db, subject, study, evs, "macs", chunk_size=16)


@pytest.fixture
def subject(tiny_ckpt, fmnist):
    return Subject(load_checkpoint(tiny_ckpt), _data=fmnist)


def test_exhaustive_twice_stores_64_rows_once(tmp_path, subject):
    db = Database(f"sqlite:///{tmp_path}/x.db")
    counted: list = []
    engine = _engine(db, subject, counted=counted)
    engine.run(create_strategy("exhaustive", space=SkipSpace(6)))
    assert [c.calls for c in counted] == [64, 64]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(EvaluationRecord)) == 128  # 64 × (accuracy, flops)
        assert s.scalar(select(func.count()).select_from(Trial).where(Trial.strategy == "exhaustive")) == 64
    counted2: list = []
    again = _engine(db, subject, counted=counted2)
    again.run(create_strategy("exhaustive", space=SkipSpace(6)))
    assert [c.calls for c in counted2] == [0, 0]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(EvaluationRecord)) == 128
        assert s.scalar(select(func.count()).select_from(Trial)) == 65  # + the reference trial
    view = load_study(db, "s")
    assert len(view.evaluations("exhaustive")) == 64 and view.front()


def test_cache_is_shared_across_studies_but_not_across_settings(tmp_path, subject):
    db = Database(f"sqlite:///{tmp_path}/x.db")
    _engine(db, subject, "a").evaluate([SkipConfig.from_int(5, 6)], "manual")
    counted: list = []
    _engine(db, subject, "b", counted).evaluate([SkipConfig.from_int(5, 6)], "manual")
    assert [c.calls for c in counted] == [0, 0]  # study b reuses study a's results
    other = Engine(
        db, subject, "c", [create_evaluator("accuracy", subject, limit=100), create_evaluator("flops", subject)], "macs"
    )
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(EvaluationRecord).where(EvaluationRecord.evaluator == "accuracy"))
    assert n == 3  # full config and config 5 at limit=200, full config at limit=100
    # study c's reference is its own evaluation at limit=100, not study a's at limit=200
    data = subject.data
    naive = predict(subject.checkpoint.model, data.val_x[:100], mean=data.mean, std=data.std)
    assert other.full["accuracy"] == float((naive == data.val_y[:100]).sum()) / 100


def test_reopening_a_study_with_other_settings_is_refused(tmp_path, subject):
    db = Database(f"sqlite:///{tmp_path}/x.db")
    _engine(db, subject, "a")
    with pytest.raises(StorageError, match="study 'a' was created with other settings.*limit=200.*limit=50"):
        Engine(
            db,
            subject,
            "a",
            [create_evaluator("accuracy", subject, limit=50), create_evaluator("flops", subject)],
            "macs",
        )


def test_unreachable_or_bad_database_urls(tmp_path):
    with pytest.raises(StorageError, match="cannot open database.*folder exists"):
        Database(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(StorageError, match="cannot use database URL"):
        Database("nosuchdb://x")
    with pytest.raises(StorageError, match="no database file"):
        Database(f"sqlite:///{tmp_path}/missing.db", create=False)
    sqlite3.connect(tmp_path / "other.db").execute("create table t(x)").close()
    with pytest.raises(StorageError, match="holds no skip-explorer results"):
        Database(f"sqlite:///{tmp_path}/other.db", create=False)


def test_newer_schema_is_refused(tmp_path):
    Database(f"sqlite:///{tmp_path}/x.db")
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("update schema_info set version = 99")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="schema version 99.*upgrade"):
        Database(f"sqlite:///{tmp_path}/x.db")


def test_checkpoint_that_does_not_match_the_data_set(tmp_path, fmnist):
    meta = {"arch": "resnet20", "in_channels": 3, "num_classes": 10, "dataset": fmnist.describe()}
    path = save_checkpoint(tmp_path / "rgb", create_model("resnet20", in_channels=3), meta)
    with pytest.raises(DataError, match="expects 3-channel images.*has 1"):
        _ = Subject(load_checkpoint(path)).data


def _search(*args):
    return [sys.executable, "-m", "explorer.cli", "search", *args]


def test_search_killed_with_sigkill_resumes_without_losing_or_repeating(tmp_path, tiny_ckpt):
    db = tmp_path / "k.db"
    # 100 validation images per configuration: a chunk of 4 takes far longer than one 20 ms poll;
    # --stale-after 5: the killed search's claims are taken over after 5 s, not the default 60
    args = ["--checkpoint", str(tiny_ckpt), "--strategy", "exhaustive", "--objective", "macs", "--limit", "100",
            "--chunk-size", "4", "--db", f"sqlite:///{db}", "--study", "k", "--threads", "1",
            "--stale-after", "5"]  # fmt: skip
    proc = subprocess.Popen(_search(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    stored = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    con = sqlite3.connect(db, timeout=1)
                    stored = con.execute("select count(*) from evaluations where evaluator='accuracy'").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    stored = 0
                if stored >= 9:
                    break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 9 <= stored < 64, f"the search was not caught mid-run ({stored} stored)"
    con = sqlite3.connect(db)
    before = dict(con.execute("select config, created_at from evaluations where evaluator='accuracy'").fetchall())
    con.close()
    done = subprocess.run(_search(*args), capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    con = sqlite3.connect(db)
    after = dict(con.execute("select config, created_at from evaluations where evaluator='accuracy'").fetchall())
    n_rows = con.execute("select count(*) from evaluations where evaluator='accuracy'").fetchone()[0]
    con.close()
    assert n_rows == len(after) == 64
    assert all(after[k] == v for k, v in before.items())  # nothing stored before the kill was evaluated again
    again = subprocess.run(_search(*args), capture_output=True, text=True, env=ENV, timeout=600)
    assert again.returncode == 0
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from evaluations").fetchone()[0] == 128
    con.close()


def test_pareto_command_prints_the_front_as_json(tmp_path, tiny_ckpt):
    dbu = f"sqlite:///{tmp_path}/p.db"
    subprocess.run(
        _search("--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--objective", "macs", "--limit", "300",
                "--db", dbu, "--study", "p"),
        check=True, capture_output=True, env=ENV, timeout=600,
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "explorer.cli", "pareto", "--db", dbu, "--study", "p", "--json"],
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    front = doc["front"]
    assert doc["cost_metric"] == "macs" and front and doc["hypervolume"] > 0
    assert [r["num_skipped"] for r in front] == sorted(r["num_skipped"] for r in front)
    accs = [r["accuracy"] for r in front]
    assert all(len(r["config"]) == 6 for r in front) and max(accs) == accs[0]
    text = subprocess.run(
        [sys.executable, "-m", "explorer.cli", "pareto", "--db", dbu, "--study", "nope"],
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    assert text.returncode == 2 and "no study named 'nope'" in text.stderr and "studies here: p" in text.stderr


def test_unknown_strategy_is_a_clear_cli_error(tmp_path, tiny_ckpt):
    out = subprocess.run(
        _search("--checkpoint", str(tiny_ckpt), "--strategy", "annealing", "--db", f"sqlite:///{tmp_path}/u.db"),
        capture_output=True, text=True, env=ENV, timeout=600,
    )  # fmt: skip
    assert out.returncode == 2 and "unknown strategy 'annealing'" in out.stderr and "Traceback" not in out.stderr


def test_version_2_database_gains_the_config_index(tmp_path):
    Database(f"sqlite:///{tmp_path}/x.db")
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("drop index ix_evaluation_config")
    con.execute("update schema_info set version = 2")
    con.commit()
    con.close()
    Database(f"sqlite:///{tmp_path}/x.db", create=False)
    con = sqlite3.connect(tmp_path / "x.db")
    assert con.execute("select version from schema_info").fetchone() == (SCHEMA_VERSION,)
    names = {r[0] for r in con.execute("select name from sqlite_master where type = 'index'")}
    assert "ix_evaluation_config" in names
