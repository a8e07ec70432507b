"""`explorer export`: a study's Pareto front + the compiled module → a bundle a board can run."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from explorer import __version__
from explorer.bn import bn_layers
from explorer.checkpoint import Checkpoint, load_checkpoint
from explorer.deploy.board import (
    archive,
    bench_script,
    copy_tools,
    get_runtime_hint,
    kit_tools,
    module_cpu,
    preflight_script,
    required_cpuinfo,
    run_script,
    write_script,
    write_sums,
)
from explorer.deploy.bundle import (
    MANIFEST_FORMAT,
    BundleError,
    ParetoRow,
    encode_pareto,
    sha256_file,
    sort_rows,
)
from explorer.deploy.iree import (
    ENTRY,
    compile_checkpoint,
    compile_flags,
    get_target,
    iree_revision,
    iree_version,
    runtime_requirement,
)
from explorer.errors import CheckpointError
from explorer.storage.results import StudyView


def study_checkpoint(view: StudyView, override: str | Path | None = None) -> Checkpoint:
    """The study's checkpoint, from the path it was searched with (or `override`), sha256-verified."""
    path = Path(override) if override else Path(view.checkpoint.path)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e} (study {view.name!r} was searched on {view.checkpoint.path}; pass --checkpoint)"
        ) from None
    if ckpt.sha256 != view.checkpoint.sha256:
        raise CheckpointError(
            f"{path} is not the checkpoint of study {view.name!r} (sha256 {ckpt.sha256[:12]}… ≠ "
            f"{view.checkpoint.sha256[:12]}…); pass --checkpoint with the right one"
        )
    return ckpt


def bn_artifacts(view: StudyView) -> dict[str, bytes]:
    """Configuration → re-estimated BatchNorm statistics stored in the study (empty without them),
    from whichever evaluator declares the "bn_stats" artifact."""
    from explorer.evaluators import artifact_producers

    for evaluator in artifact_producers("bn_stats"):
        if view.artifacts.get(evaluator):
            return view.artifacts[evaluator]
    return {}


def front_rows(view: StudyView, min_accuracy: float | None = None, model=None) -> list[ParetoRow]:
    """The front as runtime rows; with per-configuration BatchNorm statistics in the study (and the
    model to turn them into scales and shifts), every row carries its own."""
    if "latency_ms" not in {m for e in view.evaluations() for m in e.metrics}:
        raise BundleError(
            f"study {view.name!r} has no latency measurements (searched with --objective macs?): "
            "the runtime file needs latencies; run explorer search with a latency objective"
        )

    bn_stats = bn_artifacts(view)
    searched_with_bn = {"accuracy_plain"} <= set(view.full.metrics) and "accuracy_recal" not in view.full.metrics
    if model is not None and searched_with_bn and not bn_stats:  # never a bundle with the wrong statistics
        raise BundleError(
            f"study {view.name!r} was searched with per-configuration BatchNorm statistics, but this view of it "
            "was read without them: load it with load_study(..., artifacts=True)"
        )

    def bn_of(config) -> np.ndarray | None:
        if model is None or not bn_stats:
            return None
        from explorer.bn import BNStats, bn_channels

        stats = BNStats.from_bytes(bn_stats[str(config)], bn_channels(model))
        return np.concatenate(stats.scale_shift(model))

    chosen = [e for e in view.front() if min_accuracy is None or e["accuracy"] >= min_accuracy]
    if not chosen:
        raise BundleError(f"no configuration of study {view.name!r} reaches --min-accuracy {min_accuracy}")
    full = view.full
    if all(e.config != full.config for e in chosen) and "latency_ms" in full.metrics:
        # the runtime starts at no skipping (Algorithm 1) and compares against it: always ship it
        chosen.append(full)
    rows = [
        ParetoRow(
            e.config, float(e["accuracy"]), float(e["latency_ms"]), int(e.metrics.get("macs", 0)), bn_of(e.config)
        )
        for e in chosen
    ]
    return sort_rows(rows)


