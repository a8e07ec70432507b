"""The live engine (real IREE inferences on test images) against the simulator, and the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import numpy as np
import pytest

from explorer.cli import main
from explorer.data import sha256_file
from explorer.deploy.bundle import read_bundle
from explorer.errors import DataError
from explorer.runtime.choices import bundle_choices, full_choice, usable
from explorer.runtime.controller import run_requests
from explorer.runtime.live import LiveExecutor, load_test_images
from explorer.runtime.policies import create_policy
from explorer.runtime.simulator import SimExecutor


def test_an_npz_bundle_reads_its_test_images_from_the_recorded_file_without_data_dir(tiny_bundle, fmnist_npz, tmp_path):
    bundle = read_bundle(tiny_bundle)
    assert bundle.manifest["model"]["dataset_splits"] == {"val_size": 5000, "split_seed": 0}  # recorded by export
    copy = tmp_path / "user.npz"
    shutil.copy(fmnist_npz, copy)
    source = {"path": str(copy), "sha256": sha256_file(copy)}
    model = {**bundle.manifest["model"], "dataset": "npz", "dataset_splits": {"source": source, "val_size": 120}}
    npz_bundle = dataclasses.replace(bundle, manifest={**bundle.manifest, "model": model})
    images, labels = load_test_images(npz_bundle, count=8)
    given, given_labels = load_test_images(npz_bundle, data_dir=fmnist_npz, count=8)
    assert images.shape == (8, 28, 28, 1) and np.array_equal(images, given) and np.array_equal(labels, given_labels)
    copy.unlink()
    with pytest.raises(DataError, match="no longer there: pass --data-dir"):
        load_test_images(npz_bundle, count=8)


def test_live_and_simulated_runs_make_the_same_decisions(tiny_bundle):
    bundle = read_bundle(tiny_bundle)
    choices = usable(bundle_choices(bundle), min_accuracy=0.0)
    assert len(choices) >= 2
    images, labels = load_test_images(bundle, count=64)
    live = LiveExecutor(bundle.vmfb, choices, images, labels)
    live.warm_up()
    # this machine's latency of each configuration, for the simulator
    measured = []
    for c in range(len(choices)):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            live.module(images[:1], live.skips[c], live.bns[c])
            times.append((time.perf_counter() - t) * 1000)
        measured.append(float(np.median(times)))
    sim_choices = [dataclasses.replace(c, latency_ms=m, latency_p95_ms=None) for c, m in zip(choices, measured)]
    # gaps far from every decision boundary: 1 µs (always busy) or 40 ms (always idle > Δ_req = 20 ms)
    gaps = [0.001, 0.001, 40, 0.001, 40, 40, 0.001, 0.001, 0.001, 40, 40, 40, 40]
    arrivals = np.concatenate([[0.0], np.cumsum(gaps)])
    live.start()
    live_trace = run_requests(arrivals, create_policy("algorithm1", choices, delta_req_ms=20.0), live)
    sim_trace = run_requests(
        arrivals, create_policy("algorithm1", sim_choices, delta_req_ms=20.0), SimExecutor(sim_choices, spread=False)
    )
    assert [(r.dropped, r.choice) for r in live_trace] == [(r.dropped, r.choice) for r in sim_trace]
    assert any(r.dropped for r in live_trace) and any(r.choice > 0 for r in live_trace)
    served = [r for r in live_trace if not r.dropped]
    assert all(r.correct == (r.predicted == r.label) for r in served)
    assert all(r.start_ms >= r.arrival_ms for r in served)
    assert [r.label for r in served] == [int(labels[r.request % len(labels)]) for r in served]


def test_simulate_and_serve_write_summary_and_trace(tiny_bundle, tmp_path, capsys):
    for cmd in ("simulate", "serve"):
        out = tmp_path / cmd
        main([cmd, "--bundle", str(tiny_bundle), "--requests", "60", "--period", "0.7x", "--out", str(out)])
        summary = json.loads((out / "summary.json").read_text())
        assert summary["requests"] == 60 and summary["processed"] + summary["dropped"] == 60
        assert summary["engine"] == ("simulated" if cmd == "simulate" else "live")
        assert summary["energy_source"].startswith("ESTIMATE")  # tiny_bundle carries no metered energy
        lines = (out / "trace.csv").read_text().splitlines()
        assert len(lines) == 61 and lines[0].startswith("request,arrival_ms,dropped,choice,config")
    assert "inferences per W" in capsys.readouterr().out


def test_table1_compares_original_and_ours_on_the_same_workloads(tiny_bundle, tmp_path):
    out = tmp_path / "t1.json"
    main(["table1", "--bundle", str(tiny_bundle), "--requests", "100", "--seeds", "2", "--out", str(out)])
    rows = json.loads(out.read_text())[str(tiny_bundle)]
    assert [r["method"] for r in rows][:2] == ["Original", "Ours (Algorithm 1)"]
    assert rows[0]["processed_x"] == 1.0
    # at 0.6× the no-skip latency the plain model must drop requests; skipping processes more
    assert rows[0]["dropped"] > 0 and rows[1]["processed"] > rows[0]["processed"]


def test_bad_runtime_input_is_one_clear_error(tiny_bundle, tmp_path, capsys):
    def error_of(*args):
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    assert "is not a period" in error_of("simulate", "--bundle", str(tiny_bundle), "--period", "soon")
    assert "unknown policy" in error_of("simulate", "--bundle", str(tiny_bundle), "--policy", "greedy")
    assert "manifest.json is missing" in error_of("simulate", "--bundle", str(tmp_path))
    assert "--trace" in error_of("simulate", "--bundle", str(tiny_bundle), "--workload", "trace")
    bundle = read_bundle(tiny_bundle)
    assert full_choice(bundle_choices(bundle)).config.num_skipped == 0
