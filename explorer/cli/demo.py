"""`explorer demo`: the whole product in a few minutes on the embedded defaults."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from explorer.cli import app
from explorer.cli.common import ConsoleListener, DataDirOption, ThreadsOption, make_console, set_threads
from explorer.cli.search import front_table
from explorer.deploy.bundle import read_bundle
from explorer.deploy.export import export_bundle
from explorer.deploy.iree import IreeModule
from explorer.errors import CheckpointError
from explorer.skip import SkipConfig
from explorer.storage import Database
from explorer.storage.results import load_study
from explorer.storage.session import StudySettingsError
from explorer.study import SearchOptions, build_engine, run_strategies

REFERENCE = "resnet20-sd-fmnist"


def models_dir() -> Path:
    """The reference checkpoints: $EXPLORER_MODELS, else models/ of the source checkout."""
    env = os.environ.get("EXPLORER_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def reference_checkpoint(name: str = REFERENCE) -> Path:
    path = models_dir() / name
    if not (path / "metadata.json").is_file():
        raise CheckpointError(
            f"reference checkpoint {name} not found in {models_dir()}: install skip-explorer from its "
            "source checkout (pip install -e .) or set EXPLORER_MODELS to the folder holding models/"
        )
    return path


@app.command("demo")
def demo_cmd(
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help=f"Checkpoint to use (default: models/{REFERENCE})."
    ),
    db: str = typer.Option(
        "sqlite:///explorer-demo.db", "--db", help="Results database (default: a SQLite file here)."
    ),
    bundle_dir: Path = typer.Option(Path("explorer-demo-bundle"), "--bundle", help="Where to export the host bundle."),
    limit: int | None = typer.Option(None, "--limit", help="Validation images per evaluation (default: all 5,000)."),
    bn_recal: int = typer.Option(
        500,
        "--bn-recal",
        help="Re-estimate BatchNorm statistics per configuration on N training images (0: the checkpoint's own). "
        "500 keeps the demo short; the estimate hardly moves from 500 to 20,000 images.",
    ),
    data_dir: Path | None = DataDirOption,
    threads: int | None = ThreadsOption,
) -> None:
    """The whole product in a few minutes: skips, a search, the Pareto front, an IREE bundle."""
    set_threads(threads)
    console = make_console()
    path = checkpoint or reference_checkpoint()
    database = Database(db)
    name = f"demo-{Path(path).resolve().name}"
    options = SearchOptions(limit=limit, bn_recal=bn_recal, data_dir=str(data_dir) if data_dir else None)
    try:
        engine = build_engine(database, path, name, options)
    except StudySettingsError as e:
        # a demo database from another version or machine (the IREE module, the CPU and the data
        # are part of a study's settings): keep that study, run this one beside it
        tag = hashlib.sha256(json.dumps(e.settings, sort_keys=True).encode()).hexdigest()[:8]
        console.print(
            f"[yellow]{db} holds a study {name!r} measured with other settings: using {name}-{tag}[/]", soft_wrap=True
        )
        engine = build_engine(database, path, f"{name}-{tag}", options)
    ckpt = engine.subject.checkpoint
    console.rule("[bold]1. The model")
    console.print(
        f"{ckpt.arch} trained on {ckpt.dataset} with Stochastic Depth p_L = {ckpt.meta['training']['sd_pl']}: "
        f"{ckpt.num_gates} skippable blocks, one executable for all {2**ckpt.num_gates} configurations"
    )
    stats = (
        f"BatchNorm statistics re-estimated per configuration on {bn_recal} training images"
        if bn_recal
        else ("the checkpoint's BatchNorm statistics")
    )
    console.rule("[bold]2. Search (sensitivity ranking; accuracy on the validation split; latency of the IREE module)")
    console.print(f"Accuracy with {stats}.")
    run_strategies(engine, ["sensitivity"], budget=None, seed=0, listener=ConsoleListener(console))
    view = load_study(database, engine.study)
    full = view.full
    table = Table(title="Accuracy with one block skipped (validation split)")
    for col in ("skipped gate", "skip vector", "accuracy", "Δ vs all blocks", "latency ms"):
        table.add_column(col, justify="left" if col == "skip vector" else "right")
    table.add_row("none", str(full.config), f"{100 * full['accuracy']:.2f}%", "", f"{full['latency_ms']:.3f}")
    by_config = {str(e.config): e for e in view.evaluations("sensitivity")}
    for g in range(ckpt.num_gates):
        e = by_config[str(SkipConfig.skipping([g], ckpt.num_gates))]
        table.add_row(
            str(g), str(e.config), f"{100 * e['accuracy']:.2f}%",
            f"{100 * (e['accuracy'] - full['accuracy']):+.2f}", f"{e['latency_ms']:.3f}",
        )  # fmt: skip
    console.print(table)
    console.rule("[bold]3. Pareto front")
    console.print(front_table(view))
    console.print(f"Results are stored in {db} (study {engine.study}); show them again with:")
    console.print(f"  explorer pareto --db {db} --study {engine.study}", highlight=False)

    console.rule("[bold]4. Deployment bundle (one IREE module for every configuration + pareto.bin)")
    export_bundle(view, bundle_dir, target="host", checkpoint=path, data=engine.subject.data)
    bundle = read_bundle(bundle_dir)
    console.print(f"wrote {bundle_dir}/: " + ", ".join(sorted(e["name"] for e in bundle.manifest["files"].values())))
    module = IreeModule(bundle.vmfb)
    image = np.load(bundle_dir / "sample_image.npy")
    label = int(engine.subject.data.test_y[0])
    classes = bundle.manifest["classes"]
    for row in (bundle.rows[0], bundle.rows[-1]):
        pred = int(np.argmax(module(image, np.array(row.config.bits, dtype=np.int32), row.bn)))
        console.print(
            f"  skip {row.config} ({row.config.num_skipped} blocks skipped, {100 * row.accuracy:.2f}%, "
            f"{row.latency_ms:.3f} ms): test image 0 → {classes[pred]} (true: {classes[label]})"
        )
    bits = ",".join(map(str, bundle.rows[-1].config.bits))
    console.print("The same with IREE's own tool, no Python of ours:")
    console.print(
        f"  iree-run-module --module={bundle_dir}/model.vmfb --device=local-sync --function=forward "
        f"--input=@{bundle_dir}/sample_image.npy --input={ckpt.num_gates}xi32={bits}",
        highlight=False,
        soft_wrap=True,
    )

    console.rule("[bold]5. Adaptive runtime (simulated): the paper's workload at 0.6 × the no-skip latency")
    from explorer.cli.runtime import table1_table
    from explorer.runtime.energy import get_profile
    from explorer.runtime.experiments import table1_rows

    rows = table1_rows(
        bundle_dir, workload="paper", period="0.6x", requests=500, seeds=[0, 1, 2, 3, 4], min_accuracy=None,
        delta_req=None, profile=get_profile(None),
    )  # fmt: skip
    console.print(table1_table("Table I row: Original vs Ours, 500 requests × 5 seeded workloads", rows))
    console.print(f"energy: {rows[0]['energy_source']}", highlight=False)
    console.print("Run it again, or live on real IREE inferences:")
    console.print(
        f"  explorer simulate --bundle {bundle_dir} --workload paper --period 0.6x --requests 500", highlight=False
    )
    console.print(
        f"  explorer serve --bundle {bundle_dir} --workload paper --period 0.6x --requests 500", highlight=False
    )
    console.print("Browse the study in the dashboard:")
    console.print(f"  explorer dashboard --db {db}", highlight=False)