def target_entry(tgt, vmfb: bytes, model) -> dict:
    """The manifest's target: `cpu_features` are the LLVM features the module was compiled with (read
    from the module itself, on every target), `cpuinfo` the /proc/cpuinfo flags a board needs for them;
    `compiler_flags` those `model` was compiled with (iree.compile_flags)."""
    cpu, features = module_cpu(vmfb)
    needs = required_cpuinfo(tgt.triple, features)
    return {"name": tgt.name, "triple": tgt.triple, "compiler_flags": list(compile_flags(tgt, model)), "cpu": cpu,
            "cpu_features": features, "cpuinfo": {f: list(flags) for f, flags in needs.items()}}  # fmt: skip


def kit_scripts(out: Path, tgt, ckpt: Checkpoint, rows: list[ParetoRow], vmfb: bytes, bn_values: int) -> dict:
    """run.sh, preflight.sh and (with per-row BatchNorm statistics) bn/<config>.npy for a board kit."""
    h, w = ckpt.meta["dataset"]["image_size"]
    shape, g = [1, h, w, ckpt.meta["in_channels"]], ckpt.num_gates
    classes = [str(c) for c in ckpt.meta["dataset"].get("classes", [])]
    cpu, features = module_cpu(vmfb)
    write_script(out / "run.sh", run_script(ENTRY, shape, g, classes, runtime_requirement()))
    needs = required_cpuinfo(tgt.triple, features)
    image_type = "x".join(map(str, shape)) + "xf32"
    hint = get_runtime_hint(tgt.triple)
    write_script(out / "preflight.sh", preflight_script(tgt.name, cpu, needs, ENTRY, image_type, g, hint))
    files = {"run": "run.sh", "preflight": "preflight.sh"}
    if bn_values:
        (out / "bn").mkdir(exist_ok=True)
        for r in rows:
            np.save(out / "bn" / f"{r.config}.npy", np.asarray(r.bn, dtype=np.float32))
            files[f"bn_{r.config}"] = f"bn/{r.config}.npy"
    return files


