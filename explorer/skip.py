"""The skip configuration type: bits ⇄ int ⇄ string, validated against a model's gate count.

A configuration has one bit per skippable block in block order, 1 = execute, 0 = skip. Its
string form is those bits in that order ('110111'); its integer form reads the string as a
binary number (gate 0 is the most significant bit), so sorting by integer is sorting by string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from explorer.errors import ConfigError


@dataclass(frozen=True, order=True)
class SkipConfig:
    """An immutable skip vector; `bits[i]` is 1 if gated block i executes."""

    bits: tuple[int, ...]

    @classmethod
    def parse(cls, value: str | Sequence[int], num_gates: int) -> SkipConfig:
        return cls(tuple(check_skip(value, num_gates)))

    @classmethod
    def from_int(cls, value: int, num_gates: int) -> SkipConfig:
        if not 0 <= value < 2**num_gates:
            raise ConfigError(f"configuration number {value} is outside 0..{2**num_gates - 1} for {num_gates} gates")
        return cls(tuple(int(c) for c in format(value, f"0{num_gates}b")))

    @classmethod
    def all_on(cls, num_gates: int) -> SkipConfig:
        return cls((1,) * num_gates)

    @classmethod
    def skipping(cls, skipped: Iterable[int], num_gates: int) -> SkipConfig:
        """The configuration that skips exactly the gates in `skipped`."""
        bits = [1] * num_gates
        for g in skipped:
            if not 0 <= g < num_gates:
                raise ConfigError(f"gate {g} does not exist (the model has gates 0..{num_gates - 1})")
            bits[g] = 0
        return cls(tuple(bits))

    def __str__(self) -> str:
        return "".join(map(str, self.bits))

    def __len__(self) -> int:
        return len(self.bits)

    def to_int(self) -> int:
        return int(str(self), 2) if self.bits else 0

    @property
    def num_skipped(self) -> int:
        return len(self.bits) - sum(self.bits)

    @property
    def skipped(self) -> tuple[int, ...]:
        """Indices of the skipped gates."""
        return tuple(i for i, b in enumerate(self.bits) if not b)


@dataclass(frozen=True)
class SkipSpace:
    """The set of configurations of one model: 2^num_gates skip vectors."""

    num_gates: int

    @property
    def size(self) -> int:
        return 2**self.num_gates

    def parse(self, value) -> SkipConfig:
        return SkipConfig.parse(value, self.num_gates)

    def full(self) -> SkipConfig:
        return SkipConfig.all_on(self.num_gates)

    def nested(self, order: Sequence[int]) -> list[SkipConfig]:
        """Configurations skipping the first N gates of `order`, N = 0..num_gates (least important first)."""
        if sorted(order) != list(range(self.num_gates)):
            raise ConfigError(f"a ranking must order every gate 0..{self.num_gates - 1} once, got {list(order)}")
        return [SkipConfig.skipping(order[:n], self.num_gates) for n in range(self.num_gates + 1)]


@dataclass(frozen=True)
class Evaluation:
    """What the engine tells a strategy: a configuration and its metrics.

    Metric names carry their units: `accuracy` (fraction 0..1), `latency_ms`, `macs`, …
    """

    config: SkipConfig
    metrics: dict[str, float]

    def __getitem__(self, metric: str) -> float:
        return self.metrics[metric]


def check_skip(skip, num_gates: int) -> list[int]:
    """Validate a skip vector (sequence, tensor or bit string like '110111') → list of 0/1."""
    if isinstance(skip, str):
        if any(c not in "01" for c in skip):
            raise ConfigError(f"skip string {skip!r} must contain only '0' and '1'")
        bits = [int(c) for c in skip]
    elif hasattr(skip, "dim") and hasattr(skip, "tolist"):  # a torch tensor (not imported: this module stays light)
        if skip.dim() != 1:
            raise ConfigError(f"skip vector must be 1-D, got shape {tuple(skip.shape)}")
        bits = [int(v) for v in skip.tolist()]
        if skip.is_floating_point() and any(float(v) != int(v) for v in skip.tolist()):
            raise ConfigError(f"skip vector must hold 0/1 values, got {skip.tolist()}")
    else:
        try:
            bits = [int(v) for v in skip]
            if any(float(v) != int(v) for v in skip):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"skip vector must be a sequence of 0/1 values, got {skip!r}") from None
    if len(bits) != num_gates:
        raise ConfigError(
            f"skip vector has {len(bits)} entries but the model has {num_gates} skippable blocks "
            f"(one bit per block in block order, 1 = execute, 0 = skip)"
        )
    if any(b not in (0, 1) for b in bits):
        raise ConfigError(f"skip vector must hold only 0 and 1 (1 = execute, 0 = skip), got {bits}")
    return bits
