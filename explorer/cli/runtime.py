"""`explorer simulate`, `serve` and `table1`: the adaptive runtime on a bundle."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import DataDirOption, make_console
from explorer.deploy.bundle import read_bundle
from explorer.runtime.choices import bundle_choices, full_choice, usable
from explorer.runtime.energy import PROFILES, get_profile
from explorer.runtime.experiments import table1_rows
from explorer.runtime.policies import POLICIES, create_policy
from explorer.runtime.run import RunResult, execute_run, save_run
from explorer.runtime.simulator import SimExecutor
from explorer.runtime.workloads import WORKLOADS, make_workload, parse_period

BundleOption = typer.Option(..., "--bundle", help="Bundle directory written by `explorer export` (or `explorer demo`).")
WorkloadOption = typer.Option("paper", "--workload", help=f"Arrival pattern: {', '.join(WORKLOADS)}.")
PeriodOption = typer.Option(
    "1.0x", "--period", help="Base period between requests: 1.0x = the no-skip latency; or 5ms, 2s."
)
RequestsOption = typer.Option(500, "--requests", help="Number of requests (batch 1 each).")
PolicyOption = typer.Option("algorithm1", "--policy", help=f"Runtime policy: {', '.join(POLICIES)}.")
SeedOption = typer.Option(0, "--seed", help="Seed of the workload (and of the simulation).")
TraceOption = typer.Option(None, "--trace", help="Arrival times file (ms per line) for --workload trace.")
MinAccOption = typer.Option(
    None, "--min-accuracy", help="Keep configurations at least this accurate (fraction; default: no-skip − 0.10)."
)
DeltaOption = typer.Option(
    None,
    "--delta-req",
    help="Algorithm 1's maximum idle time Δ_req in ms (default: the no-skip latency), or auto: step back "
    "when the idle time would have fitted the next more accurate configuration.",
)
ProfileOption = typer.Option(
    None, "--power-profile", help=f"Board power profile for the energy estimate: {', '.join(PROFILES)}."
)
BusyOption = typer.Option(None, "--busy-w", help="Custom profile: board power while inferring (W).")
IdleOption = typer.Option(None, "--idle-w", help="Custom profile: board power while idle (W).")
OutOption = typer.Option(None, "--out", help="Folder for summary.json and trace.csv.")


def _progress(console, total: int, what: str):
    p = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip
    task = p.add_task(what, total=total)
    return p, (lambda n: p.update(task, completed=n))


def summary_table(title: str, s: dict) -> Table:
    t = Table(title=title, show_header=False)
    t.add_column(justify="left")
    t.add_column(justify="right")
    rows = [
        ("policy", s["policy"]),
        ("processed / requests", f"{s['processed']} / {s['requests']} ({s['dropped']} dropped)"),
        ("accuracy of processed (%)", f"{100 * s['accuracy']:.2f}"),
        ("effective accuracy (% of requests offered)", f"{100 * s['effective_accuracy']:.2f}"),
        ("deadline misses (% of requests)", f"{100 * s['deadline_miss_rate']:.2f}"),
        ("steps back to less skipping", str(s["step_backs"])),
        ("expected accuracy (validation, %)", f"{100 * s['expected_accuracy']:.2f}"),
        ("latency median / p95 / max (ms)",
         f"{s['latency_median_ms']:.3f} / {s['latency_p95_ms']:.3f} / {s['latency_max_ms']:.3f}"),
        ("slowest ÷ fastest inference", f"{s['latency_max_over_min']:.2f}"),
        ("configuration switches", str(s["configuration_switches"])),
        ("energy (J)", f"{s['energy_j']:.4g}"),
        ("inferences per W", f"{s['inferences_per_w']:.4g}"),
        ("energy source", s["energy_source"]),
    ]  # fmt: skip
    for k, v in rows:
        t.add_row(k, v)
    return t


def _setup(bundle_dir: Path, min_accuracy, period: str, workload: str, requests: int, seed: int, trace):
    bundle = read_bundle(bundle_dir)
    choices = usable(bundle_choices(bundle), min_accuracy)
    full = full_choice(choices)
    period_ms = parse_period(period, full.latency_ms) if workload != "trace" else None
    arrivals = make_workload(workload, requests, period_ms, seed, trace)
    return bundle, choices, period_ms, arrivals


def _finish(console, result: RunResult, title: str, out: Path | None, settings: dict) -> None:
    console.print(summary_table(title, result.summary))
    if out is not None:
        save_run(result, out, settings)
        console.print(f"saved {out}/summary.json and {out}/trace.csv")


@app.command("simulate")
def simulate_cmd(
    bundle_dir: Path = BundleOption,
    workload: str = WorkloadOption,
    period: str = PeriodOption,
    requests: int = RequestsOption,
    policy: str = PolicyOption,
    seed: int = SeedOption,
    trace: Path | None = TraceOption,
    min_accuracy: float | None = MinAccOption,
    delta_req: str | None = DeltaOption,
    power_profile: str | None = ProfileOption,
    busy_w: float | None = BusyOption,
    idle_w: float | None = IdleOption,
    no_spread: bool = typer.Option(False, "--no-spread", help="Use each configuration's median latency exactly."),
    out: Path | None = OutOption,
) -> None:
    """Simulate the adaptive runtime on a workload (discrete events, the bundle's latencies)."""
    console = make_console()
    profile = get_profile(power_profile, busy_w, idle_w)
    bundle, choices, period_ms, arrivals = _setup(bundle_dir, min_accuracy, period, workload, requests, seed, trace)
    pol = create_policy(policy, choices, delta_req_ms=delta_req)
    result = execute_run(arrivals, pol, SimExecutor(choices, seed, spread=not no_spread), profile, engine="simulated")
    settings = {"bundle": str(bundle_dir), "workload": workload, "period_ms": period_ms, "seed": seed}
    _finish(
        console, result, f"simulated: {workload} workload, period {period} ({period_ms or 0:.3f} ms)", out, settings
    )


@app.command("serve")
def serve_cmd(
    bundle_dir: Path = BundleOption,
    workload: str = WorkloadOption,
    period: str = PeriodOption,
    requests: int = RequestsOption,
    policy: str = PolicyOption,
    seed: int = SeedOption,
    trace: Path | None = TraceOption,
    min_accuracy: float | None = MinAccOption,
    delta_req: str | None = DeltaOption,
    power_profile: str | None = ProfileOption,
    busy_w: float | None = BusyOption,
    idle_w: float | None = IdleOption,
    data_dir: Path | None = DataDirOption,
    out: Path | None = OutOption,
) -> None:
    """Serve a workload live: real IREE inferences on test images, arrivals on the wall clock."""
    from explorer.runtime.energy import Rapl
    from explorer.runtime.live import LiveExecutor, load_test_images

    console = make_console()
    profile = get_profile(power_profile, busy_w, idle_w)
    bundle, choices, period_ms, arrivals = _setup(bundle_dir, min_accuracy, period, workload, requests, seed, trace)
    images, labels = load_test_images(bundle, data_dir, seed=seed)
    executor = LiveExecutor(bundle.vmfb, choices, images, labels)
    executor.warm_up()
    rapl = Rapl()
    pol = create_policy(policy, choices, delta_req_ms=delta_req)
    console.print(f"serving {len(arrivals)} requests over {arrivals[-1] / 1000:.1f} s ...")
    p, tick = _progress(console, len(arrivals), "requests")
    with p:
        executor.start()
        result = execute_run(
            arrivals, pol, executor, profile, engine="live", progress=tick, meter=rapl if rapl.available else None
        )
    settings = {"bundle": str(bundle_dir), "workload": workload, "period_ms": period_ms, "seed": seed}
    _finish(console, result, f"live: {workload} workload, period {period} ({period_ms or 0:.3f} ms)", out, settings)


def table1_table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title)
    t.add_column("method", no_wrap=True)
    for col in ("accuracy %", "Δ points", "effective %", "misses %", "processed", "×", "inf/W", "inf/W ×",
                "median ms", "max÷min", "back"):  # fmt: skip
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            r["method"], f"{100 * r['accuracy']:.2f}", f"{r['accuracy_delta_pp']:+.2f}",
            f"{100 * r['effective_accuracy']:.2f}", f"{100 * r['deadline_miss_rate']:.1f}", f"{r['processed']:.1f}",
            f"{r['processed_x']:.2f}×", f"{r['inferences_per_w']:.4g}", f"{r['inferences_per_w_x']:.2f}×",
            f"{r['latency_median_ms']:.3f}", f"{r['latency_max_over_min']:.2f}", f"{r['step_backs']:.1f}",
        )  # fmt: skip
    t.caption = (
        "effective: correct answers ÷ requests offered (drops are misses); misses: requests dropped or answered "
        "after the next arrival; back: steps to less skipping"
    )
    return t


