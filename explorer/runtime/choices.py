"""What a runtime policy chooses from: the bundle's configurations, slowest (no skipping) first."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from explorer.deploy.bundle import Bundle, BundleError
from explorer.skip import SkipConfig


@dataclass(frozen=True)
class Choice:
    """One configuration the controller may run."""

    config: SkipConfig
    accuracy: float  # fraction 0..1 (validation split, as exported)
    latency_ms: float  # median, batch 1
    latency_p95_ms: float | None = None  # spread, where the study measured it
    energy_mj: float | None = None  # measured energy per inference, where imported
    bn: np.ndarray | None = None  # per-configuration BatchNorm input (pareto.bin version 2)


def bundle_choices(bundle: Bundle) -> list[Choice]:
    """The bundle's rows, ordered from least to most skipping (the order Algorithm 1 walks)."""
    extra: dict[str, dict] = {}
    pj = bundle.path / bundle.manifest["files"].get("pareto_json", {}).get("name", "pareto.json")
    if pj.is_file():
        try:
            extra = {e["config"]: e for e in json.loads(pj.read_text())}
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise BundleError(f"{pj} is not the pareto.json `explorer export` writes ({e})") from None
    choices = [
        Choice(
            r.config, r.accuracy, r.latency_ms,
            extra.get(str(r.config), {}).get("latency_p95_ms"),
            extra.get(str(r.config), {}).get("energy_mj"),
            r.bn,
        )
        for r in bundle.rows
    ]  # fmt: skip
    return order_choices(choices)


def order_choices(choices: list[Choice]) -> list[Choice]:
    """Least skipping first: slowest to fastest, most to least accurate on a front."""
    return sorted(choices, key=lambda c: (-c.latency_ms, c.config.num_skipped, -c.accuracy))


def full_choice(choices: list[Choice]) -> Choice:
    """The no-skip configuration (the plain ResNet, the paper's "Original")."""
    for c in choices:
        if c.config.num_skipped == 0:
            return c
    raise BundleError(
        "the bundle has no row for the full model (no block skipped): re-export it with this version "
        "of skip-explorer, which always includes it"
    )


def usable(choices: list[Choice], min_accuracy: float | None) -> list[Choice]:
    """Algorithm 1, line 1: the configurations whose accuracy is at least `min_accuracy`
    (default: 10 percentage points below the full model's), no-skip first."""
    full = full_choice(choices)
    floor = full.accuracy - 0.10 if min_accuracy is None else min_accuracy
    kept = [c for c in order_choices(choices) if c.accuracy >= floor or c is full]
    # the no-skip configuration starts every run, so it leads the list even if a skipping one is slower
    return [full] + [c for c in kept if c is not full]
