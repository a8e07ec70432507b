"""Simulated 500-request runs per second, per policy (one Python thread).

python benchmarks/sim_speed.py --bundle explorer-demo-bundle
"""

from __future__ import annotations

import argparse
import statistics
import time

from explorer.deploy.bundle import read_bundle
from explorer.runtime.choices import bundle_choices, usable
from explorer.runtime.controller import run_requests
from explorer.runtime.policies import POLICIES, create_policy
from explorer.runtime.simulator import SimExecutor
from explorer.runtime.workloads import make_workload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    choices = usable(bundle_choices(read_bundle(args.bundle)), None)
    arrivals = make_workload("paper", args.requests, 0.8 * choices[0].latency_ms, 0)
    rates: dict[str, list[float]] = {name: [] for name in POLICIES}
    for _ in range(args.rounds):  # interleaved rounds: machine noise hits every policy alike
        for name in POLICIES:
            policy = create_policy(name, choices)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                run_requests(arrivals, policy, SimExecutor(choices, n))
                n += 1
            rates[name].append(n / (time.perf_counter() - t0))
    for name, r in rates.items():
        med = statistics.median(r)
        print(
            f"{name:12s} {med:8.0f} runs/s  {med * args.requests:10.0f} requests/s  ({args.requests} requests per run)"
        )


if __name__ == "__main__":
    main()
