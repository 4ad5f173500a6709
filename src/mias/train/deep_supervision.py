"""Deep-supervision heads for a search-space `Network`, present only while it trains.

nnU-Net scores a segmentation output at every decoder resolution. A `Network` has one
decoder stage per down-sampling; `DeepSupervised` adds a 1×1 convolution to the output of
each decoder stage below full resolution, and in training mode returns
[main, aux1, aux2, …] (decreasing resolution) for `losses.deep_supervised`. In eval mode it
returns the network's own output, and training hands back the bare network, so the saved
weights, the model file and the ONNX export are those of the plain `Network`.
Networks with fewer than two down-sampling stages are trained without (nnU-Net gives the
lowest-resolution head weight 0, so one extra head would add nothing).
"""

from __future__ import annotations

import torch
from torch import nn

from mias.space import Network

MIN_STAGES = 2


def supports_deep_supervision(net: nn.Module) -> bool:
    return isinstance(net, Network) and len(net.decoder) >= MIN_STAGES


class DeepSupervised(nn.Module):
    """`net` plus one 1×1 convolution per decoder stage below full resolution."""

    def __init__(self, net: Network, probe: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        widths = self._decoder_widths(probe)
        conv = nn.Conv3d if probe.ndim == 5 else nn.Conv2d
        out = self._out_channels(probe)
        self.aux = nn.ModuleList(conv(w, out, kernel_size=1) for w in widths[1:])

    @torch.no_grad()
    def _decoder_widths(self, probe: torch.Tensor) -> list[int]:
        """Output channels of dec0, dec1, … read from one forward pass of `probe`."""
        widths: dict[int, int] = {}
        hooks = [block.register_forward_hook(
            lambda _m, _i, out, k=k: widths.__setitem__(k, int(out.shape[1])))
            for k, block in enumerate(self.net.decoder)]
        was = self.net.training
        self.net.eval()
        try:
            self.net(probe)
        finally:
            self.net.train(was)
            for h in hooks:
                h.remove()
        return [widths[k] for k in range(len(self.net.decoder))]

    @torch.no_grad()
    def _out_channels(self, probe: torch.Tensor) -> int:
        was = self.net.training
        self.net.eval()
        try:
            return int(self.net(probe).shape[1])
        finally:
            self.net.train(was)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.training:
            return self.net(x)
        net = self.net
        h = net.stem(x)
        skips = []
        for block in net.encoder:
            h = block(h)
            skips.append(h)
        decoded: dict[int, torch.Tensor] = {}
        for k in reversed(range(len(net.decoder))):
            h = net.decoder[k](h, skips[k])
            decoded[k] = h
        return [net.head(h), *(head(decoded[k + 1]) for k, head in enumerate(self.aux))]
