"""Compile a checkpoint into one IREE module (.vmfb) per target, cached; load and run it in-process.

Targets: `host` (x86-64 or whatever this machine is, with its CPU features), `aarch64`
(aarch64-unknown-linux-gnu, generic ARMv8-A), `armv7` (armv7a-unknown-linux-gnueabihf for the
Cortex-A15 with NEON of the Odroid XU4). Cross-compiled modules cannot run here.

Compiled modules are cached under $EXPLORER_CACHE (default ~/.cache/skip-explorer/iree) by
(weights sha256, target, compiler flags, IREE version, emitter version, batch, static skip).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.checkpoint import Checkpoint
from explorer.deploy.mlir import ENTRY, resnet_to_mlir
from explorer.errors import ExplorerError

EMITTER_VERSION = "5"  # 2: convolutions as im2col + matmul; 3: gate bits read before the first dispatch; 4: read from the caller's buffer on the host; 5: im2col as a vectorised gather with the padding folded in


class DeployError(ExplorerError):
    """Compiling or running an IREE module failed."""


@dataclass(frozen=True)
class Target:
    name: str
    triple: str
    flags: tuple[str, ...]
    runs_here: bool


def _host_triple() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64-unknown-linux-gnu", "amd64": "x86_64-unknown-linux-gnu",
            "aarch64": "aarch64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}.get(machine, machine)  # fmt: skip


# peel: vector loops over widths that are not a multiple of the tile (14, 7) stay vectorised.
# debug-symbols=false: IREE embeds DWARF by default and then gives the library query function an
# unwind table; on armv7 (ARM EHABI) that entry references the personality routine
# __aeabi_unwind_cpp_pr0, an imported symbol, and IREE's embedded-ELF loader refuses any import
# ("ELF imports one or more symbols"). Without debug symbols every function is nounwind
# (`.cantunwind`), the module imports nothing on any target, and it is smaller; the code is the same.
COMMON = (
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-vector-pproc-strategy=peel",
    "--iree-llvmcpu-debug-symbols=false",
)
TARGETS = {
    "host": Target("host", _host_triple(), (*COMMON, "--iree-llvmcpu-target-cpu=host"), True),
    # portable x86-64 bundles, for a machine other than the one compiling (host bakes in its CPU)
    "x86-64-v3": Target(
        "x86-64-v3",
        "x86_64-unknown-linux-gnu",
        (*COMMON, "--iree-llvmcpu-target-triple=x86_64-unknown-linux-gnu", "--iree-llvmcpu-target-cpu=x86-64-v3"),
        False,
    ),
    "x86-64-v4": Target(
        "x86-64-v4",
        "x86_64-unknown-linux-gnu",
        (*COMMON, "--iree-llvmcpu-target-triple=x86_64-unknown-linux-gnu", "--iree-llvmcpu-target-cpu=x86-64-v4"),
        False,
    ),
    "aarch64": Target(
        "aarch64",
        "aarch64-unknown-linux-gnu",
        (*COMMON, "--iree-llvmcpu-target-triple=aarch64-unknown-linux-gnu", "--iree-llvmcpu-target-cpu=generic"),
        False,
    ),
    "armv7": Target(
        "armv7",
        "armv7a-unknown-linux-gnueabihf",
        (
            *COMMON,
            "--iree-llvmcpu-target-triple=armv7a-unknown-linux-gnueabihf",
            "--iree-llvmcpu-target-cpu=cortex-a15",
            "--iree-llvmcpu-target-cpu-features=+neon,+vfp4",
        ),
        False,
    ),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise DeployError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


def iree_version() -> str:
    try:
        from iree.compiler import version

        return str(version.VERSION)
    except Exception:  # noqa: BLE001  (older wheels lack the module)
        from importlib.metadata import version as dist_version

        return dist_version("iree-base-compiler")


def iree_revision() -> str | None:
    """IREE's source revision (git commit) the installed compiler was built from, if it says."""
    try:
        from iree.compiler import version

        return version.REVISIONS.get("IREE")
    except Exception:  # noqa: BLE001
        return None


def runtime_requirement() -> str:
    """The pip requirement of IREE's runtime that loads this compiler's modules (the compiler's own
    package version: `iree_version()` is the build string, e.g. 3.13.0rc20261016, not pip-installable)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    for dist in ("iree-base-compiler", "iree-base-runtime"):
        try:
            return f"iree-base-runtime=={dist_version(dist)}"
        except PackageNotFoundError:
            continue
    return f"iree-base-runtime=={iree_version().split('rc')[0]}"


def cpu_flags() -> list[str]:
    """The host CPU's feature flags (what `host` modules are compiled for)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].split()
    except OSError:
        pass
    return []


