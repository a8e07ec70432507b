"""On the board: bench.sh fails loudly and measures real percentiles; the manifest says what runtime
loads the module and what CPU it needs; (with the emulator kit) the aarch64 bundle under qemu."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.deploy.board import module_cpu, required_cpuinfo
from explorer.deploy.bundle import read_bundle


def explorer(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "explorer.cli", *args], capture_output=True, text=True, timeout=900,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def study(tiny_bundle):
    """(database URL, study name) of the sensitivity search behind `tiny_bundle` (IREE latency)."""
    return f"sqlite:///{tiny_bundle.parent}/b.db", "b"


def export_kit(tmp_path_factory, study, target: str, *extra: str) -> Path:
    """`explorer export --kit` (bench.sh included) into a fresh folder; returns the bundle folder."""
    out = tmp_path_factory.mktemp(target) / f"kit-{target}"
    r = explorer(
        "export", "--db", study[0], "--study", study[1], "--out", str(out), "--target", target, "--kit", *extra
    )
    assert r.returncode == 0, r.stderr
    assert f"wrote kit {out}.tar.gz" in " ".join(r.stdout.split()), r.stdout
    return out


@pytest.fixture(scope="module")
def host_bench(tmp_path_factory, study):
    return export_kit(tmp_path_factory, study, "host")


def bench(bundle: Path, tool: str | None = None, reps: int = 10) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_REPETITIONS": str(reps)}
    if tool is not None:
        env["IREE_BENCHMARK_MODULE"] = tool
    return subprocess.run(["sh", str(bundle / "bench.sh")], capture_output=True, text=True, env=env, timeout=600)


def copy_bundle(bundle: Path, dst: Path) -> Path:
    shutil.copytree(bundle, dst)
    return dst


def assert_failed_without_csv(r: subprocess.CompletedProcess, bundle: Path, message: str) -> None:
    assert r.returncode != 0, r.stdout
    assert message in r.stderr, r.stderr
    assert "wrote latency.csv" not in r.stdout
    assert not (bundle / "latency.csv").exists() and not (bundle / "latency.csv.part").exists()


def test_bench_refuses_a_missing_tool(host_bench, tmp_path):
    b = copy_bundle(host_bench, tmp_path / "b")
    r = bench(b, tool=str(tmp_path / "nowhere" / "iree-benchmark-module"))
    assert_failed_without_csv(r, b, "iree-benchmark-module not found: pip install iree-base-runtime==")


def test_bench_refuses_a_tool_that_cannot_run(host_bench, tmp_path):
    b = copy_bundle(host_bench, tmp_path / "b")
    bogus = tmp_path / "iree-benchmark-module"
    bogus.write_bytes((b / "pareto.bin").read_bytes())  # executable, but no program for this machine
    bogus.chmod(0o755)
    assert_failed_without_csv(bench(b, tool=str(bogus)), b, f"{bogus} cannot run on this machine")


def test_bench_refuses_a_module_that_does_not_load(host_bench, tmp_path):
    b = copy_bundle(host_bench, tmp_path / "b")
    module = b / "model.vmfb"
    module.write_bytes(module.read_bytes()[:20_000])
    r = bench(b)
    assert_failed_without_csv(r, b, "failed on configuration 111111")
    assert "model.vmfb" in r.stderr  # the tool's own reason is shown


def test_bench_p95_is_the_percentile_of_single_inferences_and_its_flags_draw_no_warning(host_bench, tmp_path):
    """A wrapper records the tool's raw output: latency_ms and latency_p95_ms are numpy's median and
    95th percentile of its per-repetition rows, one inference each."""
    b = copy_bundle(host_bench, tmp_path / "b")
    raw = tmp_path / "raw"
    wrapper = tmp_path / "tee-tool"
    wrapper.write_text(
        f'#!/bin/sh\niree-benchmark-module "$@" >"{raw}.out" 2>>"{raw}.err"; rc=$?\n'
        f'cat "{raw}.out" >>"{raw}.csv"; cat "{raw}.out"; exit $rc\n'
    )
    wrapper.chmod(0o755)
    r = bench(b, tool=str(wrapper), reps=25)
    assert r.returncode == 0, r.stderr
    stderr = Path(f"{raw}.err").read_text()
    assert "LOG(" not in stderr and "should have" not in stderr, stderr
    samples: dict[int, list[float]] = {}
    block = -1
    for row in csv.reader(io.StringIO(Path(f"{raw}.csv").read_text())):
        if not row:
            continue
        if row[0] == "name":
            block += 1
        elif row[0].endswith("real_time"):
            assert row[1] == "1" and row[4] == "ms"  # one inference per repetition
            samples.setdefault(block, []).append(float(row[2]))
    rows = list(csv.DictReader((b / "latency.csv").open()))
    assert len(rows) == len(samples) == len(read_bundle(b).rows) and rows[0]["config"] == "111111"
    for k, row in enumerate(rows):
        assert len(samples[k]) == 25
        assert float(row["latency_ms"]) == pytest.approx(np.median(samples[k]), abs=2e-6)
        assert float(row["latency_p95_ms"]) == pytest.approx(np.percentile(samples[k], 95), abs=2e-6)


def test_manifest_names_the_runtime_and_what_the_module_needs(host_bench):
    from importlib.metadata import version

    m = json.loads((host_bench / "manifest.json").read_text())
    assert m["runtime"]["pip"] == f"iree-base-runtime=={version('iree-base-compiler')}"
    assert "rc" not in m["runtime"]["pip"] and m["iree_version"].startswith(version("iree-base-compiler"))
    assert len(m["runtime"]["iree_revision"]) == 40
    cpu, features = module_cpu((host_bench / "model.vmfb").read_bytes())
    assert m["target"]["cpu"] == cpu and m["target"]["cpu_features"] == features
    # the module's own features, LLVM names
    assert {"x86_64": "sse2", "aarch64": "neon"}[platform.machine()] in features
    # this machine has every /proc/cpuinfo flag the host module needs
    flags = set(open("/proc/cpuinfo").read().split())
    assert all(set(alts) & flags for alts in m["target"]["cpuinfo"].values()), m["target"]["cpuinfo"]


def test_cpuinfo_requirements_of_the_board_targets():
    assert required_cpuinfo("armv7a-unknown-linux-gnueabihf", ["neon", "vfp4"]) == {
        "neon": ("neon", "asimd"),
        "vfp4": ("vfpv4", "asimd"),
    }
    assert required_cpuinfo("aarch64-unknown-linux-gnu", ["reserve-x18"]) == {"fp-armv8": ("fp",), "neon": ("asimd",)}
    with pytest.raises(ValueError, match="riscv64"):
        required_cpuinfo("riscv64-unknown-linux-gnu", [])
    with pytest.raises(ValueError, match="no llvm-cpu target attributes"):
        module_cpu(b"not a module")


# -- emulated aarch64 board (scripts/install-board-kit.sh, run by scripts/install.sh --test) ----------

BOARDS = Path(os.environ.get("EXPLORER_BOARDS", Path.home() / ".cache" / "skip-explorer" / "boards"))


@pytest.fixture(scope="session")
def boards() -> Path:
    """The emulator kit: qemu-user, an arm64 sysroot and IREE's aarch64 runtime tools."""
    if not (BOARDS / "READY").is_file():
        if os.environ.get("EXPLORER_REQUIRE_BOARDS") == "1":
            pytest.fail(f"EXPLORER_REQUIRE_BOARDS=1 but {BOARDS} holds no board kit")
        pytest.skip(f"no emulated boards in {BOARDS}: run scripts/install-board-kit.sh (install.sh --test does)")
    return BOARDS


