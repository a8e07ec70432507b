"""Model registry: architectures by name, like timm's `register_model`.

`create_model("resnet56", in_channels=1, num_classes=10)`; any `resnet<6n+2>` name works, and the
fixed architectures by their names (`tv-resnet18`, `tv-resnet34`, `tv-resnet50`, `tv-mobilenet_v2`:
torchvision's layouts, models/tvlayout.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import torch.nn as nn

from explorer.errors import ConfigError
from explorer.models.resnet import GatedResNet
from explorer.models.tvlayout import TVMobileNetV2, tv_resnet

__all__ = ["GatedResNet", "create_model", "register_model", "register_arch", "MODEL_FAMILIES", "ARCHITECTURES"]

# family name -> factory(depth, in_channels, num_classes)
MODEL_FAMILIES: dict[str, Callable[..., nn.Module]] = {}
# fixed architecture name -> factory(in_channels, num_classes); looked up before the families
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def register_model(family: str):
    """Decorator: register a factory `(depth, in_channels, num_classes) -> nn.Module`."""

    def wrap(fn):
        MODEL_FAMILIES[family] = fn
        return fn

    return wrap


def register_arch(name: str):
    """Decorator: register a factory `(in_channels, num_classes) -> nn.Module` under one exact name."""

    def wrap(fn):
        ARCHITECTURES[name] = fn
        return fn

    return wrap


@register_model("resnet")
def _resnet(depth: int, in_channels: int, num_classes: int) -> GatedResNet:
    return GatedResNet(depth, in_channels=in_channels, num_classes=num_classes)


@register_model("skipnet")
def _skipnet(depth: int, in_channels: int, num_classes: int) -> nn.Module:
    from explorer.skipnet.model import SkipNet

    return SkipNet(GatedResNet(depth, in_channels=in_channels, num_classes=num_classes))


for _depth in (18, 34, 50):
    register_arch(f"tv-resnet{_depth}")(functools.partial(tv_resnet, _depth))
register_arch("tv-mobilenet_v2")(TVMobileNetV2)
del _depth


def parse_arch(arch: str) -> tuple[str, int]:
    """'resnet56' → ('resnet', 56)."""
    m = re.fullmatch(r"([a-z]+)(\d+)", arch.strip().lower())
    if not m or m.group(1) not in MODEL_FAMILIES:
        raise ConfigError(
            f"unknown architecture {arch!r}: use resnet<depth> with depth 6n+2, e.g. resnet20, resnet56, resnet110 "
            f"(skipnet<depth> for the SkipNet baseline), or one of {', '.join(ARCHITECTURES)}"
        )
    return m.group(1), int(m.group(2))


def create_model(arch: str, *, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    if arch in ARCHITECTURES:
        return ARCHITECTURES[arch](in_channels, num_classes)
    family, depth = parse_arch(arch)
    return MODEL_FAMILIES[family](depth, in_channels, num_classes)