def export_bundle(
    view: StudyView,
    out: Path,
    *,
    target: str = "host",
    min_accuracy: float | None = None,
    checkpoint: str | Path | None = None,
    bench: bool = False,
    data=None,
    fast_paths: bool = True,
    kit: bool = False,
    runtime: Path | None = None,
) -> Path:
    """Write model.vmfb, pareto.bin, pareto.json, manifest.json (and bench.sh) into `out`.

    `fast_paths`: compile the front's configurations as branches of their own (see
    `explorer.deploy.mlir.resnet_to_mlir`), so the runtime's configurations run as fast as statically
    compiled modules; any other skip vector still runs, gate by gate.
    `kit`: also run.sh, preflight.sh, bench.sh, SHA256SUMS and the target's runtime tools (`runtime`,
    else the ones we have, see `board.kit_tools`), all archived as OUT.tar.gz beside `out`.
    """
    tgt = get_target(target)
    tools = kit_tools(tgt.name, tgt.triple, runtime) if kit else None  # before compiling: a wrong folder fails fast
    ckpt = study_checkpoint(view, checkpoint)
    rows = front_rows(view, min_accuracy, ckpt.model)
    bn_values = len(rows[0].bn) if rows[0].bn is not None else 0
    out.mkdir(parents=True, exist_ok=True)
    g = ckpt.num_gates
    fast = [str(r.config) for r in rows] if fast_paths else []
    module = compile_checkpoint(ckpt, target, out=out / "model.vmfb", bn_input=bool(bn_values), fast_paths=fast)
    metrics = {str(e.config): e.metrics for e in view.evaluations()}
    (out / "pareto.bin").write_bytes(encode_pareto(rows, g))
    (out / "pareto.json").write_text(
        json.dumps(
            [
                {"config": str(r.config), "skipped": list(r.config.skipped), "accuracy": r.accuracy,
                 "latency_ms": r.latency_ms, "macs": r.macs,
                 **{k: metrics[str(r.config)][k] for k in ("latency_p95_ms", "energy_mj")
                    if k in metrics.get(str(r.config), {})}}
                for r in rows
            ],
            indent=2,
        )
        + "\n"
    )  # fmt: skip
    h, w = ckpt.meta["dataset"]["image_size"]
    c = ckpt.meta["in_channels"]
    files = {"module": "model.vmfb", "pareto": "pareto.bin", "pareto_json": "pareto.json"}
    if data is not None:
        # one normalised test image, so the bundle can be tried with iree-run-module straight away
        from explorer.data import normalize

        img = normalize(data.test_x[:1], data.mean, data.std).permute(0, 2, 3, 1).contiguous().numpy()
        np.save(out / "sample_image.npy", img.astype(np.float32))
        files["sample_image"] = "sample_image.npy"
    bench = bench or kit
    if bench:
        # the full-depth configuration is the reference of every front: always measure it
        configs = list(dict.fromkeys(["1" * g] + [str(r.config) for r in rows]))
        script = bench_script(view.name, configs, ENTRY, f"1x{h}x{w}x{c}xf32", g, bn_values, runtime_requirement())
        write_script(out / "bench.sh", script)
        files["bench"] = "bench.sh"
    if kit:
        for stale in ("bin", "bn"):  # from an earlier kit in the same folder (another target, another front)
            shutil.rmtree(out / stale, ignore_errors=True)
        files.update(kit_scripts(out, tgt, ckpt, rows, module.read_bytes(), bn_values))
        if tools is not None:
            files.update(copy_tools(tools, out))
    model = ckpt.model
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "created_by": f"skip-explorer {__version__}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target": target_entry(tgt, module.read_bytes(), ckpt.model),
        "iree_version": iree_version(),  # the exact build string of the compiler
        # what loads the module: `pip install` this (or a runtime built from this revision)
        "runtime": {
            "pip": runtime_requirement(),
            "iree_revision": iree_revision(),
            "tools": "bin/" if tools is not None else None,
        },
        "entry_function": ENTRY,
        "device": "local-sync",
        "inputs": [
            {
                "name": "image",
                "shape": [1, h, w, c],
                "dtype": "float32",
                "layout": "NHWC",
                "preprocessing": "(pixel / 255 - mean) / std per channel",
            },
            {
                "name": "skip",
                "shape": [g],
                "dtype": "int32",
                "meaning": "one entry per gate in gate order; 1 = execute, 0 = skip",
            },
        ]
        + (
            [
                {
                    "name": "bn",
                    "shape": [bn_values],
                    "dtype": "float32",
                    "meaning": "the row's BatchNorm scales then shifts (pareto.bin version 2)",
                }
            ]
            if bn_values
            else []
        ),  # fmt: skip
        "outputs": [{"name": "logits", "shape": [1, ckpt.meta["num_classes"]], "dtype": "float32"}],
        "normalisation": {"mean": list(ckpt.mean), "std": list(ckpt.std)},
        "classes": ckpt.meta["dataset"].get("classes", []),
        "model": {
            "arch": ckpt.arch,
            "num_gates": g,
            "gate_blocks": list(model.gated_blocks),
            "checkpoint_sha256": ckpt.sha256,
            "dataset": ckpt.dataset,
            # how training split the data (an npz file's path and sha256 too), so that serve and
            # table1 find the same test split, without --data-dir for an npz file still in place
            "dataset_splits": {
                k: v for k, v in ckpt.meta["dataset"].items() if k in ("source", "val_size", "split_seed")
            },
            "bn_values": bn_values,
            "bn_layers": [[name, m.num_features] for name, m in bn_layers(model)] if bn_values else [],
            "bn_calibration": view.settings["evaluators"].get("accuracy", "") if bn_values else None,
            # configurations with a branch of their own in model.vmfb (static-module speed)
            "fast_paths": fast,
        },
        "pareto": {
            "study": view.name,
            "rows": len(rows),
            "accuracy": "top-1 fraction on the validation split",
            "latency_source": view.settings["evaluators"].get(view.latency_evaluator, ""),
            "latency_evaluator": view.latency_evaluator,
            "min_accuracy": min_accuracy,
        },
        "files": {role: {"name": name, "sha256": sha256_file(out / name)} for role, name in files.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if kit:
        write_sums(out)
        archive(out)
    assert module == out / "model.vmfb"
    return out
