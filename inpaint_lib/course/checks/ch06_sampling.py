"""Checks for exercise 06: drawing from the mixture, and conditional sampling."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ... import masks
from ._common import _passed

__all__ = ["check_mixture_sampler", "check_inpaint_lower_half", "chi_square"]

U_MIN = 1e-5


def _draw(l: torch.Tensor, generator: torch.Generator, gumbel_sign: float = -1.0, clip: bool = True,
          rounded: bool = True, couple_drawn: bool = True, beta_gamma_swapped: bool = False,
          component_noise_first: bool = True) -> torch.Tensor:
    """The mixture draw with switches for the known mistakes (the defaults are the right answer)."""
    b, c, h, w = l.shape
    k = c // 10
    logits = l[:, :k]
    params = l[:, k:].reshape(b, 3, 3, k, h, w)

    def uniform(shape):
        return torch.rand(shape, generator=generator, dtype=l.dtype) * (1 - 2 * U_MIN) + U_MIN

    if component_noise_first:
        u_k = uniform(logits.shape)
        u_c = uniform((b, 3, h, w))
    else:
        u_c = uniform((b, 3, h, w))
        u_k = uniform(logits.shape)
    choice = (logits + gumbel_sign * torch.log(-torch.log(u_k))).argmax(dim=1)
    index = choice[:, None, None].expand(b, 3, 1, h, w)
    mu = params[:, :, 0].gather(2, index)[:, :, 0]
    log_s = params[:, :, 1].gather(2, index)[:, :, 0].clamp(min=-7.0)
    coef = torch.tanh(params[:, :, 2].gather(2, index)[:, :, 0])
    y = mu + torch.exp(log_s) * (torch.log(u_c) - torch.log1p(-u_c))

    def level(v):
        v = v.clamp(-1.0, 1.0) if clip else v
        return torch.round((v + 1) * 127.5) / 127.5 - 1 if rounded else v

    r = level(y[:, 0])
    r_used = r if couple_drawn else y[:, 0]
    g = level(y[:, 1] + coef[:, 0] * r_used)
    g_used = g if couple_drawn else y[:, 1]
    on_r, on_g = (coef[:, 2], coef[:, 1]) if beta_gamma_swapped else (coef[:, 1], coef[:, 2])
    return torch.stack([r, g, level(y[:, 2] + on_r * r_used + on_g * g_used)], dim=1)


_MIXTURE_MISTAKES = {
    "the Gumbel noise has the wrong sign: k = argmax(logit_k - log(-log u_k)); with + the least likely components "
    "win": dict(gumbel_sign=1.0),
    "the colours are not clipped to [-1, 1] before rounding: the edge bins 0 and 255 hold the whole tails": dict(
        clip=False),
    "the colours are not rounded to their bin centres v / 127.5 - 1: every sample must be one of the 256 levels, "
    "and G and B must be coupled to the rounded R (and G)": dict(rounded=False),
    "G and B are coupled to the raw logistic draws, not to the pixel values drawn before them: use the clipped, "
    "rounded r (and g) in g = y_G + alpha r and b = y_B + beta r + gamma g": dict(couple_drawn=False),
    "beta and gamma are swapped: beta (B on R) multiplies r and gamma (B on G) multiplies g, "
    "b = y_B + beta r + gamma g": dict(beta_gamma_swapped=True),
    "the random numbers are drawn in another order: first the component noise (the logits' shape), then the colour "
    "noise (B, 3, H, W)": dict(component_noise_first=False),
}


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, int]:
    """Pearson's statistic of ``counts`` against ``probs`` over cells expecting >= 5 (the rest pooled), and its
    degrees of freedom."""
    expected = probs * counts.sum()
    big = expected >= 5
    obs = torch.cat((counts[big], counts[~big].sum().view(1)))
    exp = torch.cat((expected[big], expected[~big].sum().view(1)))
    keep = exp > 0
    return ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum().item(), int(keep.sum()) - 1


def _chi_square_ratio(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson's statistic over its 6-sigma bound, ``df + 6 sqrt(2 df)`` (< 1: consistent)."""
    stat, df = chi_square(counts, probs)
    return stat / (df + 6 * math.sqrt(2 * df))


