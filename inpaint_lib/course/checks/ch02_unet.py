"""Checks for exercise 02: the U-Net skip connection block."""

from __future__ import annotations

import torch

from ._common import _diagnose, _grad_close, _passed

__all__ = ["check_skip_block"]


def _run_block(block: torch.nn.Module, x0: torch.Tensor, weights: torch.Tensor | None = None):
    """Output of ``block`` on a copy of ``x0`` (not a leaf, so in-place layers may rewrite it), the gradient
    of ``sum(output * weights)`` with respect to x0 and to every parameter."""
    x = x0.clone().requires_grad_(True)
    out = block(x * 1.0)
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"forward must return a tensor, got {type(out).__name__}")
    if weights is None or out.shape != weights.shape:
        return out.detach(), None, None
    (out * weights).sum().backward()
    return out.detach(), x.grad, [p.grad for p in block.parameters()]


def check_skip_block(SkipBlock: type) -> None:
    """``SkipBlock``: ``UnetSkipConnectionBlock`` with your ``forward``.

    The innermost, a middle and the outermost level are each built twice with the same weights (the library's
    block and yours, around the same sub-level) and run on the same random input: outputs and the gradients
    with respect to the input and every weight must agree. Then a whole 5-level U-Net of your blocks must
    compute exactly what ``UnetGenerator`` computes.
    """
    import copy

    from ...pix2pix import UnetGenerator, UnetSkipConnectionBlock

    torch.manual_seed(0)
    inner = UnetSkipConnectionBlock(16, 16, innermost=True)
    middle = UnetSkipConnectionBlock(8, 16, submodule=copy.deepcopy(inner))
    levels = {  # name: (constructor arguments, input shape)
        "innermost": (dict(outer_nc=8, inner_nc=16, innermost=True), (2, 8, 2, 2)),
        "middle": (dict(outer_nc=8, inner_nc=16, submodule=inner), (2, 8, 4, 4)),
        "outermost": (dict(outer_nc=3, inner_nc=8, input_nc=3, submodule=middle, outermost=True), (2, 3, 8, 8)),
    }
    g = torch.Generator().manual_seed(1)
    for name, (kwargs, shape) in levels.items():
        torch.manual_seed(2)
        reference = UnetSkipConnectionBlock(**{**kwargs, "submodule": copy.deepcopy(kwargs.get("submodule"))})
        mine = SkipBlock(**{**kwargs, "submodule": copy.deepcopy(kwargs.get("submodule"))})
        mine.load_state_dict(reference.state_dict())
        fresh = copy.deepcopy(reference)                        # for the known wrong answers
        x0 = torch.randn(*shape, generator=g)
        channels = kwargs["outer_nc"] * (1 if name == "outermost" else 2)
        weights = torch.randn(shape[0], channels, *shape[2:], generator=g)
        expected, grad_x, grad_w = _run_block(reference, x0, weights)
        got, got_x, got_w = _run_block(mine, x0, weights)

        def wrong(answer, fresh=fresh, x0=x0):  # bound now: called only in this pass of the loop
            with torch.no_grad():
                return answer(copy.deepcopy(fresh).model, x0.clone())

        if name == "outermost":
            mistakes = {"the outermost block must not concatenate its input (that would add "
                        f"{shape[1]} input channels to the {kwargs['outer_nc']}-channel image): "
                        "return self.model(x) when self.outermost": wrong(lambda m, x: torch.cat([x, m(x)], 1)),
                        "the outermost block must not concatenate its input: return self.model(x) "
                        "when self.outermost": wrong(lambda m, x: torch.cat([m(x), x], 1))}
        else:
            mistakes = {
                "the skip connection is missing: an inner block returns torch.cat([x, self.model(x)], 1), "
                "only the outermost returns self.model(x) alone": wrong(lambda m, x: m(x)),
                "the concatenation order is swapped: the skip copy x comes first, then self.model(x) "
                "(torch.cat([x, self.model(x)], 1)), so the decoder's channels line up with the weights":
                    wrong(lambda m, x: torch.cat([m(x), x], 1)),
                "the skip is added (x + self.model(x)) instead of concatenated on channels: "
                "use torch.cat([x, self.model(x)], 1)": wrong(lambda m, x: x + m(x)),
                "concatenate along the channels (dim 1), not the batch (dim 0)":
                    wrong(lambda m, x: torch.cat([x, m(x)], 0)),
                "concatenate along the channels (dim 1), not the width": wrong(lambda m, x: torch.cat([x, m(x)], -1)),
                "the skip copy is x before the block's in-place LeakyReLU (a clone taken before self.model ran); "
                "the library, like the reference, concatenates x after self.model(x) has rewritten it: write "
                "torch.cat([x, self.model(x)], 1) without copying x first":
                    wrong(lambda m, x: torch.cat([x.clone(), m(x)], 1)),
            }
        _diagnose(f"{name} block", got, expected, mistakes)
        if not _grad_close(got_x, grad_x):
            if got_x is not None and grad_x is not None and got_x.abs().sum() < grad_x.abs().sum():
                raise AssertionError(f"{name} block: the output is right but the gradient with respect to the input "
                                     "is too small: the skip copy must stay in the graph (no .detach(), no "
                                     "torch.no_grad(), no .data)")
            raise AssertionError(f"{name} block: the output is right but the gradient with respect to the input "
                                 "differs from the library's: keep the whole computation in autograd")
        if not all(_grad_close(a, b) for a, b in zip(got_w, grad_w, strict=True)):
            raise AssertionError(f"{name} block: the output is right but the weights' gradients differ: "
                                 "call self.model(x) exactly once and keep it in the graph")

    # a whole U-Net of your blocks, with UnetGenerator's weights
    torch.manual_seed(3)
    unet = UnetGenerator(ngf=4, num_downs=5)

    def width(i: int) -> int:
        return 4 * min(2 ** i, 8)

    block = SkipBlock(width(3), width(4), innermost=True)
    for i in range(3, 0, -1):
        block = SkipBlock(width(i - 1), width(i), submodule=block)
    mine = SkipBlock(3, 4, input_nc=3, submodule=block, outermost=True)
    mine.load_state_dict(unet.model.state_dict())
    x0 = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    weights = torch.randn(2, 3, 32, 32, generator=g)
    expected, grad_x, _ = _run_block(unet.model, x0, weights)
    got, got_x, _ = _run_block(mine, x0, weights)
    _diagnose("a 5-level U-Net of your blocks (32x32)", got, expected, {})
    if not _grad_close(got_x, grad_x):
        raise AssertionError("a 5-level U-Net of your blocks: the gradient with respect to the image differs from "
                             "UnetGenerator's")
    _passed("SkipBlock.forward")
