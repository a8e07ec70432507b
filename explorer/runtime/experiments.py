"""Runtime experiments: the paper's Table I protocol (Original vs Ours vs SkipNet on the same seeded
workloads), used by `explorer table1`, `explorer demo` and the report's inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.deploy.bundle import read_bundle
from explorer.runtime.choices import bundle_choices, full_choice, usable
from explorer.runtime.policies import create_policy
from explorer.runtime.run import execute_run
from explorer.runtime.simulator import SimExecutor
from explorer.runtime.workloads import make_workload, parse_period

# (row label, policy, Δ_req override): None keeps the --delta-req given to table1
TABLE1_METHODS = (
    ("Original", "static", None),
    ("Ours (Algorithm 1)", "algorithm1", None),
    ("Ours (Algorithm 1, auto Δ_req)", "algorithm1", "auto"),
    ("Ours (rate-fit)", "rate-fit", None),
)


def table1_rows(
    bundle_dir: Path, *, workload: str, period: str, requests: int, seeds: list[int], min_accuracy, delta_req,
    profile, live: bool = False, data_dir=None, skipnet=None, trace=None,
) -> list[dict]:  # fmt: skip
    """Mean over `seeds` of each method's summary on the same seeded workloads; ratios to Original."""
    bundle = read_bundle(bundle_dir)
    choices = usable(bundle_choices(bundle), min_accuracy)
    full = full_choice(choices)
    period_ms = parse_period(period, full.latency_ms) if workload != "trace" else None
    executor = None
    if live:
        from explorer.runtime.live import LiveExecutor, load_test_images

        images, labels = load_test_images(bundle, data_dir)
        executor = LiveExecutor(bundle.vmfb, choices, images, labels)
        executor.warm_up()
    methods = [
        (label, create_policy(name, choices, delta_req_ms=delta or delta_req)) for label, name, delta in TABLE1_METHODS
    ]
    methods += [("SkipNet", None)] if skipnet is not None else []
    runs: dict[str, list[dict]] = {label: [] for label, _ in methods}
    # seeds outside, methods inside: on a machine whose speed drifts, every method sees the drift alike
    for seed in seeds:
        arrivals = make_workload(workload, requests, period_ms, seed, trace)
        for label, pol in methods:
            if pol is None:
                runs[label].append(skipnet.run(arrivals, profile, seed=seed, live=live))
                continue
            if live:
                executor.start()
                ex = executor
            else:
                ex = SimExecutor(choices, seed)
            runs[label].append(execute_run(arrivals, pol, ex, profile, engine="live" if live else "simulated").summary)
    rows = []
    keys = (
        "accuracy", "effective_accuracy", "deadline_miss_rate", "step_backs", "processed", "dropped",
        "inferences_per_w", "latency_median_ms", "latency_max_over_min",
    )  # fmt: skip
    for label, _ in methods:
        row = {"method": label, **{k: float(np.mean([r[k] for r in runs[label]])) for k in keys}}
        row["energy_source"] = runs[label][0]["energy_source"]
        rows.append(row)
    base = rows[0]
    for r in rows:
        r["accuracy_delta_pp"] = 100 * (r["accuracy"] - base["accuracy"])
        r["processed_x"] = r["processed"] / base["processed"]
        r["inferences_per_w_x"] = r["inferences_per_w"] / base["inferences_per_w"]
    return rows