def _follows_the_likelihood(draw: Callable) -> str | None:
    """None when 40,000 draws of one pixel follow the likelihood's per-bin probabilities, else what is off."""
    from ...pixelcnnpp import channel_log_probs
    g = torch.Generator().manual_seed(11)
    k = 3
    logits = torch.randn(k, generator=g, dtype=torch.float64)
    means = torch.rand(3, k, generator=g, dtype=torch.float64) * 1.2 - 0.6
    log_scales = -3.5 + 0.5 * torch.rand(3, k, generator=g, dtype=torch.float64)
    coeffs = torch.tensor([[1.0, -0.8, 0.6], [-1.2, 0.9, 0.5], [0.7, 0.4, -1.0]], dtype=torch.float64)
    l = torch.cat((logits, torch.cat((means, log_scales, coeffs), dim=1).flatten())).view(1, 10 * k, 1, 1)
    n = 40_000
    x = draw(l.expand(n, -1, -1, -1).clone(), torch.Generator().manual_seed(12))
    levels = torch.round((x[:, :, 0, 0].clamp(-1, 1) + 1) * 127.5).long()
    values = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    log_pi = torch.log_softmax(l[0, :k, 0, 0], dim=0)

    def pmf(fixed: torch.Tensor, colour: int) -> torch.Tensor:
        grid = fixed.view(1, 3, 1, 1).expand(256, 3, 1, 1).clone()
        grid[:, colour] = values.view(256, 1, 1)
        log_p = channel_log_probs(grid, l.expand(256, -1, -1, -1))[:, : colour + 1, :, 0, 0].sum(dim=1)
        p = torch.exp(log_pi + log_p).sum(dim=1)
        return p / p.sum()

    r_counts = torch.bincount(levels[:, 0], minlength=256).double()
    if _chi_square_ratio(r_counts, pmf(torch.zeros(3, dtype=torch.float64), 0)) >= 1:
        return "the red values do not follow the mixture's probabilities for R"
    r = int(r_counts.argmax())
    rows = levels[levels[:, 0] == r]
    fixed = torch.stack((values[r], values[0], values[0]))
    if _chi_square_ratio(torch.bincount(rows[:, 1], minlength=256).double(), pmf(fixed, 1)) >= 1:
        return f"the green values given R = {r} do not follow the mixture's probabilities for G given R"
    return None


def check_mixture_sampler(draw: Callable) -> None:
    """``draw(l, generator)``: one pixel per position from network outputs ``l`` (B, 10K, H, W): (B, 3, H, W).

    Exactly the pixels ``inpaint_lib``'s ``sample_from_discretized_mix_logistic`` draws from a generator seeded
    the same way (float64 outputs, so that no rounding of the arithmetic can move a value across a bin edge), and,
    drawn 40,000 times for one pixel, R and G given R must follow the likelihood's own per-bin probabilities
    (chi-square). Recognised mistakes: the Gumbel sign, no clipping, no rounding, coupling to the raw draws,
    beta and gamma swapped, the random numbers drawn in the other order.
    """
    from ...pixelcnnpp import quantize, sample_from_discretized_mix_logistic

    for shape, seed in (((16, 30, 1, 1), 1), ((2, 50, 4, 5), 2), ((3, 100, 2, 2), 3)):
        l = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3
        where = f"draw on outputs of shape {shape}"
        got = draw(l.clone(), torch.Generator().manual_seed(seed))
        b, _, h, w = shape
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (b, 3, h, w):
            what = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise AssertionError(f"{where}: return one pixel per position, shape (B, 3, H, W) = {(b, 3, h, w)}, "
                                 f"got {what}")
        expected = sample_from_discretized_mix_logistic(l, torch.Generator().manual_seed(seed))
        if torch.equal(got, expected):
            continue
        for message, switches in _MIXTURE_MISTAKES.items():
            if torch.equal(got, _draw(l, torch.Generator().manual_seed(seed), **switches)):
                raise AssertionError(f"{where}: {message}")
        if got.min() < -1 or got.max() > 1:
            raise AssertionError(f"{where}: values outside [-1, 1]: clip each colour before rounding it")
        if not torch.equal(quantize(got), got):
            raise AssertionError(f"{where}: the values are not on the 256 levels: round each colour to its bin "
                                 "centre, round((v + 1) * 127.5) / 127.5 - 1")
        off = _follows_the_likelihood(draw)
        if off:
            raise AssertionError(f"{where}: {off}: check the component choice, the inverse CDF "
                                 "y = mu + s (log u - log(1 - u)) and the coupling")
        wrong = (got != expected).any(1).flatten().nonzero()[0, 0].item()
        raise AssertionError(f"{where}: a valid-looking draw, but not the pixels inpaint_lib draws from the same "
                             f"generator (first difference at flat position {wrong}): use the random numbers as "
                             "the notebook says, u = rand * (1 - 2e-5) + 1e-5, first for the components, then for "
                             "the colours")
    off = _follows_the_likelihood(draw)
    if off:
        raise AssertionError(off)
    _passed("check_mixture_sampler")


