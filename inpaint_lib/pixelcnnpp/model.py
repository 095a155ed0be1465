"""The PixelCNN++ network: an image in, the parameters of a logistic mixture per pixel out.

The network is a U-Net of gated ResNet blocks run on two causal streams (:mod:`.layers`):

    up pass      32x32 --(stride-2 conv)--> 16x16 --(stride-2 conv)--> 8x8
                 nr_resnet blocks at each resolution; every block output is kept in a list
    down pass    8x8 --(stride-2 transposed conv)--> 16x16 --> 32x32
                 nr_resnet + 1 blocks at 16x16 and 32x32 (nr_resnet at 8x8); each block takes
                 the most recent unused up-pass output of its stream as skip input (popped
                 from the list), the ul block also the u stream's current value
    output       nin(elu(ul)), 10 * nr_logistic_mix channels per pixel

The output at pixel (i, j) depends only on pixels before (i, j) in raster order; the three
colours of a pixel are coupled inside the likelihood (:mod:`.likelihood`), not here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    NIN,
    DownRightShiftedConv2d,
    DownRightShiftedConvTranspose2d,
    DownShiftedConv2d,
    DownShiftedConvTranspose2d,
    GatedResNet,
    image_and_border,
)

__all__ = ["PixelCNNpp", "NUM_STAGES", "DIAGRAM_UNITS", "diagram_stream"]

NUM_STAGES = 3  # resolutions 32, 16, 8
# the modules a diagram of the network draws as boxes (:func:`inpaint_lib.viz.draw_network`)
DIAGRAM_UNITS = (GatedResNet, DownShiftedConv2d, DownRightShiftedConv2d, DownShiftedConvTranspose2d,
                 DownRightShiftedConvTranspose2d, NIN)


def diagram_stream(name: str) -> str:
    """The stream of the unit called ``name`` in a diagram: "u" (from above), "ul" (from above and the left), or
    "out" (the final 1x1 layer). Blocks are named ``up.<stage>.<block>.<0: u, 1: ul>`` (and ``down.``)."""
    if name == "nin_out":
        return "out"
    if name.startswith(("up.", "down.")):
        return "ul" if name.endswith(".1") else "u"
    return "ul" if "ul" in name else "u"


class PixelCNNpp(nn.Module):
    """PixelCNN++ for RGB images of ``image_size`` x ``image_size``, x in [-1, 1].

    ``forward(x)``: (B, 3, H, W) -> (B, 10 * nr_logistic_mix, H, W), the input of
    :func:`~inpaint_lib.pixelcnnpp.discretized_mix_logistic_loss`.

    Trainable parameters: 53,659,080 at the defaults (the original study), 578,760 at
    ``nr_resnet=1, nr_filters=32``. ``check_inputs`` also checks that x lies in [-1, 1]
    (one device synchronisation per call; the shape checks are always made).

    Memory format: the network keeps that of its input. After ``model.to(memory_format=
    torch.channels_last)`` and with channels_last images, every convolution runs channels_last
    (input and weight) and the output is channels_last; in NCHW everything stays NCHW.
    """

    def __init__(self, nr_resnet: int = 5, nr_filters: int = 160, nr_logistic_mix: int = 10,
                 dropout: float = 0.5, image_size: int = 32, check_inputs: bool = True):
        super().__init__()
        if image_size % 2 ** (NUM_STAGES - 1):
            raise ValueError(f"image_size must be a multiple of 4 (two halvings), got {image_size}")
        for name, value in (("nr_resnet", nr_resnet), ("nr_filters", nr_filters), ("nr_logistic_mix", nr_logistic_mix)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.nr_resnet, self.nr_filters, self.nr_logistic_mix = nr_resnet, nr_filters, nr_logistic_mix
        self.image_size, self.check_inputs = image_size, check_inputs
        f = nr_filters

        # Start the streams so that nothing sees the current pixel: u from the rows above,
        # ul from the rows above plus the pixels to the left (3 colours + the border channel).
        self.u_init = DownShiftedConv2d(3 + 1, f, (2, 3), shift_output_down=True)
        self.ul_init_above = DownShiftedConv2d(3 + 1, f, (1, 3), shift_output_down=True)
        self.ul_init_left = DownRightShiftedConv2d(3 + 1, f, (2, 1), shift_output_right=True)

        def stage(blocks: int, u_skip: int, ul_skip: int) -> nn.ModuleList:
            return nn.ModuleList(nn.ModuleList([GatedResNet(f, DownShiftedConv2d, u_skip * f, dropout),
                                                GatedResNet(f, DownRightShiftedConv2d, ul_skip * f, dropout)])
                                 for _ in range(blocks))

        # up pass: u alone, ul with u as skip input
        self.up = nn.ModuleList(stage(nr_resnet, 0, 1) for _ in range(NUM_STAGES))
        # down pass: u with u_list.pop(), ul with [u, ul_list.pop()]
        self.down = nn.ModuleList(stage(nr_resnet + (i > 0), 1, 2) for i in range(NUM_STAGES))
        self.downsize_u = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(NUM_STAGES - 1))
        self.downsize_ul = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(NUM_STAGES - 1))
        self.upsize_u = nn.ModuleList(DownShiftedConvTranspose2d(f, f) for _ in range(NUM_STAGES - 1))
        self.upsize_ul = nn.ModuleList(DownRightShiftedConvTranspose2d(f, f) for _ in range(NUM_STAGES - 1))
        self.nin_out = NIN(f, 10 * nr_logistic_mix)

    def extra_repr(self) -> str:
        return (f"nr_resnet={self.nr_resnet}, nr_filters={self.nr_filters}, "
                f"nr_logistic_mix={self.nr_logistic_mix}, image_size={self.image_size}")

    def _check(self, x: torch.Tensor) -> None:
        s = self.image_size
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"PixelCNNpp expects images of shape (B, 3, {s}, {s}), got {tuple(x.shape)}; "
                             "pass a batch of RGB images, channels first")
        if x.shape[2:] != (s, s):
            raise ValueError(f"this PixelCNNpp was built for {s}x{s} images, got {x.shape[2]}x{x.shape[3]}; "
                             f"build the model with image_size={x.shape[2]} or resize the images")
        if self.check_inputs and not torch.compiler.is_compiling():
            lo, hi = torch.aminmax(x.detach())
            if lo < -1 or hi > 1:
                raise ValueError(f"PixelCNNpp expects x in [-1, 1], got values in [{lo.item():.4g}, {hi.item():.4g}]; "
                                 "scale uint8 pixels as x / 127.5 - 1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = image_and_border(x)
        u_list = [self.u_init(x)]
        ul_list = [self.ul_init_above(x) + self.ul_init_left(x)]
        for i, blocks in enumerate(self.up):
            u, ul = u_list[-1], ul_list[-1]
            for u_block, ul_block in blocks:
                u = u_block(u)
                ul = ul_block(ul, a=u)
                u_list.append(u)
                ul_list.append(ul)
            if i < NUM_STAGES - 1:
                u_list.append(self.downsize_u[i](u))
                ul_list.append(self.downsize_ul[i](ul))

        u, ul = u_list.pop(), ul_list.pop()
        for i, blocks in enumerate(self.down):
            for u_block, ul_block in blocks:
                u = u_block(u, a=u_list.pop())
                ul = ul_block(ul, a=torch.cat((u, ul_list.pop()), dim=1))
            if i < NUM_STAGES - 1:
                u = self.upsize_u[i](u)
                ul = self.upsize_ul[i](ul)
        assert not u_list and not ul_list, "every up-pass output is used exactly once"
        h = F.elu(ul)
        if torch.is_autocast_enabled(h.device.type):
            # The mixture parameters in float32 even under bf16 autocast: bf16 resolves a mean near
            # 1 only to 1/256, half a colour bin, which would blur every pixel's distribution.
            with torch.autocast(h.device.type, enabled=False):
                return self.nin_out(h.float())
        return self.nin_out(h)