def aarch64(boards: Path, tool: str) -> list[str]:
    return [
        str(boards / "qemu" / "qemu-aarch64-static"),
        "-L",
        str(boards / "arm64"),
        str(boards / "iree-aarch64" / tool),
    ]


@pytest.fixture(scope="module")
def aarch64_bench(tmp_path_factory, study, boards):
    return export_kit(tmp_path_factory, study, "aarch64")


def test_aarch64_module_under_qemu_gives_the_host_logits_for_every_row_of_the_front(
    boards, aarch64_bench, host_bench, fmnist, tmp_path
):
    from explorer.data import normalize
    from explorer.deploy.iree import IreeModule

    bundle = read_bundle(aarch64_bench)
    assert bundle.manifest["target"]["triple"].startswith("aarch64")
    host = IreeModule(host_bench / "model.vmfb")
    images = normalize(fmnist.test_x[:3], fmnist.mean, fmnist.std).permute(0, 2, 3, 1).contiguous().numpy()
    worst = 0.0
    for k, image in enumerate(images):
        np.save(tmp_path / f"img{k}.npy", image[None])
        for row in bundle.rows:
            bits = str(row.config)
            out = tmp_path / f"out{k}-{bits}.npy"
            r = subprocess.run(
                [*aarch64(boards, "iree-run-module"), f"--module={aarch64_bench / 'model.vmfb'}", "--device=local-sync",
                 "--function=forward", f"--input=@{tmp_path / f'img{k}.npy'}", f"--input={len(bits)}xi32={','.join(bits)}",
                 f"--output=@{out}"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            board, ours = np.load(out), host(image[None], np.array(row.config.bits, dtype=np.int32))
            assert int(np.argmax(board)) == int(np.argmax(ours)), (k, bits)
            worst = max(worst, float(np.abs(board - ours).max()))
    assert worst <= 1e-5, worst


def test_aarch64_bench_runs_under_qemu_and_import_latency_takes_its_csv(boards, aarch64_bench, study, tmp_path):
    b = copy_bundle(aarch64_bench, tmp_path / "b")
    r = bench(b, tool=" ".join(aarch64(boards, "iree-benchmark-module")), reps=5)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((b / "latency.csv").open()))
    assert len(rows) == len(read_bundle(b).rows) and all(
        float(x["latency_p95_ms"]) >= float(x["latency_ms"]) > 0 for x in rows
    )
    db = tmp_path / "copy.db"  # the session's study stays as it is
    with sqlite3.connect(study[0].removeprefix("sqlite:///")) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    r = explorer("import-latency", "--db", f"sqlite:///{db}", "--study", study[1], "--csv", str(b / "latency.csv"),
                 "--device", "qemu-aarch64")  # fmt: skip
    assert r.returncode == 0 and f"imported {len(rows)} new" in r.stdout, r.stdout + r.stderr


# -- the board kit -----------------------------------------------------------------------------------


def unpack(kit_folder: Path, dst: Path) -> Path:
    """Extract KIT.tar.gz as a board user would; returns the kit folder inside `dst`."""
    import tarfile

    with tarfile.open(kit_folder.with_name(kit_folder.name + ".tar.gz")) as tar:
        tar.extractall(dst, filter="tar")
    return dst / kit_folder.name


def sh(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})  # fmt: skip


