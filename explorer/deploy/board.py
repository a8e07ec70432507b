"""What a board needs beside the module: the scripts of a bundle (bench.sh, run.sh, preflight.sh),
the CPU features a compiled module requires, and the kit archive (`explorer export --kit`).

The scripts are POSIX sh (a board has busybox or dash, no Python); each fails with one message and
a non-zero exit status instead of writing wrong results.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

from explorer.deploy.iree import DeployError, iree_revision, runtime_requirement

# An LLVM CPU feature a module is compiled with -> the /proc/cpuinfo flags that provide it (any
# one of them). armv7 names are the 32-bit kernel's; "asimd" covers them on a 64-bit ARM kernel
# (ARMv8 has NEON and VFPv4 in AArch32 too). Features not listed here are not checked.
CPUINFO_FLAGS = {
    "arm": {
        "neon": ("neon", "asimd"), "vfp2": ("vfp", "fp"), "vfp3": ("vfpv3", "asimd"), "vfp4": ("vfpv4", "asimd"),
        "d32": ("vfpd32", "asimd"), "hwdiv-arm": ("idiva", "asimd"), "fp16": ("half", "asimd"),
    },
    "aarch64": {
        "fp-armv8": ("fp",), "neon": ("asimd",), "crc": ("crc32",), "aes": ("aes",), "sha2": ("sha2",),
        "lse": ("atomics",), "rdm": ("asimdrdm",), "dotprod": ("asimddp",), "fullfp16": ("fphp",),
        "i8mm": ("i8mm",), "bf16": ("bf16",), "sve": ("sve",), "sve2": ("sve2",), "sme": ("sme",),
    },
    "x86": {
        **{f: (f,) for f in ("sse", "sse2", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2", "popcnt", "movbe",
                              "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512bf16", "avx512fp16")},
        "sse3": ("pni",), "sse4.1": ("sse4_1",), "sse4.2": ("sse4_2",), "bmi": ("bmi1",), "lzcnt": ("abm",),
        "avx512vnni": ("avx512_vnni",), "avx512ifma": ("avx512ifma",), "avx512vbmi": ("avx512vbmi",),
        "avxvnni": ("avx_vnni",),
    },
}  # fmt: skip
# what every module for the architecture needs even when its feature string does not say so
BASELINE = {"aarch64": ("fp-armv8", "neon"), "arm": (), "x86": ()}
_TARGET_ATTRS = re.compile(rb'cpu = "([^"]*)", cpu_features = "([^"]*)"')


def arch_of(triple: str) -> str:
    """`arm`, `aarch64` or `x86` for an LLVM target triple."""
    head = triple.split("-", 1)[0]
    if head.startswith(("aarch64", "arm64")):
        return "aarch64"
    if head.startswith(("arm", "thumb")):
        return "arm"
    if head in ("x86_64", "i386", "i686"):
        return "x86"
    raise ValueError(f"no CPU-feature table for target triple {triple!r}")


def module_cpu(vmfb: bytes) -> tuple[str, list[str]]:
    """(CPU name, enabled LLVM features) of the executables inside a compiled .vmfb, read from the
    target attributes IREE stores in it: what the module was actually compiled for (for `host`,
    this machine's CPU as LLVM saw it)."""
    found = _TARGET_ATTRS.findall(vmfb)
    if not found:
        raise ValueError("the module carries no llvm-cpu target attributes (not an IREE llvm-cpu .vmfb?)")
    cpus = {cpu.decode() for cpu, _ in found}
    features = {f[1:] for _, fs in found for f in fs.decode().split(",") if f.startswith("+")}
    return ",".join(sorted(cpus)), sorted(features)


def required_cpuinfo(triple: str, features: list[str]) -> dict[str, tuple[str, ...]]:
    """LLVM feature -> the /proc/cpuinfo flags that satisfy it, for the features a board must have."""
    arch = arch_of(triple)
    table = CPUINFO_FLAGS[arch]
    wanted = dict.fromkeys([*BASELINE[arch], *features])
    return {f: table[f] for f in wanted if f in table}


def sh_words(words) -> str:
    """Words for a POSIX sh script, each single-quoted."""
    return " ".join("'" + str(w).replace("'", "'\\''") + "'" for w in words)


BENCH_SCRIPT = r"""#!/bin/sh
# Measure every configuration of pareto.json on this board with IREE's own benchmark tool and write
# latency.csv (config,latency_ms,latency_p95_ms: median and 95th percentile, as numpy computes
# them, of @REPS@ single inferences per configuration after a warm-up); then, on the machine with
# the database:
#   explorer import-latency --db URL --study @STUDY@ --csv latency.csv --device NAME
# IREE_BENCHMARK_MODULE: the tool, default ./bin/iree-benchmark-module (a kit) or the one on PATH
# (pip install @RUNTIME_PIP@); it may include a launcher, e.g. "qemu-aarch64-static -L ROOT TOOL".
# BENCH_REPETITIONS: inferences per configuration. Any failure: a message, exit status 1, no CSV.
set -eu
cd "$(dirname "$0")"
die() { echo "bench.sh: $*" >&2; rm -f latency.csv.part bench.out bench.err bench.samples; exit 1; }
default=iree-benchmark-module
if [ -x bin/iree-benchmark-module ]; then default=./bin/iree-benchmark-module; fi
TOOL=${IREE_BENCHMARK_MODULE:-$default}
REPS=${BENCH_REPETITIONS:-@REPS@}
case $REPS in '' | *[!0-9]*) die "BENCH_REPETITIONS=$REPS is not a whole number" ;; esac
[ "$REPS" -ge 2 ] || die "BENCH_REPETITIONS=$REPS: at least 2 inferences are needed for a percentile"
set -- $TOOL
command -v "$1" >/dev/null 2>&1 \
  || die "$1 not found: pip install @RUNTIME_PIP@ (its iree-benchmark-module), or set IREE_BENCHMARK_MODULE"
$TOOL --help >/dev/null 2>&1 || die "$TOOL cannot run on this machine (a tool built for another CPU?)"
echo "config,latency_ms,latency_p95_ms" >latency.csv.part
for cfg in @CONFIGS@; do
  skip=$(echo "$cfg" | sed 's/./&,/g; s/,$//')
  # one inference per repetition (min_time=1x): every row of the tool's CSV is one latency sample
  if ! $TOOL --module=model.vmfb --device=local-sync --device_allocator=caching --function=@ENTRY@ \
    --input=@IMAGE_TYPE@=0 --input=@GATES@xi32=$skip @BN_ARG@--benchmark_repetitions="$REPS" \
    --benchmark_min_time=1x --benchmark_min_warmup_time=0.1 --benchmark_format=csv >bench.out 2>bench.err; then
    tail -n 5 bench.err >&2
    die "$TOOL failed on configuration $cfg (its last messages are above)"
  fi
  # per-repetition rows (not _mean/_median/...) in ms, sorted; then linear-interpolation percentiles
  awk -F, 'NR > 1 && $1 ~ /real_time"$/ {
      if ($9 == "true" || $3 == "") { print "error: " $10 > "/dev/stderr"; exit 1 }
      f = ($5 == "ns") ? 1e-6 : ($5 == "us") ? 1e-3 : ($5 == "s") ? 1e3 : 1
      printf "%.9f\n", $3 * f }' bench.out >bench.samples \
    || die "the benchmark of configuration $cfg reported an error"
  sort -n bench.samples >bench.out
  row=$(awk -v cfg="$cfg" -v reps="$REPS" '{ x[NR] = $1 }
    function q(p,  h, i) { h = p * (NR - 1) + 1; i = int(h); return (i >= NR) ? x[NR] : x[i] + (h - i) * (x[i + 1] - x[i]) }
    END { if (NR != reps || x[1] <= 0) exit 1; printf "%s,%.6f,%.6f\n", cfg, q(0.5), q(0.95) }' bench.out) \
    || die "configuration $cfg: expected $REPS positive latencies from $TOOL"
  echo "$row" >>latency.csv.part
  echo "$row"
done
rm -f bench.out bench.err bench.samples
mv latency.csv.part latency.csv
echo "wrote latency.csv"
"""


def bench_script(
    study: str, configs: list[str], entry: str, image_type: str, gates: int, bn_values: int, runtime_pip: str,
    reps: int = 100,
) -> str:  # fmt: skip
    """bench.sh for a bundle: `configs` (bit strings) measured in order, `reps` inferences each."""
    for c in configs:
        if not re.fullmatch(r"[01]+", c):
            raise ValueError(f"configuration {c!r} is not a bit string")
    values = {
        "@STUDY@": sh_words([study]), "@CONFIGS@": " ".join(configs), "@ENTRY@": entry, "@IMAGE_TYPE@": image_type,
        "@GATES@": str(gates), "@REPS@": str(reps), "@RUNTIME_PIP@": runtime_pip,
        # the values do not change the work done
        "@BN_ARG@": f"--input={bn_values}xf32=1 " if bn_values else "",
    }  # fmt: skip
    text = BENCH_SCRIPT
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


RUN_SCRIPT = r"""#!/bin/sh
# Classify one image on this board with IREE's own runtime tool:
#   sh run.sh [IMAGE.npy] [SKIP]
# IMAGE: one normalised NHWC float32 image, shape @SHAPE@ ((pixel / 255 - mean) / std, see
# manifest.json; default sample_image.npy). SKIP: one bit per gate in gate order, 1 = execute
# (default @DEFAULT_SKIP@, the full network). IREE_RUN_MODULE: the tool, default
# ./bin/iree-run-module (a kit) or the one on PATH (pip install @RUNTIME_PIP@); it may include a
# launcher, e.g. "qemu-aarch64-static -L ROOT TOOL".
set -eu
die() { echo "run.sh: $*" >&2; exit 1; }
image=${1:-sample_image.npy}
skip=${2:-@DEFAULT_SKIP@}
case $image in /*) ;; *) [ "$image" = sample_image.npy ] || image="$PWD/$image" ;; esac
cd "$(dirname "$0")"
[ -f "$image" ] || die "no image $image (a .npy of shape @SHAPE@, float32)"
case $skip in '' | *[!01]*) die "SKIP must be bits (1 = execute a gate), e.g. @DEFAULT_SKIP@" ;; esac
[ ${#skip} -eq @GATES@ ] || die "SKIP $skip has ${#skip} bits; the module has @GATES@ gates"
bn=""
if [ -d bn ]; then
  [ -f "bn/$skip.npy" ] || die "skip vector $skip is not a row of pareto.json (no BatchNorm statistics): use one of $(ls bn | sed 's/.npy//' | tr '\n' ' ')"
  bn="--input=@bn/$skip.npy"
fi
default=iree-run-module
if [ -x bin/iree-run-module ]; then default=./bin/iree-run-module; fi
TOOL=${IREE_RUN_MODULE:-$default}
set -- $TOOL
command -v "$1" >/dev/null 2>&1 || die "$1 not found: pip install @RUNTIME_PIP@ (its iree-run-module), or set IREE_RUN_MODULE"
bits=$(echo "$skip" | sed 's/./&,/g; s/,$//')
out=$($TOOL --module=model.vmfb --device=local-sync --function=@ENTRY@ --input=@"$image" --input=@GATES@xi32="$bits" $bn 2>&1) \
  || { echo "$out" >&2; die "$TOOL failed (its messages are above)"; }
echo "$out" | awk -v skip="$skip" -v names=@CLASSES@ '/xf32=\[/ {
    sub(/.*=\[/, ""); sub(/\].*/, ""); n = split($0, v, " "); best = 1
    for (i = 2; i <= n; i++) if (v[i] + 0 > v[best] + 0) best = i
    split(names, cls, "|"); printf "skip=%s class %d%s\nlogits %s\n", skip, best - 1, (cls[best] != "") ? " (" cls[best] ")" : "", $0
    found = 1 }
  END { if (!found) { print "run.sh: no logits in the tool output" > "/dev/stderr"; exit 1 } }'
"""

PREFLIGHT_SCRIPT = r"""#!/bin/sh
# Before running model.vmfb on this board: does the CPU have every feature the module was compiled
# for (@TARGET@, cpu @CPU@: @FEATURES@)? A missing one would crash with an illegal instruction, so
# refuse instead. Then: are the files intact (SHA256SUMS), and does the runtime load the module and
# run one inference? PREFLIGHT_CPUINFO=FILE reads FILE instead of /proc/cpuinfo; IREE_RUN_MODULE as
# for run.sh.
set -eu
die() { echo "preflight: $*" >&2; exit 1; }
cpuinfo=${PREFLIGHT_CPUINFO:-/proc/cpuinfo}
case $cpuinfo in /*) ;; *) cpuinfo="$PWD/$cpuinfo" ;; esac
cd "$(dirname "$0")"
[ -r "$cpuinfo" ] || die "cannot read $cpuinfo"
have=" $(grep -i -E '^(flags|features)[[:space:]]*:' "$cpuinfo" | head -n 1 | cut -d: -f2 | tr '\t' ' ') "
needs='@NEEDS@'
missing=""
for need in $needs; do
  ok=""
  for flag in $(echo "${need#*=}" | tr / ' '); do
    case $have in *" $flag "*) ok=1 ;; esac
  done
  [ -n "$ok" ] || missing="$missing${missing:+, }${need%%=*} ($(echo "${need#*=}" | sed 's#/# or #g'))"
done
[ -z "$missing" ] || die "this CPU lacks what model.vmfb was compiled for (@TARGET@, cpu @CPU@): $missing, by $cpuinfo. The module would crash here with an illegal instruction; export the study for this board's CPU instead (explorer export --target ...)."
echo "preflight: CPU ok (@TARGET@: @CHECKED@)"
if command -v sha256sum >/dev/null 2>&1; then
  sha256sum -c SHA256SUMS >/dev/null 2>&1 || die "files differ from SHA256SUMS (corrupt copy?): $(sha256sum -c SHA256SUMS 2>/dev/null | grep -v ': OK$' | tr '\n' ' ')"
  echo "preflight: files ok"
fi
default=iree-run-module
if [ -x bin/iree-run-module ]; then default=./bin/iree-run-module; fi
TOOL=${IREE_RUN_MODULE:-$default}
set -- $TOOL
command -v "$1" >/dev/null 2>&1 || die "no IREE runtime: $1 not found. @GET_RUNTIME@"
bn=""
if [ -d bn ]; then bn="--input=@bn/@FULL@.npy"; fi
out=$($TOOL --module=model.vmfb --device=local-sync --function=@ENTRY@ --input=@IMAGE_TYPE@=0 \
  --input=@GATES@xi32=@FULL_BITS@ $bn 2>&1) || { echo "$out" >&2; die "$TOOL cannot run the module (its messages are above)"; }
echo "preflight: $TOOL runs model.vmfb: ok"
"""


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def run_script(entry: str, shape: list[int], gates: int, classes: list[str], runtime_pip: str) -> str:
    """run.sh: classify an image (.npy) with a skip vector, print the class and the logits."""
    return _fill(RUN_SCRIPT, {
        "@SHAPE@": "x".join(map(str, shape)), "@DEFAULT_SKIP@": "1" * gates, "@GATES@": str(gates),
        "@ENTRY@": entry, "@RUNTIME_PIP@": runtime_pip, "@CLASSES@": sh_words(["|".join(classes)]),
    })  # fmt: skip


def preflight_script(
    target: str, cpu: str, needs: dict[str, tuple[str, ...]], entry: str, image_type: str, gates: int, get_runtime: str
) -> str:
    """preflight.sh: refuse on a CPU that lacks a feature in `needs` (LLVM feature -> cpuinfo flags)."""
    return _fill(PREFLIGHT_SCRIPT, {
        "@TARGET@": target, "@CPU@": cpu, "@FEATURES@": ", ".join(needs) or "none checked",
        "@CHECKED@": " ".join(needs) or "nothing to check",
        "@NEEDS@": " ".join(f"{f}={'/'.join(flags)}" for f, flags in needs.items()),
        "@ENTRY@": entry, "@IMAGE_TYPE@": image_type, "@GATES@": str(gates), "@FULL@": "1" * gates,
        "@FULL_BITS@": ",".join("1" * gates), "@GET_RUNTIME@": get_runtime,
    })  # fmt: skip


TOOLS = ("iree-run-module", "iree-benchmark-module")
ELF_MACHINE = {"x86": 62, "aarch64": 183, "arm": 40}  # e_machine of the tools a target's board runs


def boards_dir() -> Path:
    """The emulator and board-runtime cache (scripts/install-board-kit.sh fills it)."""
    env = os.environ.get("EXPLORER_BOARDS")
    return Path(env) if env else Path.home() / ".cache" / "skip-explorer" / "boards"


def elf_machine(path: Path) -> int | None:
    head = path.read_bytes()[:20] if path.is_file() else b""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0]


