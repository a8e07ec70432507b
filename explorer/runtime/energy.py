"""Energy of a run: an estimate from a board's power profile, measured per-configuration energy
imported from a meter, or the RAPL counters of the machine running `explorer serve`.

The estimate is energy = P_busy × busy time + P_idle × idle time (J = W × s). Every output that
uses it says so. Inferences per watt, as the paper reports them: processed inferences divided by
the run's mean power (energy / duration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.errors import WorkloadError


@dataclass(frozen=True)
class PowerProfile:
    name: str
    busy_w: float  # whole board, one inference running (W)
    idle_w: float  # whole board, waiting for a request (W)
    source: str


PROFILES: dict[str, PowerProfile] = {
    "odroid-xu4": PowerProfile(
        "odroid-xu4",
        busy_w=6.08,
        idle_w=3.89,
        source=(
            "Exynos 5422 (ODROID-XU4's SoC) measured at the wall on an ODROID-HC2 by T. Kaiser, "
            "sbc-bench Efficiency_Graphing.md: idle 3.89 W; the four A15 cores busy at 2.0 GHz "
            "12.64 W. Busy = idle + one quarter of the A15 cluster's increment (batch-1 inference "
            "runs on one core): 3.89 + (12.64 - 3.89)/4 = 6.08 W. The HC2's USB-SATA bridge makes "
            "the idle figure an upper bound for an XU4."
        ),
    ),
}


def get_profile(name: str | None, busy_w: float | None = None, idle_w: float | None = None) -> PowerProfile:
    """A named profile, or a custom one from --busy-w/--idle-w."""
    if busy_w is not None or idle_w is not None:
        if busy_w is None or idle_w is None or busy_w < 0 or idle_w < 0:
            raise WorkloadError("a custom power profile needs both --busy-w and --idle-w, non-negative (W)")
        return PowerProfile("custom", busy_w, idle_w, "given on the command line")
    name = name or "odroid-xu4"
    if name not in PROFILES:
        raise WorkloadError(
            f"unknown power profile {name!r}; choose one of: {', '.join(PROFILES)} (or --busy-w/--idle-w)"
        )
    return PROFILES[name]


def estimate_energy_j(busy_ms: float, idle_ms: float, profile: PowerProfile) -> float:
    """P_busy × busy + P_idle × idle, in J (times in ms)."""
    return (profile.busy_w * busy_ms + profile.idle_w * idle_ms) / 1000.0


def inferences_per_watt(processed: int, energy_j: float, duration_ms: float) -> float:
    """Processed inferences per watt of mean power over the run (the paper's inferences/W)."""
    if energy_j <= 0 or duration_ms <= 0:
        return float("nan")
    return processed / (energy_j / (duration_ms / 1000.0))


class Rapl:
    """Package energy from Linux powercap (Intel/AMD RAPL), summed over packages, in J."""

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        self.zones = sorted(p for p in Path(root).glob("intel-rapl:*") if p.name.count(":") == 1)

    @property
    def available(self) -> bool:
        return bool(self.zones) and all((z / "energy_uj").is_file() for z in self.zones)

    def read_uj(self) -> list[int]:
        try:
            return [int((z / "energy_uj").read_text()) for z in self.zones]
        except (OSError, ValueError) as e:
            raise WorkloadError(
                f"cannot read RAPL energy counters under {self.zones[0].parent} ({e}): run as root?"
            ) from None

    def joules_between(self, before: list[int], after: list[int]) -> float:
        """Energy between two readings, allowing each counter to wrap once."""
        total = 0
        for z, a, b in zip(self.zones, before, after):
            d = b - a
            if d < 0:
                d += int((z / "max_energy_range_uj").read_text())
            total += d
        return total / 1e6
