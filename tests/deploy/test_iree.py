"""The IREE module: one executable for every configuration, equal to PyTorch, gates as real branches."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from explorer.checkpoint import load_checkpoint, save_checkpoint
from explorer.deploy.bundle import BundleError, read_bundle
from explorer.deploy.export import front_rows
from explorer.deploy.iree import IreeModule, compile_checkpoint
from explorer.deploy.mlir import resnet_to_mlir
from explorer.models import create_model
from explorer.skip import SkipConfig
from explorer.storage import Database
from explorer.storage.results import load_study

ENV = {**os.environ, "COLUMNS": "200"}


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def test_all_64_resnet20_configurations_match_pytorch(tiny_ckpt, fmnist):
    ckpt = load_checkpoint(tiny_ckpt)
    module = IreeModule(compile_checkpoint(ckpt, "host"))
    from explorer.data import normalize

    images = normalize(fmnist.val_x[:40], fmnist.mean, fmnist.std)
    worst = 0.0
    with torch.no_grad():
        for i in range(64):
            config = SkipConfig.from_int(i, 6)
            skip = np.array(config.bits, dtype=np.int32)
            for k in range(0, 40, 8):  # a few single images per configuration (batch-1 module)
                x = images[k : k + 1]
                got = module(nhwc(x), skip)
                ref = ckpt.model(x, list(config.bits)).numpy()
                worst = max(worst, float(np.abs(got - ref).max()))
                assert got.argmax() == ref.argmax()
    assert worst < 1e-4


@pytest.fixture(scope="module")
def resnet56_ckpt(tmp_path_factory, fmnist):
    """An untrained resnet56 with non-trivial BatchNorm statistics (numerics do not need training)."""
    torch.manual_seed(0)
    model = create_model("resnet56", in_channels=1)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
    meta = {"arch": "resnet56", "in_channels": 1, "num_classes": 10, "dataset": fmnist.describe()}
    return save_checkpoint(tmp_path_factory.mktemp("r56") / "resnet56", model.eval(), meta)


def test_100_random_resnet56_configurations_match_pytorch(resnet56_ckpt):
    ckpt = load_checkpoint(resnet56_ckpt)
    module = IreeModule(compile_checkpoint(ckpt, "host"))
    rng = np.random.default_rng(0)
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    worst = 0.0
    with torch.no_grad():
        for _ in range(100):
            bits = [int(b) for b in rng.integers(0, 2, 24)]
            got = module(nhwc(x), np.array(bits, dtype=np.int32))
            ref = ckpt.model(x, bits).numpy()
            worst = max(worst, float(np.abs(got - ref).max()))
            assert got.argmax() == ref.argmax()
    assert worst < 1e-4


def test_gates_stay_real_branches_in_the_compiled_program(tiny_ckpt, tmp_path):
    """After IREE's dispatch formation, each gate is still a branch around its block's dispatches."""
    ckpt = load_checkpoint(tiny_ckpt)
    src = tmp_path / "m.mlir"
    src.write_text(resnet_to_mlir(ckpt.model, (28, 28)))
    from explorer.deploy.iree import TARGETS, compiler_path

    out = subprocess.run(
        [compiler_path(), str(src), *TARGETS["host"].flags, "--compile-to=flow", "-o", str(tmp_path / "flow.mlir")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    flow = (tmp_path / "flow.mlir").read_text()
    branches = flow.count("scf.if") + flow.count("cf.cond_br")
    assert branches >= 6
    # the dispatches of a gated block live inside a branch region, not before it
    first_if = flow.index("scf.if") if "scf.if" in flow else flow.index("cf.cond_br")
    assert "flow.dispatch" in flow[first_if:]


def test_every_dispatch_is_vectorised_including_the_convolution_patches(tiny_ckpt, tmp_path):
    """The im2col patches are gathered with vector loads, padding included (emitter 5). Written as
    an affine-map copy (`(d0, d1 + d2, d3)`) they were left as scalar loops by MLIR's vectoriser and
    took longer than the matmuls they feed; a regression shows up here, not only as lost speed."""
    import re

    ckpt = load_checkpoint(tiny_ckpt)
    from explorer.deploy.iree import TARGETS, compiler_path

    src, dump = tmp_path / "m.mlir", tmp_path / "dump"
    src.write_text(resnet_to_mlir(ckpt.model, (28, 28)))
    out = subprocess.run(
        [compiler_path(), str(src), *TARGETS["host"].flags, f"--iree-hal-dump-executable-intermediates-to={dump}",
         "-o", str(tmp_path / "m.vmfb")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    llvm_ir = "\n".join(p.read_text() for p in dump.glob("*.optimized.ll"))
    bodies = {m[1]: m[0] for m in re.finditer(r"^define [^@]*@(forward_dispatch_\w+)\(.*?^}", llvm_ir, re.S | re.M)}
    patches = [f for f in bodies if re.search(r"_(\d+x){3,4}\d+_f32$", f) and "matmul" not in f]
    assert len(bodies) >= 20 and len(patches) >= 5, sorted(bodies)  # the stem, 3 stages, 2 strided convolutions
    scalar = [f for f, body in bodies.items() if not re.search(r"(load|store) <\d+ x float>", body)]
    assert scalar == []


def test_static_module_equals_gated_module(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    gated = IreeModule(compile_checkpoint(ckpt, "host"))
    static = IreeModule(compile_checkpoint(ckpt, "host", static_skip="101100"))
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 1)).astype(np.float32)
    assert np.allclose(gated(x, np.array([1, 0, 1, 1, 0, 0], np.int32)), static(x), atol=1e-5)


FAST = ["111111", "000000", "101100", "010011"]


def test_fast_paths_give_the_same_logits_as_the_per_gate_path_for_all_64_configurations(tiny_ckpt):
    """Configurations with a branch of their own and all the others (per gate) match PyTorch."""
    ckpt = load_checkpoint(tiny_ckpt)
    fast = IreeModule(compile_checkpoint(ckpt, "host", fast_paths=FAST))
    gated = IreeModule(compile_checkpoint(ckpt, "host"))
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for i in range(64):
            config = SkipConfig.from_int(i, 6)
            skip = np.array(config.bits, dtype=np.int32)
            got = fast(nhwc(x), skip)
            ref = ckpt.model(x, list(config.bits)).numpy()
            assert np.abs(got - ref).max() < 1e-4, str(config)
            assert np.abs(got - gated(nhwc(x), skip)).max() < 1e-5, str(config)


def test_a_fast_path_is_one_submission_like_a_static_module(tiny_ckpt, tmp_path):
    """The reason fast paths exist: IREE schedules a matched configuration's blocks as one
    command-buffer execution, where the per-gate path needs one per region between gates."""
    ckpt = load_checkpoint(tiny_ckpt)
    from explorer.deploy.iree import TARGETS, compiler_path

    def executes(**kw) -> int:
        src, dst = tmp_path / "m.mlir", tmp_path / "m.stream.mlir"
        src.write_text(resnet_to_mlir(ckpt.model, (28, 28), **kw))
        out = subprocess.run([compiler_path(), str(src), *TARGETS["host"].flags, "--compile-to=stream", "-o", str(dst)],
                             capture_output=True, text=True)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return dst.read_text().count("stream.cmd.execute")

    per_gate = executes()
    with_one = executes(fast_paths=["000000"])
    # the fast path adds exactly one execution region (its whole remaining network), however many
    # gates it resolves; the per-gate path keeps one per gated block plus one per stretch between
    assert with_one == per_gate + 1
    assert per_gate >= 6 + 3


def test_the_module_itself_refuses_a_skip_vector_of_the_wrong_length_or_type(tiny_ckpt):
    """The gate bits are read on the host from the caller's buffer: its shape and type are asserted."""
    module = IreeModule(compile_checkpoint(load_checkpoint(tiny_ckpt), "host"))
    x = np.zeros((1, 28, 28, 1), np.float32)
    with pytest.raises(Exception, match="skip shape dimension 0 mismatch; expected 6 but have 5"):
        module(x, np.ones(5, np.int32))
    with pytest.raises(Exception, match="skip element type mismatch"):
        module(x, np.ones(6, np.float32))
    assert module(x, np.ones(6, np.int32)).shape == (1, 10)