def test_host_kit_holds_everything_and_runs_from_the_archive(host_bench, tmp_path):
    from explorer.deploy.iree import IreeModule

    kit = unpack(host_bench, tmp_path)
    names = {p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()}
    assert names >= {"model.vmfb", "pareto.bin", "pareto.json", "manifest.json", "sample_image.npy", "bench.sh",
                     "run.sh", "preflight.sh", "SHA256SUMS", "bin/iree-run-module", "bin/iree-benchmark-module"}  # fmt: skip
    assert all(os.access(kit / n, os.X_OK) for n in ("run.sh", "bench.sh", "preflight.sh", "bin/iree-run-module"))
    bundle = read_bundle(kit)  # every file matches the manifest's sha256
    assert bundle.manifest["runtime"]["tools"] == "bin/"
    r = sh(kit / "preflight.sh")
    assert r.returncode == 0 and "CPU ok" in r.stdout and "files ok" in r.stdout, r.stdout + r.stderr
    image = np.load(kit / "sample_image.npy")
    for row in bundle.rows:
        r = sh(kit / "run.sh", "sample_image.npy", str(row.config))
        assert r.returncode == 0, r.stderr
        expected = int(np.argmax(IreeModule(kit / "model.vmfb")(image, np.array(row.config.bits, dtype=np.int32))))
        assert f"skip={row.config} class {expected} (" in r.stdout, r.stdout
    bad = sh(kit / "run.sh", "sample_image.npy", "10")
    assert bad.returncode == 1 and "has 2 bits; the module has 6 gates" in bad.stderr
    (kit / "pareto.bin").write_bytes(b"x")
    r = sh(kit / "preflight.sh")
    assert r.returncode == 1 and "differ from SHA256SUMS" in r.stderr and "pareto.bin" in r.stderr


