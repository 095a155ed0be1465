"""Checks for exercise 03: PatchGAN and the GAN loss."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._common import _close, _diagnose, _grad_close, _passed

__all__ = ["check_patchgan", "check_receptive_field", "check_gan_loss"]


def _layer_kinds(net: torch.nn.Module) -> list[str]:
    """The leaf layers of ``net`` in order, by kind (identities left out)."""
    from torch import nn
    kinds = []
    for m in net.modules():
        if list(m.children()) or isinstance(m, nn.Identity):
            continue
        kinds.append("conv" if isinstance(m, nn.Conv2d) else
                     "lrelu" if isinstance(m, nn.LeakyReLU) else
                     "norm" if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) else type(m).__name__)
    return kinds


def _conv_specs(net: torch.nn.Module) -> list[tuple]:
    from torch import nn
    return [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.bias is not None)
            for m in net.modules() if isinstance(m, nn.Conv2d)]


def check_patchgan(patchgan: Callable) -> None:
    """``patchgan(input_nc, ndf, n_layers, norm)``: the PatchGAN layer stack as an ``nn.Module``.

    For several widths, depths and norms the stack is compared with ``NLayerDiscriminator`` layer by layer
    (kinds and order of the layers; every conv's channels, kernel, stride, padding and bias; the LeakyReLU
    slope), then, with the library's weights copied in, on outputs for random 32x32 pairs (shape and values).
    """
    from torch import nn

    from ...pix2pix import NLayerDiscriminator, count_parameters, receptive_field_size

    g = torch.Generator().manual_seed(0)
    for input_nc, ndf, n_layers, norm in ((6, 4, 3, "batch"), (6, 4, 1, "batch"), (6, 2, 2, "instance"),
                                          (4, 2, 5, "none"), (6, 3, 4, "batch")):
        where = f"patchgan(input_nc={input_nc}, ndf={ndf}, n_layers={n_layers}, norm={norm!r})"
        reference = NLayerDiscriminator(input_nc, ndf, n_layers, norm).model
        mine = patchgan(input_nc, ndf, n_layers, norm)
        if not isinstance(mine, nn.Module):
            raise AssertionError(f"{where} must return an nn.Module (e.g. nn.Sequential(*layers)), "
                                 f"got {type(mine).__name__}")
        kinds, expected_kinds = _layer_kinds(mine), _layer_kinds(reference)
        if "Sigmoid" in kinds:
            raise AssertionError(f"{where}: no Sigmoid at the end: the discriminator outputs logits, and the loss "
                                 "(BCE with logits) applies the sigmoid itself")
        if "ReLU" in kinds:
            raise AssertionError(f"{where}: the discriminator uses LeakyReLU(0.2) after its convs, not ReLU")
        specs, expected_specs = _conv_specs(mine), _conv_specs(reference)
        if len(specs) != len(expected_specs):
            raise AssertionError(f"{where}: {len(specs)} convolutions, expected {len(expected_specs)}: the first "
                                 f"conv, n_layers = {n_layers} more ({n_layers - 1} with stride 2, the last with "
                                 "stride 1), and the 1-channel output conv")
        what = ["in channels", "out channels", "kernel", "stride", "padding", "bias"]
        for t, (got, exp) in enumerate(zip(specs, expected_specs, strict=True)):
            for name, a, b in zip(what, got, exp, strict=True):
                if a == b:
                    continue
                if name == "stride":
                    try:
                        size = "x".join(map(str, mine.eval()(torch.zeros(1, input_nc, 32, 32)).shape[2:]))
                    except (RuntimeError, ValueError):
                        size = "no"
                    field = receptive_field_size(mine)
                    hint = ("the last of the n_layers convs keeps the resolution: stride 1"
                            if t == n_layers else "the output conv has stride 1" if t == len(expected_specs) - 1
                            else "the first n_layers convs halve the resolution: stride 2")
                    raise AssertionError(f"{where}: conv {t} has stride {a[0]}, expected {b[0]}; {hint} (with yours "
                                         f"the receptive field is {field} instead of "
                                         f"{receptive_field_size(reference)} and a 32x32 pair gives a {size} output)")
                if name == "padding":
                    raise AssertionError(f"{where}: conv {t} has padding {a}, expected {b}: every conv pads by 1")
                if name == "kernel":
                    raise AssertionError(f"{where}: conv {t} has a {a[0]}x{a[1]} kernel, expected 4x4")
                if name == "bias":
                    raise AssertionError(f"{where}: conv {t} {'has' if a else 'has no'} bias; a conv followed by "
                                         "batch norm has none (the norm's shift replaces it), every other conv has "
                                         "one: bias=(norm != 'batch') for the normalised convs")
                if name == "out channels" and t == len(expected_specs) - 1:
                    raise AssertionError(f"{where}: the output conv has {a} channels; it outputs one logit per "
                                         "patch: 1 channel")
                raise AssertionError(f"{where}: conv {t} has {a} {name}, expected {b}: channels grow ndf, 2 ndf, "
                                     "4 ndf, 8 ndf, ... capped at 8 ndf (ndf * min(2**n, 8)), from input_nc")
        if kinds != expected_kinds:
            if kinds[:2] == ["conv", "norm"] and expected_kinds[:2] == ["conv", "lrelu"]:
                raise AssertionError(f"{where}: the first conv has no norm after it, only LeakyReLU(0.2)")
            # the lists may differ in length: the shorter one's "(nothing)" differs from the other's layer there
            pairs = zip(kinds + ["(nothing)"], expected_kinds + ["(nothing)"], strict=False)
            first = next(i for i, (a, b) in enumerate(pairs) if a != b)
            raise AssertionError(f"{where}: layer {first} is {kinds[first] if first < len(kinds) else 'missing'}, "
                                 f"expected {expected_kinds[first] if first < len(expected_kinds) else 'nothing'} "
                                 f"(layers expected: {', '.join(expected_kinds)}); after every conv but the last: "
                                 "norm_layer(norm, channels) (not after the first), then LeakyReLU(0.2)")
        slopes = {m.negative_slope for m in mine.modules() if isinstance(m, nn.LeakyReLU)}
        if slopes != {0.2}:
            raise AssertionError(f"{where}: LeakyReLU with negative slope {sorted(slopes)}, expected 0.2")
        norms = [type(m).__name__ for m in mine.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
        expected_norms = [type(m).__name__ for m in reference.modules()
                          if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
        if norms != expected_norms:
            raise AssertionError(f"{where}: norm layers {norms}, expected {expected_norms}: use "
                                 "norm_layer(norm, channels)")
        if [p.shape for p in mine.parameters()] != [p.shape for p in reference.parameters()]:
            raise AssertionError(f"{where}: the parameters differ in shape from the library's "
                                 "(is every norm layer made by norm_layer(norm, channels)?)")
        with torch.no_grad():
            for p, q in zip(mine.parameters(), reference.parameters(), strict=True):
                p.copy_(q)
        mine.train(), reference.train()
        size = max(32, 2 ** (n_layers + 2))                    # the smallest input with a 2x2 output
        pair = torch.randn(2, input_nc, size, size, generator=g)
        _diagnose(f"{where} on a {size}x{size} pair", mine(pair.clone()).detach(), reference(pair.clone()).detach(), {})
    full = patchgan(6, 64, 3, "batch")
    assert count_parameters(full) == 2_768_705, \
        f"patchgan(6, 64, 3, 'batch') has {count_parameters(full):,} parameters, expected 2,768,705"
    _passed("patchgan")


def check_receptive_field(receptive_field: Callable) -> None:
    """``receptive_field(layers)``: side of the input patch one output sees, for ``(kernel, stride)`` per conv.

    Checked on the PatchGANs (16, 34, 70), the PixelGAN (1), no layer at all (1) and random chains, against
    ``inpaint_lib.pix2pix.receptive_field_size``.
    """
    from ...pix2pix import receptive_field_size as reference

    def patch(n_layers: int) -> list[tuple[int, int]]:
        return [(4, 2)] * n_layers + [(4, 1), (4, 1)]

    g = torch.Generator().manual_seed(0)
    cases = {f"the PatchGAN with n_layers={n}": patch(n) for n in (3, 1, 2, 5)}
    cases["the PixelGAN (three 1x1 convs)"] = [(1, 1)] * 3
    cases["no layer at all"] = []
    for _ in range(4):
        n = int(torch.randint(1, 6, (1,), generator=g))
        spec = [(int(torch.randint(1, 8, (1,), generator=g)), int(torch.randint(1, 4, (1,), generator=g)))
                for _ in range(n)]
        cases[f"the chain {spec}"] = spec

    def walk(spec, jump_first=False, use_jump=True, start=1):
        r, j = start, 1
        for k, s in spec:
            if jump_first:
                j *= s
            r += (k - 1) * (j if use_jump else 1)
            if not jump_first:
                j *= s
        return r

    for name, spec in cases.items():
        got = receptive_field(list(spec))
        expected = reference(spec)
        if got == expected:
            continue
        mistakes = {
            "each layer's k - 1 must be multiplied by the jump j, the product of the strides of the layers "
            "*before* it: update r first, then j <- j * s": walk(spec, jump_first=True),
            "the jump is missing: r <- r + (k - 1) * j, where j (the product of the earlier strides) is the "
            "distance in input pixels between neighbouring outputs of the layer": walk(spec, use_jump=False),
            "the layers are walked from the output to the input; the formula goes from the input (the first "
            "layer in the list) up": walk(spec[::-1]),
            "start from r = 1 (before any conv, an output is one input pixel), not 0": walk(spec, start=0),
        }
        for message, value in mistakes.items():
            if got == value:
                raise AssertionError(f"receptive field of {name}: got {got}, expected {expected}: {message}")
        raise AssertionError(f"receptive field of {name}: got {got}, expected {expected}; going from the input, "
                             "r <- r + (k - 1) * j, j <- j * s, from r = j = 1")
    _passed("receptive_field")


def check_gan_loss(gan_loss: Callable) -> None:
    """``gan_loss(prediction, target_is_real)``: the vanilla GAN loss of a logit map, a scalar tensor.

    Compared with ``GANLoss("vanilla")`` for real and fake targets on logit maps of several shapes, moderate and
    very large logits (where a sigmoid saturates in float32), including the gradient with respect to the logits.
    """
    import torch.nn.functional as F

    from ...pix2pix import GANLoss

    reference = GANLoss("vanilla")
    g = torch.Generator().manual_seed(0)
    cases = {"a 2x2 PatchGAN output": 2 * torch.randn(4, 1, 2, 2, generator=g),
             "a 14x14 PatchGAN output": torch.randn(2, 1, 14, 14, generator=g),
             "a PixelGAN output": torch.randn(1, 1, 32, 32, generator=g)}
    for name, logits in cases.items():
        for real in (True, False):
            where = f"gan_loss on {name} ({'real' if real else 'fake'})"
            z = logits.clone().requires_grad_(True)
            got = gan_loss(z, real)
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"{where}: return a tensor (not a float or .item()), so that it can be "
                                     f"backpropagated; got {type(got).__name__}")
            if got.dim() != 0:
                raise AssertionError(f"{where}: return one number, the mean over every logit; got shape "
                                     f"{tuple(got.shape)}")
            t = torch.full_like(logits, 1.0 if real else 0.0)
            sig = torch.sigmoid(logits)
            _diagnose(where, got.detach(), reference(logits, real), {
                "the labels are swapped: real pairs have target 1 (all-ones map), fakes target 0":
                    reference(logits, not real),
                "the sigmoid is applied twice: BCEWithLogitsLoss takes the raw logits and applies the sigmoid "
                "itself": F.binary_cross_entropy_with_logits(sig, t),
                "average over every logit (mean), do not sum":
                    F.binary_cross_entropy_with_logits(logits, t, reduction="sum"),
                "this is the least-squares (lsgan) loss; the vanilla GAN loss is the binary cross-entropy on logits":
                    F.mse_loss(logits, t),
                "the loss has the wrong sign: BCE = -mean(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))) >= 0":
                    -reference(logits, real),
            })
            got.backward()
            reference_z = logits.clone().requires_grad_(True)
            reference(reference_z, real).backward()
            if z.grad is None or not _grad_close(z.grad, reference_z.grad, 1e-5):
                raise AssertionError(f"{where}: the value is right but the gradient with respect to the logits "
                                     "differs: keep the computation in autograd (no .detach(), no .item())")
    big = torch.tensor([[[[40.0, -40.0], [60.0, -60.0]]]])
    for real in (True, False):
        got = gan_loss(big.clone(), real).detach()
        expected = reference(big, real)
        if not torch.isfinite(got):
            raise AssertionError(f"gan_loss of very confident logits (+-40, +-60; {'real' if real else 'fake'}) is "
                                 f"{got.item()}: sigmoid(40) is exactly 1 in float32, and log(1 - 1) = -inf; use "
                                 "binary_cross_entropy_with_logits on the logits, which stays finite")
        if not _close(got, expected, 1e-4):
            raise AssertionError(f"gan_loss of very confident logits (+-40, +-60; {'real' if real else 'fake'}) is "
                                 f"{got.item():.4f}, expected {expected.item():.4f}: the sigmoid saturates in float32 "
                                 "(binary_cross_entropy clamps log(0) at -100); use binary_cross_entropy_with_logits "
                                 "on the raw logits")
    _passed("gan_loss")