def test_bad_fast_paths_are_refused(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    with pytest.raises(ValueError, match="not a configuration of 6 gates"):
        resnet_to_mlir(ckpt.model, (28, 28), fast_paths=["10110"])
    with pytest.raises(ValueError, match="not a configuration of 6 gates"):
        resnet_to_mlir(ckpt.model, (28, 28), fast_paths=["10110x"])


def embedded_elfs(vmfb: bytes) -> list:
    """Every ELF shared object embedded in a .vmfb (pyelftools reads each from its magic on)."""
    from elftools.elf.elffile import ELFFile

    starts, i = [], vmfb.find(b"\x7fELF")
    while i >= 0:
        starts.append(i)
        i = vmfb.find(b"\x7fELF", i + 4)
    return [ELFFile(io.BytesIO(vmfb[i:])) for i in starts]


def imported_symbols(elf) -> list[str]:
    """The dynamic symbols an ELF needs from elsewhere (IREE's embedded-ELF loader accepts none)."""
    dynsym = elf.get_section_by_name(".dynsym")
    return [s.name for s in dynsym.iter_symbols() if s.name and s["st_shndx"] == "SHN_UNDEF"] if dynsym else []


@pytest.mark.parametrize("target", ["host", "aarch64", "armv7"])
def test_every_target_module_imports_no_symbol_so_a_stock_runtime_loads_it(tiny_ckpt, tmp_path, target):
    """The loader's rule, checked on the compiled file: armv7 once imported __aeabi_unwind_cpp_pr0."""
    path = compile_checkpoint(load_checkpoint(tiny_ckpt), target, out=tmp_path / f"{target}.vmfb")
    elfs = embedded_elfs(path.read_bytes())
    machine = {"host": ("EM_X86_64", "EM_AARCH64"), "aarch64": ("EM_AARCH64",), "armv7": ("EM_ARM",)}[target]
    assert elfs and all(e["e_machine"] in machine for e in elfs)
    assert all(e.get_section_by_name(".dynsym") is not None for e in elfs)
    assert {target: [s for e in elfs for s in imported_symbols(e)]} == {target: []}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "explorer.cli", *args], capture_output=True, text=True, env=ENV, timeout=900
    )