@pytest.fixture(scope="module")
def armv7_kit(tmp_path_factory, study):
    return export_kit(tmp_path_factory, study, "armv7")


def test_armv7_kit_preflight_refuses_this_x86_cpu(armv7_kit):
    m = read_bundle(armv7_kit).manifest
    assert m["target"]["cpu"] == "cortex-a15" and m["target"]["cpu_features"] == ["neon", "vfp4"]
    assert m["runtime"]["tools"] is None  # no armv7 runtime is published; --runtime ships one
    r = sh(armv7_kit / "preflight.sh")
    assert r.returncode == 1 and r.stdout == ""
    assert "this CPU lacks what model.vmfb was compiled for (armv7, cpu cortex-a15): neon" in r.stderr, r.stderr


def test_kit_refuses_runtime_tools_for_another_cpu_before_compiling(study, tmp_path):
    from explorer.deploy.board import host_tools

    out = tmp_path / "kit"
    r = explorer("export", "--db", study[0], "--study", study[1], "--out", str(out), "--target", "armv7", "--kit",
                 "--runtime", str(host_tools()))  # fmt: skip
    assert r.returncode != 0 and "iree-run-module is built for another CPU" in r.stderr, r.stderr
    assert not out.exists()
    r = explorer("export", "--db", study[0], "--study", study[1], "--out", str(out), "--runtime", str(tmp_path))
    assert r.returncode != 0 and "--runtime goes with --kit" in r.stderr


def test_bench_refuses_a_tool_built_for_another_cpu(boards, host_bench, tmp_path):
    """IREE's aarch64 tool on this x86-64 machine: it cannot run (or, where binfmt runs it under
    qemu, it cannot load the x86-64 module): a message, exit 1, no CSV either way."""
    b = copy_bundle(host_bench, tmp_path / "b")
    r = bench(b, tool=str(boards / "iree-aarch64" / "iree-benchmark-module"))
    assert r.returncode == 1 and not (b / "latency.csv").exists()
    assert "cannot run on this machine" in r.stderr or "failed on configuration 111111" in r.stderr, r.stderr


def emulated_cpuinfo(boards: Path, arch: str, cpu: str, dst: Path) -> Path:
    """A /proc/cpuinfo Features line with the hardware capabilities qemu gives the emulated `cpu`
    (glibc's LD_SHOW_AUXV; aarch64 prints them as a bit mask, decoded with the kernel's names)."""
    if arch == "arm":
        cmd = [boards / "qemu" / "qemu-arm-static", "-cpu", cpu, "-L", boards / "armhf",
               boards / "armhf" / "lib" / "arm-linux-gnueabihf" / "libc.so.6"]  # fmt: skip
    else:
        cmd = [boards / "qemu" / "qemu-aarch64-static", "-cpu", cpu, "-L", boards / "arm64",
               boards / "arm64" / "lib" / "aarch64-linux-gnu" / "libc.so.6"]  # fmt: skip
    out = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env={**os.environ, "LD_SHOW_AUXV": "1"})
    hwcap = next(line.split(":", 1)[1].split() for line in out.stdout.splitlines() if line.startswith("AT_HWCAP:"))
    if arch == "aarch64":
        names = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc "
                 "dcpop sha3 sm3 sm4 asimddp sha512 sve").split()  # fmt: skip
        mask = int(hwcap[0], 16)
        hwcap = [n for i, n in enumerate(names) if mask >> i & 1]
    dst.write_text("processor\t: 0\nFeatures\t: " + " ".join(hwcap) + "\n")
    return dst