def _sampling_variants(model, x0: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """What known wrong sampling loops draw from ``x0`` with a generator seeded with ``seed``."""
    from ...pixelcnnpp import sample_from_discretized_mix_logistic as draw

    h, w = x0.shape[-2:]
    lower = [(i, j) for i in range(h // 2, h) for j in range(w)]
    missing = masks.lower_half(h, w)
    out: dict[str, torch.Tensor] = {}

    def run(name, loop):
        for start in (x0, x0.masked_fill(missing, 0.0)):         # missing pixels as given, or zeroed first
            gen = torch.Generator().manual_seed(seed)
            x = start.clone()
            with torch.no_grad():
                loop(x, gen)
            out[f"{name}#{len(out)}"] = x

    def one_pass_image(x, gen):
        x[:] = torch.where(missing, draw(model(x), gen), x)

    def one_pass_pixels(x, gen):
        l = model(x)
        for i, j in lower:
            x[:, :, i, j] = draw(l[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def column_major(x, gen):
        for j in range(w):
            for i in range(h // 2, h):
                x[:, :, i, j] = draw(model(x)[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def not_written_back(x, gen):
        seen = x.clone()
        for i, j in lower:
            x[:, :, i, j] = draw(model(seen)[:, :, i:i + 1, j:j + 1], gen)[:, :, 0, 0]

    def whole_image_per_pixel(x, gen):
        for i, j in lower:
            x[:, :, i, j] = draw(model(x), gen)[:, :, i, j]

    def row_per_pass(x, gen):
        for i in range(h // 2, h):
            x[:, :, i] = draw(model(x)[:, :, i:i + 1], gen)[:, :, 0]

    for name, loop in (("one pass", one_pass_image), ("one pass", one_pass_pixels), ("column-major", column_major),
                       ("not written back", not_written_back), ("whole image", whole_image_per_pixel),
                       ("row per pass", row_per_pass)):
        run(name, loop)
    return out


def check_inpaint_lower_half(inpaint_lower_half: Callable) -> None:
    """``inpaint_lower_half(model, images, generator)``: the lower half drawn pixel by pixel, (B, 3, H, W).

    With tiny seeded PixelCNN++ models (8x8 and 12x12 images) and a generator seeded the same way, your loop must
    draw exactly the pixels that ``inpaint(..., sampler="naive")`` draws, keep the known rows bit for bit, and
    leave the images it was given unchanged. Wrong loops are recognised by re-running them: all pixels from one
    pass, column-major order, the image not updated, a whole image or row drawn per pass, dropout left on.
    """
    from ...pixelcnnpp import PixelCNNpp, inpaint, quantize

    for size, batch, k, seed in ((8, 2, 2, 5), (12, 1, 3, 6)):
        torch.manual_seed(size)
        model = PixelCNNpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=k, dropout=0.5, image_size=size)
        g = torch.Generator().manual_seed(seed)
        images = quantize(torch.rand(batch, 3, size, size, generator=g) * 2 - 1)
        mask = masks.lower_half(size, size)
        half = size // 2
        where = f"inpaint_lower_half on {batch} image{'s' if batch > 1 else ''} of {size}x{size}"
        expected = inpaint(model, images, mask, sampler="naive", generator=torch.Generator().manual_seed(seed))[0]
        given = images.clone()
        model.train()                                            # as a freshly trained model would be
        modes: list[bool] = []                                   # the model's mode at every pass
        hook = model.register_forward_pre_hook(lambda module, inputs, modes=modes: modes.append(module.training))
        try:
            got = inpaint_lower_half(model, given, torch.Generator().manual_seed(seed))
        finally:
            hook.remove()
        model.eval()
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{where}: return the completed images as a tensor, got {type(got).__name__}")
        if got.shape != images.shape:
            raise AssertionError(f"{where}: return the completed images, shape (B, 3, H, W) = {tuple(images.shape)}, "
                                 f"got {tuple(got.shape)}")
        got = got.detach()
        if not torch.equal(got[:, :, :half], images[:, :, :half]):
            rows = (got[:, :, :half] != images[:, :, :half]).any(0).any(0).any(1).nonzero().flatten().tolist()
            raise AssertionError(f"{where}: known pixels changed (rows {rows}): draw only rows {half}..{size - 1} "
                                 f"(height // 2 and below) and leave rows 0..{half - 1} exactly as given")
        if torch.equal(got[:, :, half:], images[:, :, half:]):
            raise AssertionError(f"{where}: the missing rows come back as they went in: no pixel was drawn; loop "
                                 f"over rows {half}..{size - 1} and every column, and write each drawn pixel into "
                                 "the image")
        if not torch.allclose(got, quantize(got), atol=1e-6):
            raise AssertionError(f"{where}: the drawn values are not on the 256 levels: draw them with "
                                 "sample_from_discretized_mix_logistic, which rounds each colour to its bin")
        if torch.allclose(got, expected, atol=1e-6):
            if not torch.equal(given, images):
                raise AssertionError(f"{where}: the right pixels, but the images passed in were changed as well: "
                                     "work on a copy (x = images.clone())")
            continue
        if any(modes):
            raise AssertionError(f"{where}: the model was left in training mode, so dropout changes every pass "
                                 "(and uses other random numbers): call model.eval() before sampling")
        messages = {
            "one pass": "all missing pixels were drawn from one network pass, which never sees the pixels drawn "
                        "after it: run the model again for every pixel, on the image with every pixel drawn so far",
            "column-major": "the pixels were drawn column by column; the model's order is raster order, row by "
                            "row: for i in the missing rows, for j in the columns",
            "not written back": "each pixel was drawn from a pass over the image as given: write pixel (i, j) "
                                "into the image (x[:, :, i, j] = ...) before the next pass, so that later pixels "
                                "are drawn given it",
            "whole image": "a whole image was drawn at every step and only pixel (i, j) kept: right in "
                           "distribution, but it uses the random numbers differently (and far more of them); "
                           "draw from the output at (i, j) alone, model(x)[:, :, i:i+1, j:j+1]",
            "row per pass": "a whole row was drawn from one pass: a pixel depends on the pixels to its left in "
                            "its row, drawn in the same step; run the model once per pixel",
        }
        for name, value in _sampling_variants(model, images, seed).items():
            if torch.allclose(got, value, atol=1e-6):
                name = name.split("#")[0]
                if name in ("one pass", "not written back"):         # the same pixels; told apart by the passes
                    name = "one pass" if len(modes) == 1 else "not written back"
                raise AssertionError(f"{where}: {messages[name]}")
        wrong = (got != expected).any(0).any(0)                  # (H, W)
        first = wrong.flatten().nonzero()[0, 0].item()
        i, j = divmod(first, size)
        if (i, j) == (half, 0):
            raise AssertionError(f"{where}: the first missing pixel ({half}, 0) already differs from inpaint_lib's: "
                                 "draw each pixel with sample_from_discretized_mix_logistic(l, generator), l = "
                                 "model(x)[:, :, i:i+1, j:j+1], passing the generator and drawing nothing else "
                                 "from it")
        raise AssertionError(f"{where}: the pixels agree with inpaint_lib's before ({i}, {j}) in raster order, but "
                             f"({i}, {j}) differs; your loop ran the model {len(modes)} times for {half * size} "
                             "missing pixels: run it on the updated image once per pixel, in raster order, and "
                             "write only pixel (i, j) back")
    _passed("inpaint_lower_half")