@app.command("table1")
def table1_cmd(
    bundles: list[Path] = typer.Option(..., "--bundle", help="Bundle directory; repeat for several models."),
    skipnet: list[Path] = typer.Option(
        [], "--skipnet", help="SkipNet bundle (explorer export-skipnet) for the bundle at the same position."
    ),
    workload: str = WorkloadOption,
    period: str = typer.Option("0.6x", "--period", help="Base period: 0.6x = 0.6 × the no-skip latency; or ms."),
    requests: int = RequestsOption,
    seeds: int = typer.Option(5, "--seeds", help="Average over this many seeded workloads (seeds 0..N-1)."),
    min_accuracy: float | None = MinAccOption,
    delta_req: str | None = DeltaOption,
    power_profile: str | None = ProfileOption,
    busy_w: float | None = BusyOption,
    idle_w: float | None = IdleOption,
    live: bool = typer.Option(False, "--live", help="Real IREE inferences on the wall clock instead of simulation."),
    data_dir: Path | None = DataDirOption,
    out: Path | None = typer.Option(None, "--out", help="Write the rows as JSON to this file."),
) -> None:
    """The paper's Table I: Original vs Ours (vs SkipNet) on the same seeded workloads."""
    import json

    console = make_console()
    profile = get_profile(power_profile, busy_w, idle_w)
    result = {}
    for k, b in enumerate(bundles):
        sk = None
        if k < len(skipnet):
            from explorer.skipnet.runtime import SkipNetRuntime

            sk = SkipNetRuntime.load(skipnet[k], data_dir=data_dir)
        rows = table1_rows(
            b, workload=workload, period=period, requests=requests, seeds=list(range(seeds)),
            min_accuracy=min_accuracy, delta_req=delta_req, profile=profile, live=live, data_dir=data_dir, skipnet=sk,
        )  # fmt: skip
        arch = read_bundle(b).manifest["model"]["arch"]
        engine = "live" if live else "simulated"
        console.print(table1_table(f"Table I, {arch} ({b}): {engine}, {workload} workload, period {period}, "
                                   f"{requests} requests × {seeds} seeds", rows))  # fmt: skip
        console.print(f"energy: {rows[0]['energy_source']}", highlight=False)
        result[str(b)] = rows
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")