def test_armv7_preflight_refuses_an_emulated_cortex_a9_and_passes_a_cortex_a15(boards, armv7_kit, tmp_path):
    a9 = emulated_cpuinfo(boards, "arm", "cortex-a9", tmp_path / "a9")
    assert "neon" in a9.read_text() and "vfpv4" not in a9.read_text()
    r = sh(armv7_kit / "preflight.sh", PREFLIGHT_CPUINFO=str(a9))
    assert r.returncode == 1 and "lacks what model.vmfb was compiled for (armv7, cpu cortex-a15): vfp4" in r.stderr
    a15 = emulated_cpuinfo(boards, "arm", "cortex-a15", tmp_path / "a15")
    r = sh(armv7_kit / "preflight.sh", PREFLIGHT_CPUINFO=str(a15), IREE_RUN_MODULE=str(tmp_path / "none"))
    assert "preflight: CPU ok (armv7: neon vfp4)" in r.stdout and "files ok" in r.stdout
    assert r.returncode == 1 and "build one with scripts/build-board-runtime.sh --target armv7" in r.stderr


def test_aarch64_kit_passes_preflight_and_classifies_under_qemu(boards, aarch64_bench, host_bench, tmp_path):
    from explorer.deploy.iree import IreeModule

    kit = unpack(aarch64_bench, tmp_path)
    qemu = f"{boards / 'qemu' / 'qemu-aarch64-static'} -cpu cortex-a53 -L {boards / 'arm64'} "
    cpuinfo = emulated_cpuinfo(boards, "aarch64", "cortex-a53", tmp_path / "a53")
    r = sh(
        kit / "preflight.sh",
        PREFLIGHT_CPUINFO=str(cpuinfo),
        IREE_RUN_MODULE=qemu + str(kit / "bin" / "iree-run-module"),
    )
    assert r.returncode == 0 and "CPU ok (aarch64: fp-armv8 neon)" in r.stdout, r.stdout + r.stderr
    r = sh(kit / "run.sh", "sample_image.npy", "101010", IREE_RUN_MODULE=qemu + str(kit / "bin" / "iree-run-module"))
    expected = int(
        np.argmax(
            IreeModule(host_bench / "model.vmfb")(
                np.load(kit / "sample_image.npy"), np.array([1, 0, 1, 0, 1, 0], dtype=np.int32)
            )
        )
    )
    assert r.returncode == 0 and r.stdout.startswith(f"skip=101010 class {expected} ("), r.stdout + r.stderr


