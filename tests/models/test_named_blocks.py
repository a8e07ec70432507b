"""gate_blocks: any nn.Module's named blocks answer to the skip vector, exactly as if each skipped block
were replaced by the identity; mistakes in the names are one error each."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from explorer.errors import ConfigError
from explorer.models.named_blocks import gate_blocks

BLOCKS = ["features.0", "features.1", "features.3"]  # the user_net fixture's residual blocks


def test_skipping_a_named_block_is_replacing_it_by_the_identity(user_net):
    UserNet = user_net
    torch.manual_seed(0)
    net = UserNet().eval()
    gated = gate_blocks(net, BLOCKS)
    assert gated.num_gates == 3 and not gated.training
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(gated(x), net(x)) and torch.equal(gated(x, "111"), net(x))
        for bits in ("010", "101", "000"):
            ref = UserNet().eval()
            ref.load_state_dict(net.state_dict())
            for name, bit in zip(BLOCKS, bits):
                if bit == "0":
                    ref.features[int(name.split(".")[1])] = nn.Identity()
            assert torch.equal(gated(x, bits), ref(x)), bits
            assert torch.equal(gated.resolved(bits)(x), ref(x)), bits
    # the user's module is left as it was
    assert all(not type(m).__name__.startswith("_Gate") for m in net.modules())


def test_mistaken_block_names_are_one_clear_error(user_net):
    net = user_net()
    with pytest.raises(ConfigError, match=r"no submodule 'features\.7'.*features\.0"):
        gate_blocks(net, ["features.7"])
    with pytest.raises(ConfigError, match="overlap"):
        gate_blocks(net, ["features.0", "features.0.conv"])
    with pytest.raises(ConfigError, match="at least one"):
        gate_blocks(net, [])
    gated = gate_blocks(net, ["features.0", "features.2"])  # features.2 changes the shape
    with pytest.raises(ConfigError, match=r"'features\.2' changes the shape .*cannot be skipped"):
        gated(torch.randn(1, 3, 8, 8), [1, 1])
    with pytest.raises(ConfigError, match="3 entries but the model has 2"):
        gated(torch.randn(1, 3, 8, 8), [1, 1, 0])