def check_tools(folder: Path, triple: str) -> Path:
    """`folder` holds IREE's iree-run-module and iree-benchmark-module built for the target's CPU."""
    arch = arch_of(triple)
    for tool in TOOLS:
        machine = elf_machine(folder / tool)
        if machine is None:
            raise DeployError(f"{folder / tool} is missing or not an ELF program: the kit needs {', '.join(TOOLS)}")
        if machine != ELF_MACHINE[arch]:
            raise DeployError(
                f"{folder / tool} is built for another CPU (ELF machine {machine}); the module is for {triple}"
            )
    return folder


def host_tools() -> Path:
    """The installed iree-base-runtime's own tools (this machine's architecture)."""
    import iree.runtime

    return Path(iree.runtime.__file__).parent.parent / "_runtime_libs"


def aarch64_tools() -> Path:
    """IREE's aarch64 tools from the manylinux aarch64 iree-base-runtime wheel of our version,
    unpacked into the board cache (downloaded once with pip)."""
    folder = boards_dir() / "iree-aarch64"
    stamp = folder / "VERSION"  # the tools must be of the compiler's version, not an earlier one
    if (
        all((folder / t).is_file() for t in TOOLS)
        and stamp.is_file()
        and stamp.read_text().strip() == runtime_requirement()
    ):
        return folder
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        py = f"{sys.version_info.major}.{sys.version_info.minor}"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "--platform", "manylinux_2_28_aarch64", "--python-version", py, "--dest", tmp, runtime_requirement()],
            capture_output=True, text=True,
        )  # fmt: skip
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode or not wheels:
            raise DeployError(
                f"cannot download the aarch64 {runtime_requirement()} wheel ({proc.stderr.strip()[-300:]}); "
                "pass --runtime DIR with its iree-run-module and iree-benchmark-module"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as whl:
            for tool in TOOLS:
                (folder / tool).write_bytes(whl.read(f"iree/_runtime_libs/{tool}"))
                (folder / tool).chmod(0o755)
        stamp.write_text(runtime_requirement() + "\n")
    return folder


def kit_tools(target: str, triple: str, given: Path | None) -> Path | None:
    """The runtime tools to ship for `target`: `given`, else the ones we have (host and x86-64
    targets on an x86-64 machine: the installed runtime's; aarch64: the wheel's); None for armv7
    without `given` (no runtime is published: scripts/build-board-runtime.sh builds one)."""
    if given is not None:
        return check_tools(Path(given), triple)
    if arch_of(triple) == "aarch64":
        return check_tools(aarch64_tools(), triple)
    here = host_tools()
    if elf_machine(here / TOOLS[0]) == ELF_MACHINE.get(arch_of(triple)):
        return check_tools(here, triple)
    return None


def get_runtime_hint(triple: str) -> str:
    if arch_of(triple) == "arm":
        rev = iree_revision() or "the matching release"
        return (f"No IREE runtime is published for armv7: build one with scripts/build-board-runtime.sh "
                f"--target armv7 --iree-src DIR (IREE at {rev}) and copy it to ./bin")  # fmt: skip
    return f"pip install {runtime_requirement()} (its tools), or copy iree-run-module to ./bin"


def write_sums(folder: Path) -> Path:
    """SHA256SUMS (sha256sum -c format) of every file in the kit folder."""
    from explorer.checkpoint import sha256_of

    names = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"
    )
    (folder / "SHA256SUMS").write_text("".join(f"{sha256_of(folder / n)}  {n}\n" for n in names))
    return folder / "SHA256SUMS"


def archive(folder: Path) -> Path:
    """FOLDER.tar.gz beside the folder, its files under FOLDER/ with their permissions."""
    out = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return out


def copy_tools(src: Path, folder: Path) -> dict[str, str]:
    (folder / "bin").mkdir(exist_ok=True)
    for tool in TOOLS:
        shutil.copy(src / tool, folder / "bin" / tool)
        (folder / "bin" / tool).chmod(0o755)
    return {f"tool_{t.replace('-', '_')}": f"bin/{t}" for t in TOOLS}