def test_armv7_kit_with_a_built_runtime_runs_under_qemu(boards, study, host_bench, fmnist, tmp_path_factory, tmp_path):
    """With EXPLORER_ARMV7_RUNTIME=DIR (scripts/build-board-runtime.sh --target armv7 output): the
    kit ships that runtime, gives the host's logits on a Cortex-A15, and a Cortex-A9 dies of SIGILL,
    which is what preflight.sh prevents."""
    runtime = os.environ.get("EXPLORER_ARMV7_RUNTIME")
    if not runtime:
        pytest.skip("no armv7 runtime given (EXPLORER_ARMV7_RUNTIME=DIR from scripts/build-board-runtime.sh)")
    from explorer.data import normalize
    from explorer.deploy.iree import IreeModule

    kit = unpack(export_kit(tmp_path_factory, study, "armv7", "--runtime", runtime), tmp_path)
    host = IreeModule(host_bench / "model.vmfb")
    images = normalize(fmnist.test_x[:3], fmnist.mean, fmnist.std).permute(0, 2, 3, 1).contiguous().numpy()

    def run(cpu: str, image_file: Path, bits: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(boards / "qemu" / "qemu-arm-static"), "-cpu", cpu, "-L", str(boards / "armhf"),
             str(kit / "bin" / "iree-run-module"), "--module=model.vmfb", "--device=local-sync", "--function=forward",
             f"--input=@{image_file}", f"--input=6xi32={','.join(bits)}", f"--output=@{tmp_path / 'out.npy'}"],
            capture_output=True, text=True, timeout=120, cwd=kit,
        )  # fmt: skip

    worst = 0.0
    for k, image in enumerate(images):
        np.save(tmp_path / f"img{k}.npy", image[None])
        for row in read_bundle(kit).rows:
            r = run("cortex-a15", tmp_path / f"img{k}.npy", str(row.config))
            assert r.returncode == 0, r.stderr
            board, ours = np.load(tmp_path / "out.npy"), host(image[None], np.array(row.config.bits, dtype=np.int32))
            assert int(np.argmax(board)) == int(np.argmax(ours))
            worst = max(worst, float(np.abs(board - ours).max()))
    assert worst <= 1e-5, worst
    assert run("cortex-a9", tmp_path / "img0.npy", "111111").returncode == -4  # SIGILL: +vfp4 on a Cortex-A9


@pytest.mark.parametrize("arch", ["tv-resnet18", "tv-mobilenet_v2"])
def test_torchvision_layouts_give_pytorchs_logits_on_both_boards_under_qemu(boards, arch, tmp_path):
    """With EXPLORER_ARMV7_RUNTIME (as above): a torchvision-layout module (data tiling on, a fast
    path) compiled for aarch64 and armv7 runs under qemu-user on both and gives PyTorch's logits, on
    its fast path and per gate."""
    runtime = os.environ.get("EXPLORER_ARMV7_RUNTIME")
    if not runtime:
        pytest.skip("no armv7 runtime given (EXPLORER_ARMV7_RUNTIME=DIR from scripts/build-board-runtime.sh)")
    import torch

    from explorer.checkpoint import load_checkpoint, save_checkpoint
    from explorer.deploy.iree import compile_checkpoint
    from explorer.models import create_model

    torch.manual_seed(0)
    model = create_model(arch, in_channels=3, num_classes=10).eval()
    meta = {"arch": arch, "in_channels": 3, "num_classes": 10, "dataset": {"name": "npz", "image_size": [32, 32]}}
    ckpt = load_checkpoint(save_checkpoint(tmp_path / arch, model, meta))
    g = ckpt.num_gates
    fast, other = "0" * g, ("10" * g)[:g]
    x = torch.randn(1, 3, 32, 32)
    np.save(tmp_path / "x.npy", x.permute(0, 2, 3, 1).contiguous().numpy())
    runners = {
        "aarch64": [str(boards / "qemu" / "qemu-aarch64-static"), "-L", str(boards / "arm64"),
                    str(boards / "iree-aarch64" / "iree-run-module")],
        "armv7": [str(boards / "qemu" / "qemu-arm-static"), "-cpu", "cortex-a15", "-L", str(boards / "armhf"),
                  str(Path(runtime) / "iree-run-module")],
    }  # fmt: skip
    for target, runner in runners.items():
        module = compile_checkpoint(ckpt, target, fast_paths=[fast], out=tmp_path / f"{target}.vmfb")
        for bits in (fast, other):
            r = subprocess.run(
                [*runner, f"--module={module}", "--device=local-sync", "--function=forward",
                 f"--input=@{tmp_path / 'x.npy'}", f"--input={g}xi32={','.join(bits)}", f"--output=@{tmp_path / 'y.npy'}"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            with torch.no_grad():
                want = ckpt.model(x, bits).numpy()
            got = np.load(tmp_path / "y.npy")
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max())), (target, bits)