def cache_root() -> Path:
    env = os.environ.get("EXPLORER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "skip-explorer" / "iree"


def compile_flags(target: Target, model) -> tuple[str, ...]:
    """iree-compile's flags for `model` on `target`: the target's, plus those chosen per model. IREE's
    data tiling (packed matmul operands) pays off on torchvision's layouts (64–2048 channels; at 64×64
    ResNet-18 19.6 → 13.4 ms, ResNet-50 55.0 → 30.4 ms, MobileNetV2 4.57 → 3.43 ms,
    docs/benchmarks.md) and not on the CIFAR ResNets (16–64 channels: 1.6× slower there)."""
    return (*target.flags, *(("--iree-opt-data-tiling",) if getattr(model, "data_tiling", False) else ()))


def module_key(
    ckpt: Checkpoint,
    target: Target,
    batch: int,
    static_skip: str | None,
    bn_input: bool = False,
    fast_paths: Sequence[str] = (),
) -> str:
    parts = [ckpt.sha256, target.name, target.triple, " ".join(compile_flags(target, ckpt.model)), iree_version(),
             EMITTER_VERSION,
             str(batch), static_skip or "gated"] + (["bn-input"] if bn_input else [])  # fmt: skip
    if fast_paths:
        parts.append("fast-paths " + " ".join(fast_paths))
    if target.name == "host":
        parts.append(" ".join(sorted(cpu_flags())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def compiler_path() -> str:
    """The iree-compile executable: on PATH, else the one of the iree-base-compiler package."""
    exe = shutil.which("iree-compile")
    if exe:
        return exe
    try:
        from iree.compiler.tools.binaries import find_tool

        return find_tool("iree-compile")
    except Exception as e:  # noqa: BLE001
        raise DeployError(f"iree-compile not found ({e}): pip install iree-base-compiler") from None


def compile_checkpoint(
    ckpt: Checkpoint,
    target: str = "host",
    *,
    batch: int = 1,
    static_skip: str | None = None,
    out: Path | None = None,
    cache: bool = True,
    bn_input: bool = False,
    fast_paths: Sequence[str] = (),
) -> Path:
    """Compile `ckpt` for `target`; returns the .vmfb path (the cached file, or `out` if given).

    `bn_input`: the module takes per-configuration BatchNorm scales and shifts as a third input.
    `fast_paths`: configurations (bit strings) compiled as branches of their own that run as fast as
    a static module (see `resnet_to_mlir`); every other skip vector still works, per gate.
    """
    tgt = get_target(target)
    model = ckpt.model.eval()
    fast_paths = list(dict.fromkeys(fast_paths))
    key = module_key(ckpt, tgt, batch, static_skip, bn_input, fast_paths)
    tag = ("-bn" if bn_input else "") + (f"-fp{len(fast_paths)}" if fast_paths else "")
    cached = cache_root() / f"{ckpt.arch}-{tgt.name}{tag}-{key}.vmfb"
    if not (cache and cached.is_file()):
        h, w = ckpt.meta["dataset"]["image_size"]
        bits = [int(c) for c in static_skip] if static_skip is not None else None
        text = resnet_to_mlir(
            model, (h, w), batch=batch, static_skip=bits, bn_input=bn_input, fast_paths=[list(p) for p in fast_paths]
        )
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "model.mlir"
            src.write_text(text)
            dst = Path(tmp) / "model.vmfb"
            proc = subprocess.run(
                [compiler_path(), str(src), *compile_flags(tgt, model), "-o", str(dst)], capture_output=True, text=True
            )
            if proc.returncode:
                raise DeployError(f"iree-compile failed for target {tgt.name}:\n{proc.stderr[-4000:]}")
            tmp_cached = cached.with_suffix(".vmfb.tmp")
            shutil.copy(dst, tmp_cached)
            os.replace(tmp_cached, cached)
    if out is None:
        return cached
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cached, out)
    return out


# The gated module allocates the transient buffers of every executed block on its own (one
# allocation per region between gates); IREE's caching allocator reuses them across calls instead
# of going back to malloc/free each time. Modules without gates gain little from it.
ALLOCATORS = ["caching"]


class IreeModule:
    """A loaded .vmfb: `module(image_nhwc, skip) -> logits` (numpy), on one device (local-sync: 1 thread),
    with IREE's caching allocator (the same as `--device_allocator=caching` for IREE's tools)."""

    def __init__(
        self, vmfb: Path, device: str = "local-sync", function: str = ENTRY, allocators: list[str] | None = ALLOCATORS
    ):
        """`allocators`: IREE allocator specs layered on the device's own (None: the device's alone)."""
        import iree.runtime as rt

        data = Path(vmfb).read_bytes()
        try:
            hal_device = rt.get_driver(device).create_default_device(allocators=allocators)
            self._ctx = rt.SystemContext(config=rt.Config(device=hal_device))
            self._ctx.add_vm_module(rt.VmModule.copy_buffer(self._ctx.instance, data))
            self._fn = self._ctx.modules.module[function]
        except (RuntimeError, ValueError, KeyError) as e:
            raise DeployError(f"cannot load {vmfb} on device {device} ({e}): compiled for another target?") from None

    def __call__(self, image: np.ndarray, skip: np.ndarray | None = None, bn: np.ndarray | None = None) -> np.ndarray:
        args = (image,) + (() if skip is None else (skip,)) + (() if bn is None else (bn,))
        return self._fn(*args).to_host()

    def skipnet(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A SkipNet module: (logits, executed gates i32[G]) for one image."""
        logits, executed = self._fn(image)
        return logits.to_host(), executed.to_host()
