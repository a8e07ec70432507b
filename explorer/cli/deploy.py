"""`explorer compile`, `export`, `import-latency`, `import-energy` and `predict`: from a study to a board."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import typer

from explorer.checkpoint import load_checkpoint
from explorer.cli import app
from explorer.cli.common import DataDirOption, make_console
from explorer.data import DataWarning
from explorer.deploy.bundle import BundleError, read_bundle
from explorer.deploy.export import export_bundle, study_checkpoint
from explorer.deploy.iree import TARGETS, IreeModule, compile_checkpoint
from explorer.errors import ConfigError, DataError
from explorer.evaluators import Subject
from explorer.skip import SkipConfig
from explorer.storage import Database
from explorer.storage.results import DEVICE_EVALUATOR, ENERGY_EVALUATOR, import_device_csv, load_study
from explorer.study import DEFAULT_DB

TargetOption = typer.Option("host", "--target", help=f"Compile for: {', '.join(TARGETS)}.")


@app.command("compile")
def compile_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint directory."),
    out: Path = typer.Option(..., "--out", help="Output .vmfb file."),
    target: str = TargetOption,
    static_skip: str | None = typer.Option(
        None, "--static-skip", help="Bake one configuration in (no gates): for comparisons only."
    ),
    fast_path: list[str] = typer.Option(
        [],
        "--fast-path",
        help="A configuration (bit string, 1 = execute) to give a branch of its own that runs "
        "as fast as a static module; repeatable. `explorer export` does this for the Pareto front.",
    ),
    route: str = typer.Option(
        "emitter",
        "--route",
        help="emitter: our MLIR (fast; the CIFAR ResNets, torchvision's ResNets and MobileNetV2). onnx: "
        "torch.export → ONNX → IREE, for networks the emitter does not know; slower on MobileNetV2, longer to "
        "compile (docs/benchmarks.md), "
        "no --static-skip; needs pip install 'skip-explorer[onnx]'.",
    ),
) -> None:
    """Compile a checkpoint into one IREE module (image NHWC + skip vector → logits)."""
    ckpt = load_checkpoint(checkpoint)
    if route not in ("emitter", "onnx"):
        raise ConfigError(f"--route {route!r}: choose emitter or onnx")
    if route == "onnx":
        from explorer.deploy.onnx_route import compile_onnx_route

        if static_skip is not None:
            raise ConfigError("--static-skip is for the emitter route only: leave it out with --route onnx")
        fast = [str(SkipConfig.parse(p, ckpt.num_gates)) for p in fast_path]
        h, w = ckpt.meta["dataset"]["image_size"]
        path = compile_onnx_route(
            ckpt.model, (h, w), out, target, in_channels=ckpt.meta["in_channels"], fast_paths=fast
        )
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) for target {target} through ONNX (the slower route)")
        return
    if static_skip is not None:
        SkipConfig.parse(static_skip, ckpt.num_gates)
        if fast_path:
            raise ConfigError("--fast-path needs a gated module: leave out --static-skip")
    fast = [str(SkipConfig.parse(p, ckpt.num_gates)) for p in fast_path]
    path = compile_checkpoint(ckpt, target, static_skip=static_skip, out=out, fast_paths=fast)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) for target {target}")


@app.command("export")
def export_cmd(
    study: str = typer.Option(..., "--study", help="Study whose Pareto front to deploy."),
    out: Path = typer.Option(..., "--out", help="Bundle directory to write."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database."),
    target: str = TargetOption,
    min_accuracy: float | None = typer.Option(
        None, "--min-accuracy", help="Keep configurations with at least this accuracy (fraction)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="Use latencies imported for this device (explorer import-latency)."
    ),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="The study's checkpoint, if it moved."),
    data_dir: Path | None = DataDirOption,
    bench: bool = typer.Option(False, "--bench", help="Add bench.sh, measuring every configuration on the board."),
    fast_paths: bool = typer.Option(
        True,
        "--fast-paths/--no-fast-paths",
        help="Compile the front's configurations as branches of their own (static-module speed; longer compile).",
    ),
    kit: bool = typer.Option(
        False,
        "--kit",
        help="Also write OUT.tar.gz, all a board needs: the bundle, bench.sh, run.sh, preflight.sh (refuses a CPU "
        "without the module's features) and IREE's runtime tools for the target (host, aarch64; armv7 with --runtime).",
    ),
    runtime: Path | None = typer.Option(
        None,
        "--runtime",
        help="Folder with the target's iree-run-module and iree-benchmark-module, for --kit "
        "(armv7: scripts/build-board-runtime.sh builds them).",
    ),  # fmt: skip
) -> None:
    """Write model.vmfb, pareto.bin, pareto.json and manifest.json for a board (--kit: one archive)."""
    if runtime is not None and not kit:
        raise ConfigError("--runtime goes with --kit (the runtime tools travel in the kit)")
    view = load_study(Database(db, create=False), study, device=device)
    subject_data = None
    try:  # the sample image is a convenience (the bundle does not need it): say why it is missing
        subject_data = Subject(study_checkpoint(view, checkpoint), data_dir).data
    except DataError as e:
        warnings.warn(f"no sample_image.npy in the bundle: {e}", DataWarning, stacklevel=1)
    path = export_bundle(
        view, out, target=target, min_accuracy=min_accuracy, checkpoint=checkpoint, bench=bench, data=subject_data,
        fast_paths=fast_paths, kit=kit, runtime=runtime,
    )  # fmt: skip
    bundle = read_bundle(path)
    console = make_console()
    console.print(
        f"wrote bundle {path}: {len(bundle.rows)} configurations, target {target}, "
        f"{bundle.rows[0].accuracy * 100:.2f}% … {bundle.rows[-1].accuracy * 100:.2f}% accuracy, "
        f"{bundle.rows[0].latency_ms:.3f} … {bundle.rows[-1].latency_ms:.3f} ms"
    )
    if kit:
        tools = bundle.manifest["runtime"]["tools"]
        console.print(
            f"wrote kit {path.with_name(path.name + '.tar.gz')}: copy it to the board, then "
            f"tar xzf {path.name}.tar.gz && sh {path.name}/preflight.sh && sh {path.name}/run.sh && sh {path.name}/bench.sh"
            + ("" if tools else f" (no runtime tools inside for {target}: see {path.name}/preflight.sh)")
        )


def import_measurements(db: str, study: str, csv_path: Path, device: str, evaluator: str, metric: str) -> None:
    added, known = import_device_csv(Database(db, create=False), study, csv_path, device, evaluator, metric,
                                     "ms" if metric.endswith("_ms") else "mJ")  # fmt: skip
    print(f"imported {added} new {metric} values for device {device} ({known} already stored)")
    print(f"front for this device: explorer pareto --db {db} --study {study} --device {device}")


@app.command("import-latency")
def import_latency_cmd(
    study: str = typer.Option(..., "--study", help="Study the configurations belong to."),
    csv_path: Path = typer.Option(
        ..., "--csv", help="CSV with columns config,latency_ms[,latency_p95_ms] (bench.sh writes it)."
    ),
    device: str = typer.Option(..., "--device", help="Name of the board, e.g. odroid-xu4."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database."),
) -> None:
    """Store latencies measured on a board, so fronts can be recomputed for it (--device)."""
    import_measurements(db, study, csv_path, device, DEVICE_EVALUATOR, "latency_ms")


@app.command("import-energy")
def import_energy_cmd(
    study: str = typer.Option(..., "--study", help="Study the configurations belong to."),
    csv_path: Path = typer.Option(..., "--csv", help="CSV with columns config,energy_mj (mJ per inference, metered)."),
    device: str = typer.Option(..., "--device", help="Name of the board the meter was on, e.g. odroid-xu4."),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLAlchemy URL of the results database."),
) -> None:
    """Store energy per inference measured with a power meter; `export --device` then ships it
    in pareto.json and the runtime uses it instead of the busy-power estimate."""
    import_measurements(db, study, csv_path, device, ENERGY_EVALUATOR, "energy_mj")


def most_accurate(rows):
    """The bundle row `predict` uses by default: the most accurate, the faster of equals. Row 0 is
    the least skipping, which re-estimated BatchNorm statistics can make less accurate than others."""
    return max(rows, key=lambda r: (r.accuracy, -r.latency_ms))


def model_input(x: np.ndarray, shape: tuple, normalisation: dict, image: Path) -> np.ndarray:
    """The module's float32 input from a user's array: raw uint8 pixels are normalised with the
    bundle's mean and std (they can only be pixels); a float image far outside the normalised
    range is most likely un-normalised, which would give a wrong class without a word."""
    if x.dtype == np.uint8:
        if x.shape == shape[1:]:
            x = x[None]
        mean = np.asarray(normalisation["mean"], np.float32)
        std = np.asarray(normalisation["std"], np.float32)
        print(f"note: {image} holds uint8 pixels: normalised with the bundle's mean {mean} and std {std}")
        return ((x.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise BundleError(f"{image} holds {x.dtype} values; give normalised float32 or raw uint8 pixels")
    x = x.astype(np.float32)
    if np.isfinite(x).all() and np.abs(x).max() > 20:
        print(
            f"warning: {image} has values up to {np.abs(x).max():.4g}, far outside a normalised image "
            "(about ±3): normalise it as (pixels/255 − mean)/std with the manifest's normalisation, "
            "or pass the raw uint8 pixels",
            file=sys.stderr,
        )
    return x


@app.command("predict")
def predict_cmd(
    bundle: Path = typer.Option(..., "--bundle", help="Bundle directory (explorer export)."),
    image: Path = typer.Option(
        ..., "--image", help=".npy with one image: normalised float32 1×H×W×C (NHWC), or raw uint8 pixels H×W×C."
    ),
    skip: str | None = typer.Option(None, "--skip", help="Skip vector bits; default: the bundle's most accurate row."),
) -> None:
    """Classify one image with a bundle's module, as a board would."""
    b = read_bundle(bundle)
    config = SkipConfig.parse(skip, b.num_gates) if skip else most_accurate(b.rows).config
    row = next((r for r in b.rows if r.config == config), None)
    if b.bn_values and row is None:
        raise BundleError(
            f"skip vector {config} is not a row of {bundle}/pareto.bin, so the bundle has no BatchNorm "
            "statistics for it; choose one of: " + ", ".join(str(r.config) for r in b.rows)
        )
    try:
        x = np.load(image, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BundleError(f"cannot read {image} as .npy ({e})") from None
    expected = tuple(b.manifest["inputs"][0]["shape"])
    x = model_input(x, expected, b.manifest["normalisation"], image)
    if x.shape != expected:
        raise BundleError(f"{image} holds an array of shape {x.shape}; the module takes {expected} (NHWC, normalised)")
    bn = row.bn if b.bn_values else None
    logits = IreeModule(b.vmfb)(x, np.array(config.bits, dtype=np.int32), bn)[0]
    cls = int(np.argmax(logits))
    names = b.manifest.get("classes") or []
    print(f"skip={config} class {cls}" + (f" ({names[cls]})" if cls < len(names) else ""))