def run_here(*args) -> subprocess.CompletedProcess:
    """`explorer ARGS` in this process, for commands that neither train nor search (a child process
    spends ~4 s importing torch and the rest): exit status, stdout and stderr as `run` gives them."""
    from explorer.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def copy_study(db_file: Path, tmp_path: Path) -> str:
    """A private copy of a shared study's database (the test may write to it), as a URL; copied with
    SQLite's backup API, which includes what is still in the write-ahead log."""
    src, dst = sqlite3.connect(db_file), sqlite3.connect(tmp_path / "study.db")
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{tmp_path}/study.db"


def test_export_bundle_runs_with_iree_run_module_and_agrees_with_explorer(tiny_bundle, tmp_path):
    # the study: the session's sensitivity search on tiny_ckpt (IREE latency, 300 images) behind tiny_bundle
    db = copy_study(tiny_bundle.parent / "b.db", tmp_path)
    out = tmp_path / "bundle"
    r = run_here("export", "--db", db, "--study", "b", "--out", str(out), "--bench")
    assert r.returncode == 0, r.stderr
    bundle = read_bundle(out)
    manifest = bundle.manifest
    assert manifest["target"]["name"] == "host" and manifest["entry_function"] == "forward"
    assert manifest["inputs"][0]["layout"] == "NHWC" and manifest["model"]["num_gates"] == 6
    assert set(manifest["files"]) >= {"module", "pareto", "pareto_json", "sample_image", "bench"}
    assert [r.config.num_skipped for r in bundle.rows] == sorted(r.config.num_skipped for r in bundle.rows)
    assert json.loads((out / "pareto.json").read_text())[0]["config"] == str(bundle.rows[0].config)
    # the front's configurations are the module's fast paths; any other skip vector still runs
    front = [str(r.config) for r in bundle.rows]
    assert manifest["model"]["fast_paths"] == front
    other = next(str(SkipConfig.from_int(i, 6)) for i in range(64) if str(SkipConfig.from_int(i, 6)) not in front)
    # `explorer predict` once, for a configuration off the fast paths; the bundle's module for the rest
    ours = run_here("predict", "--bundle", str(out), "--image", str(out / "sample_image.npy"), "--skip", other)
    assert ours.returncode == 0, ours.stderr
    predicted = {other: int(ours.stdout.split("class ")[1].split()[0])}
    module, image = IreeModule(out / "model.vmfb"), np.load(out / "sample_image.npy")
    for bits in front + [other]:
        cls = int(np.argmax(module(image, np.array([int(b) for b in bits], dtype=np.int32))))
        assert predicted.setdefault(bits, cls) == cls
        tool = subprocess.run(
            ["iree-run-module", f"--module={out / 'model.vmfb'}", "--device=local-sync", "--function=forward",
             f"--input=@{out / 'sample_image.npy'}", f"--input=6xi32={','.join(bits)}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert tool.returncode == 0, tool.stderr
        values = [float(v) for v in tool.stdout.split("1x10xf32=[")[1].split("]")[0].split()]
        assert int(np.argmax(values)) == cls
    # the board script, run here with IREE's own benchmark tool: one positive latency per row,
    # which import-latency then stores for a device
    bench = subprocess.run(["sh", str(out / "bench.sh")], capture_output=True, text=True, timeout=600)
    assert bench.returncode == 0, bench.stderr
    lines = (out / "latency.csv").read_text().splitlines()
    assert lines[0] == "config,latency_ms,latency_p95_ms" and len(lines) == len(bundle.rows) + 1
    assert all(float(line.split(",")[1]) > 0 for line in lines[1:])
    r = run_here("import-latency", "--db", db, "--study", "b", "--csv", str(out / "latency.csv"), "--device", "here")
    assert r.returncode == 0 and f"imported {len(bundle.rows)} new" in r.stdout, r.stdout + r.stderr


@pytest.fixture(scope="module")
def torch_study(tiny_ckpt, tmp_path_factory) -> Path:
    """The database file of a sensitivity search on tiny_ckpt with PyTorch latency (200 images), study 'x';
    each test works on a copy of it."""
    db = tmp_path_factory.mktemp("torch-study") / "d.db"
    r = run("search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--limit", "200",
            "--latency-evaluator", "latency-torch", "--db", f"sqlite:///{db}", "--study", "x")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return db


def test_cross_target_bundle_records_its_target(torch_study, tmp_path):
    db = copy_study(torch_study, tmp_path)
    # without fast paths: the armv7 module test_every_target_module_imports_no_symbol_... compiles (cached)
    r = run(
        "export", "--db", db, "--study", "x", "--out", str(tmp_path / "arm"), "--target", "armv7", "--no-fast-paths"
    )
    assert r.returncode == 0, r.stderr
    m = read_bundle(tmp_path / "arm").manifest
    assert m["target"]["triple"] == "armv7a-unknown-linux-gnueabihf"
    assert "--iree-llvmcpu-target-cpu=cortex-a15" in m["target"]["compiler_flags"]


def test_import_latency_recomputes_the_front_for_a_device(torch_study, tmp_path):
    db = copy_study(torch_study, tmp_path)
    front = json.loads(run_here("pareto", "--db", db, "--study", "x", "--json").stdout)["front"]
    csv = tmp_path / "lat.csv"
    # a board where every configuration costs the same: only the most accurate one stays on the front
    configs = list(dict.fromkeys(["111111"] + [r["config"] for r in front]))
    csv.write_text("config,latency_ms\n" + "".join(f"{c},5.0\n" for c in configs))
    r = run_here("import-latency", "--db", db, "--study", "x", "--csv", str(csv), "--device", "flatboard")
    assert r.returncode == 0 and f"imported {len(configs)} new" in r.stdout
    again = run_here("import-latency", "--db", db, "--study", "x", "--csv", str(csv), "--device", "flatboard")
    assert "imported 0 new" in again.stdout
    dev = json.loads(run_here("pareto", "--db", db, "--study", "x", "--device", "flatboard", "--json").stdout)["front"]
    best = max(r["accuracy"] for r in front)  # the study's most accurate configuration is on its front
    assert all(r["latency_ms"] == 5.0 and r["accuracy"] == best for r in dev)
    bad = tmp_path / "bad.csv"
    bad.write_text("config,latency_ms\n1101,3\n")
    r = run_here("import-latency", "--db", db, "--study", "x", "--csv", str(bad), "--device", "x")
    assert r.returncode == 2 and "line 2" in r.stderr and "6 skippable blocks" in r.stderr

    # metered energy per inference travels with the device's front into the bundle and the runtime
    energy = tmp_path / "energy.csv"
    energy.write_text("config,energy_mj\n" + "".join(f"{c},{10 + k}\n" for k, c in enumerate(configs)))
    r = run_here("import-energy", "--db", db, "--study", "x", "--csv", str(energy), "--device", "flatboard")
    assert r.returncode == 0 and f"imported {len(configs)} new energy_mj" in r.stdout
    out = tmp_path / "bundle"
    # without fast paths: the plain gated module, compiled once per run and shared with the other tests
    # (fast paths equal to the front are test_export_bundle_runs_with_iree_run_module_and_agrees_with_explorer's)
    assert run_here("export", "--db", db, "--study", "x", "--device", "flatboard", "--out", str(out),
               "--no-fast-paths").returncode == 0  # fmt: skip
    from explorer.runtime.choices import bundle_choices

    choices = bundle_choices(read_bundle(out))
    assert all(c.energy_mj == 10 + configs.index(str(c.config)) for c in choices)
    r = run_here("simulate", "--bundle", str(out), "--requests", "20", "--out", str(tmp_path / "sim"))
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["energy_source"].startswith("measured per-configuration energy")
    bad.write_text("config,energy_mj\n111111,-1\n")
    r = run_here("import-energy", "--db", db, "--study", "x", "--csv", str(bad), "--device", "x")
    assert r.returncode == 2 and "not a positive number" in r.stderr


def test_bn_input_module_matches_recalibrated_pytorch_for_all_64_configurations(tiny_ckpt, fmnist):
    from explorer.bn import calibration_images, recalibrated, reestimate

    ckpt = load_checkpoint(tiny_ckpt)
    module = IreeModule(compile_checkpoint(ckpt, "host", bn_input=True))
    configs = [SkipConfig.from_int(i, 6) for i in range(64)]
    stats = reestimate(ckpt.model, calibration_images(fmnist, 256), configs, mean=fmnist.mean, std=fmnist.std)
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    worst = 0.0
    with torch.no_grad():
        for config, st in zip(configs, stats):
            bn = np.concatenate(st.scale_shift(ckpt.model))
            got = module(nhwc(x), np.array(config.bits, dtype=np.int32), bn)
            ref = recalibrated(ckpt.model, st)(x, list(config.bits)).numpy()
            worst = max(worst, float(np.abs(got - ref).max()))
    assert worst < 1e-4


def test_bn_recal_study_exports_a_version_2_bundle(tiny_ckpt, tmp_path):
    db = f"sqlite:///{tmp_path}/r.db"
    r = run("search", "--checkpoint", str(tiny_ckpt), "--strategy", "sensitivity", "--limit", "200", "--bn-recal", "256",
            "--db", db, "--study", "r")  # fmt: skip
    assert r.returncode == 0, r.stderr
    # a view read without its artifacts (as the dashboard reads views) never makes a bundle without them
    bare = load_study(Database(db, create=False), "r", artifacts=False)
    with pytest.raises(BundleError, match="read without them"):
        front_rows(bare, model=load_checkpoint(tiny_ckpt).model)
    out = tmp_path / "bundle"
    assert run_here("export", "--db", db, "--study", "r", "--out", str(out), "--kit").returncode == 0
    bundle = read_bundle(out)
    assert (out / "pareto.bin").read_bytes()[8] == 2 and bundle.bn_values == 2 * 688
    assert all(row.bn is not None and row.bn.shape == (1376,) for row in bundle.rows)
    assert bundle.manifest["inputs"][2]["name"] == "bn"
    ok = run_here(
        "predict", "--bundle", str(out), "--image", str(out / "sample_image.npy"), "--skip", str(bundle.rows[0].config)
    )
    assert ok.returncode == 0 and "class" in ok.stdout
    # the kit's run.sh passes each row's statistics (bn/<row>.npy) and refuses a skip vector without any
    module, image = IreeModule(out / "model.vmfb"), np.load(out / "sample_image.npy")
    for row in bundle.rows:
        cls = int(np.argmax(module(image, np.array(row.config.bits, dtype=np.int32), row.bn)))
        board = subprocess.run(["sh", str(out / "run.sh"), "sample_image.npy", str(row.config)], capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert board.returncode == 0 and board.stdout.startswith(f"skip={row.config} class {cls} ("), board.stderr
    other = next(str(SkipConfig.from_int(i, 6)) for i in range(64) if SkipConfig.from_int(i, 6) not in
                 {r.config for r in bundle.rows})  # fmt: skip
    refused = subprocess.run(["sh", str(out / "run.sh"), "sample_image.npy", other], capture_output=True, text=True)
    assert refused.returncode == 1 and f"skip vector {other} is not a row of pareto.json" in refused.stderr
    assert subprocess.run(["sh", str(out / "preflight.sh")], capture_output=True).returncode == 0


def test_gate_bits_as_scalar_arguments_give_the_same_logits(tiny_ckpt, tmp_path, monkeypatch):
    """benchmarks/gate_hoist.py's third variant (skip bits as i32 arguments, a GateReader of the
    benchmarks' own) computes the same model: the gate-reading strategy is a real plug-in point."""
    from explorer.deploy.iree import TARGETS, compiler_path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "benchmarks"))
    from _emitter_variants import ScalarArgGates

    ckpt = load_checkpoint(tiny_ckpt)
    src, dst = tmp_path / "s.mlir", tmp_path / "s.vmfb"
    src.write_text(resnet_to_mlir(ckpt.model, (28, 28), gates=ScalarArgGates()))
    subprocess.run([compiler_path(), str(src), *TARGETS["host"].flags, "-o", str(dst)], check=True)
    scalars, gated = IreeModule(dst), IreeModule(compile_checkpoint(ckpt, "host"))
    x = np.random.default_rng(1).standard_normal((1, 28, 28, 1)).astype(np.float32)
    for bits in ([1] * 6, [1, 0, 1, 1, 0, 0], [0] * 6):
        out = scalars._fn(x, *bits).to_host()
        assert np.allclose(out, gated(x, np.array(bits, np.int32)), atol=1e-5)


def test_compile_refuses_a_fast_path_of_the_wrong_length_before_compiling(tiny_ckpt, tmp_path):
    r = run_here("compile", "--checkpoint", str(tiny_ckpt), "--out", str(tmp_path / "m.vmfb"), "--fast-path", "10110")
    assert r.returncode != 0 and "5 entries but the model has 6" in r.stdout + r.stderr
    assert not (tmp_path / "m.vmfb").exists()