@app.command("export-skipnet")
def export_skipnet_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="SkipNet checkpoint (explorer train --method skipnet)."),
    out: Path = typer.Option(..., "--out", help="Folder for skipnet.vmfb and profile.json."),
    images: int = typer.Option(1000, "--images", help="Test images to profile (latency, prediction, gates)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Compile SkipNet for this machine and profile its per-image latency (for table1 --skipnet)."""
    import json

    from explorer.skipnet.runtime import PROFILE, export_skipnet

    console = make_console()
    p, tick = _progress(console, images, "profiling test images")
    with p:
        folder = export_skipnet(checkpoint, out, images=images, data_dir=data_dir, progress=tick)
    prof = json.loads((folder / PROFILE).read_text())
    lat = prof["latency_ms"]
    console.print(
        f"wrote {folder}: accuracy {100 * prof['accuracy']:.2f}% on {prof['images']} test images, gated blocks "
        f"executed {100 * prof['executed_fraction']:.1f}%, latency median {lat['median']:.3f} ms, "
        f"p95 {lat['p95']:.3f}, min {lat['min']:.3f}, max {lat['max']:.3f} (slowest ÷ fastest {lat['max_over_min']:.2f})",
        highlight=False,
    )


@app.command("dashboard")
def dashboard_cmd(
    db: str = typer.Option("sqlite:///explore.db", "--db", help="SQLAlchemy URL of the results database."),
    port: int = typer.Option(8501, "--port", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    read_only: bool = typer.Option(
        False, "--read-only", help="Serve the views only: no Run page (queues, workers), no Export page (compiles)."
    ),
    runs: Path | None = typer.Option(
        None, "--runs", help="Folder of saved runs and Table I files for the Runtime page (default: the database's)."
    ),
) -> None:
    """Browse studies, trade-offs, evaluations, strategies and blocks in a Streamlit app."""
    import ipaddress
    import os
    import sys

    from explorer.storage import Database

    Database(db, create=False)  # a bad URL or missing file: one clear error here, not in the browser
    import explorer.dashboard

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        loopback = False
    if not loopback and not read_only:
        print(f"warning: --host {host} serves the Run page (queues studies, starts worker processes) and the Export "
              "page (compiles, writes files) to every client that can reach this address; add --read-only to serve "
              "only the views", file=sys.stderr, flush=True)  # fmt: skip
    app_path = Path(explorer.dashboard.__file__).with_name("app.py")
    extra = (["--read-only"] if read_only else []) + (["--runs", str(runs.resolve())] if runs else [])
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.port", str(port),
           "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false", "--", "--db", db,
           *extra]  # fmt: skip
    print(f"dashboard on http://{host}:{port}  (database {db}{'; read-only' if read_only else ''}); Ctrl-C stops it",
          flush=True)  # fmt: skip
    # become the Streamlit server (no child left behind when this process is terminated)
    os.execv(sys.executable, cmd)
