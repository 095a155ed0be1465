"""Conditional sampling (naive and fast) and the conditional likelihood of PixelCNN++.

The sampler equality tests run in float64: the fast sampler computes single rows and pixels, for
which the convolution libraries may sum in another order than for whole maps (about 1e-7 apart in
float32), and a draw that lands within that distance of a bin edge would then differ. In float64
those differences are 1e-16 and the equality is exact in practice, on any machine.
"""

from __future__ import annotations

import math

import pytest
import torch

from inpaint_lib.masks import centre_square, lower_half, random_rectangles
from inpaint_lib.pixelcnnpp.fast_sampling import RowCachedPixelCNNpp, conv_at, deconv_at
from inpaint_lib.pixelcnnpp.inpainting import (
    best_of_n,
    conditional_bits_per_dim,
    inpaint,
    inpainting_method,
    score_completions,
)
from inpaint_lib.pixelcnnpp.layers import image_and_border
from inpaint_lib.pixelcnnpp.likelihood import discretized_mix_logistic_log_prob
from inpaint_lib.pixelcnnpp.model import PixelCNNpp


def tiny_model(nr_resnet: int = 1, size: int = 32, dtype=torch.float32, seed: int = 0) -> PixelCNNpp:
    torch.manual_seed(seed)
    return PixelCNNpp(nr_resnet=nr_resnet, nr_filters=8, nr_logistic_mix=3, image_size=size).to(dtype).eval()


def images(batch: int, size: int = 32, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    """Images on the 256 levels, as the data loaders give them."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (batch, 3, size, size), generator=generator) / 127.5 - 1).to(dtype)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- the fast sampler is the naive one ------------------------------------------------------------

def awkward_mask() -> torch.Tensor:
    """Rows that exercise every case of the schedule: a first drawn row that is odd (the first pass covers
    the rows above it, rounded up to whole 8x8 rows), rows drawn from column 0 (ul rows computed pixel by pixel)
    and from further right (ul rows refreshed), known pixels after the last drawn one, rows with nothing drawn in
    between, and an image whose missing pixels start later than the other's."""
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[0, 5, :7] = True          # odd first row, from column 0, known pixels after
    mask[0, 6, 3:] = True          # from column 3 to the edge
    mask[0, 9] = True              # rows 7, 8 drawn in no image; a whole row (i % 4 == 1)
    mask[0, 12, [0, 1, 4, 15]] = True   # i % 4 == 0: every level, scattered columns
    mask[1, 8:11, 2:9] = True      # the other image: a rectangle, known pixels on both sides
    mask[1, 15, :] = True
    return mask


@pytest.mark.parametrize("nr_resnet, size, mask", [
    (1, 16, lower_half(16, 16)),
    (1, 16, random_rectangles(2, 16, 16, count=2, min_size=2, max_size=4, generator=torch.Generator().manual_seed(5))),
    (2, 16, awkward_mask()),
], ids=["lower_half", "rectangles_per_image", "awkward_rows"])
def test_fast_draws_the_same_pixels_as_naive(nr_resnet, size, mask):
    model = tiny_model(nr_resnet, size, torch.float64)
    x = images(2, size, torch.float64)
    naive = inpaint(model, x, mask, n_samples=2, sampler="naive", generator=generator(7))
    fast = inpaint(model, x, mask, n_samples=2, sampler="fast", generator=generator(7))
    assert naive.shape == (2, 2, 3, size, size)
    assert torch.equal(naive, fast)
    assert not torch.equal(naive[0], naive[1]), "the two completions of an image should differ"


@pytest.mark.parametrize("temperature", [0.5, 0.8, 1.3])
def test_fast_draws_the_same_pixels_as_naive_at_every_temperature(temperature):
    model = tiny_model(1, 16, torch.float64)
    x = images(2, 16, torch.float64)
    mask = lower_half(16, 16)
    naive = inpaint(model, x, mask, sampler="naive", generator=generator(7), temperature=temperature)
    fast = inpaint(model, x, mask, sampler="fast", generator=generator(7), temperature=temperature)
    assert torch.equal(naive, fast)
    assert not torch.equal(fast, inpaint(model, x, mask, sampler="fast", generator=generator(7)))   # T changes the draw
    method = inpainting_method(model, seed=7, temperature=temperature)
    assert torch.equal(method(x, mask), fast[0]) and f"T={temperature:g}" in method.name


def test_a_channels_last_model_draws_the_same_pixels():
    """The cache has its own (channels_last) layout whatever the model's: the same pixels from either."""
    model, x, mask = tiny_model(1, 16, torch.float64), images(2, 16, torch.float64), lower_half(16, 16)
    nchw = inpaint(model, x, mask, sampler="fast", generator=generator(1))
    model = model.to(memory_format=torch.channels_last)
    fast = inpaint(model, x.contiguous(memory_format=torch.channels_last), mask, sampler="fast",
                   generator=generator(1))
    naive = inpaint(model, x.contiguous(memory_format=torch.channels_last), mask, sampler="naive",
                    generator=generator(1))
    assert torch.equal(fast, nchw) and torch.equal(naive, nchw)


def test_inpaint_refuses_a_generator_on_another_device_in_one_line():
    """A real CPU generator with a model on the meta device (no accelerator needed): refused before any draw."""
    model = tiny_model(1, 8).to("meta")
    with pytest.raises(ValueError, match=r"the generator is on cpu but the model on meta; "
                                         r"make it with torch.Generator\(device='meta'\)") as info:
        inpaint(model, images(1, 8), lower_half(8, 8), generator=generator(0))
    assert "\n" not in str(info.value)


def test_row_and_pixel_computations_match_every_layer():
    """conv_at / deconv_at give the rows (and ul pixels) of each layer's own output on the whole map."""
    model = tiny_model(1, 16, torch.float64)
    torch.manual_seed(3)
    f = model.nr_filters
    with torch.no_grad():
        x = image_and_border(torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2 - 1)
        for name, layer in ([("u_init", model.u_init), ("ul_init_above", model.ul_init_above),
                             ("ul_init_left", model.ul_init_left)]):
            full = layer(x)
            for r in range(16):
                torch.testing.assert_close(conv_at(layer, x, r), full[:, :, r:r + 1], msg=f"{name} row {r}")
                for c in (0, 1, 7, 15):
                    torch.testing.assert_close(conv_at(layer, x, r, c), full[:, :, r:r + 1, c:c + 1],
                                               msg=f"{name} pixel ({r}, {c})")
        h = torch.randn(2, 2 * f, 16, 16, dtype=torch.float64)
        block = model.up[0][0]
        for name, layer, src in (("u conv_out", block[0].conv_out, h), ("ul conv_out", block[1].conv_out, h),
                                 ("downsize_u", model.downsize_u[0], h[:, :f]),
                                 ("downsize_ul", model.downsize_ul[0], h[:, :f])):
            full = layer(src)
            for r in range(full.shape[2]):
                torch.testing.assert_close(conv_at(layer, src, r), full[:, :, r:r + 1], msg=f"{name} row {r}")
                if "ul" in name:
                    for c in range(full.shape[3]):
                        torch.testing.assert_close(conv_at(layer, src, r, c), full[:, :, r:r + 1, c:c + 1],
                                                   msg=f"{name} pixel ({r}, {c})")
        small = h[:, :f, :8, :8]
        for name, layer in (("upsize_u", model.upsize_u[0]), ("upsize_ul", model.upsize_ul[0])):
            full = layer(small)
            for r in range(16):
                torch.testing.assert_close(deconv_at(layer, small, r), full[:, :, r:r + 1], msg=f"{name} row {r}")
                if name == "upsize_ul":
                    for c in range(16):
                        torch.testing.assert_close(deconv_at(layer, small, r, c), full[:, :, r:r + 1, c:c + 1],
                                                   msg=f"{name} pixel ({r}, {c})")


@pytest.mark.parametrize("start", [None, 7])
def test_cached_outputs_follow_a_full_pass_in_float32(start):
    """At every drawn position the cached output is model(x) there, to float32 rounding; with ``start`` the
    first pass covers only the rows above row 7 (rounded up to 8), and the ul rows are left to the pixels."""
    model = tiny_model(2, 16)
    x = images(2, 16)
    x[:, :, 8:] = 0
    g = generator(0)
    with torch.inference_mode():
        net = RowCachedPixelCNNpp(model, x, start=start)
        for i in range(7, 10):                       # row 8, a multiple of 4, updates every level
            net.refresh(i, ul=start is None)
            for j in range(16):
                net.update(i, j)
                expected = model(net.images())[:, :, i:i + 1, j:j + 1]
                torch.testing.assert_close(net.output_at(i, j), expected, atol=1e-5, rtol=1e-5)
                net.set_pixel(i, j, torch.rand(2, 3, generator=g) * 2 - 1, torch.ones(2, dtype=torch.bool))
    assert net.top == (16 if start is None else 8)


# -- what inpaint promises --------------------------------------------------------------------------

def test_known_pixels_are_returned_exactly_and_missing_values_ignored():
    model = tiny_model(1, 8)
    x = images(2, 8)
    mask = lower_half(8, 8)
    poisoned = x.clone()
    poisoned[:, :, 4:] = float("nan")                 # values under the mask are never read
    out = inpaint(model, poisoned, mask, n_samples=3, generator=generator(0))
    assert out.shape == (3, 2, 3, 8, 8)
    assert torch.equal(out[:, :, :, :4], x[None, :, :, :4].expand(3, -1, -1, -1, -1))
    assert torch.isfinite(out).all() and out.abs().max() <= 1
    levels = (out + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-3), "drawn pixels lie on the 256 levels"


def test_seeds_decide_the_completions():
    model = tiny_model(1, 8)
    x, mask = images(1, 8), lower_half(8, 8)
    a = inpaint(model, x, mask, generator=generator(1))
    b = inpaint(model, x, mask, generator=generator(1))
    c = inpaint(model, x, mask, generator=generator(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_training_mode_is_restored():
    model = tiny_model(1, 8).train()
    inpaint(model, images(1, 8), lower_half(8, 8), generator=generator(0))
    assert model.training


@pytest.mark.parametrize("kwargs, message", [
    (dict(mask=torch.zeros(8, 8, dtype=torch.bool)), "leaves nothing missing"),
    (dict(mask=torch.ones(8, 8, dtype=torch.bool)), r"sample\("),
    (dict(images=torch.zeros(1, 3, 16, 16)), r"\(B, 3, 8, 8\)"),
    (dict(images=torch.zeros(1, 1, 8, 8)), r"\(B, 3, 8, 8\)"),
    (dict(images=torch.zeros(3, 8, 8)), r"\(B, 3, 8, 8\)"),
    (dict(sampler="clever"), "unknown sampler 'clever'"),
    (dict(n_samples=0), "n_samples"),
    (dict(mask=torch.ones(8, 8)), "bool"),
    (dict(mask=torch.ones(4, 4, dtype=torch.bool)), "does not fit"),
])
def test_bad_input_is_refused_in_one_line(kwargs, message):
    call = dict(model=tiny_model(1, 8), images=images(1, 8), mask=lower_half(8, 8), sampler="fast")
    call.update(kwargs)
    with pytest.raises(ValueError, match=message) as info:
        inpaint(**call)
    assert "\n" not in str(info.value)


def test_per_image_mask_with_an_empty_image_is_refused():
    mask = lower_half(8, 8).repeat(2, 1, 1)
    mask[1] = False
    with pytest.raises(ValueError, match="image 1"):
        inpaint(tiny_model(1, 8), images(2, 8), mask)
    mask[1] = True  # image 1 all missing: nothing to condition on, although image 0 has a known half
    with pytest.raises(ValueError, match=r"leaves nothing known in image 1; .*sample\(model, n\)"):
        inpaint(tiny_model(1, 8), images(2, 8), mask)


def test_score_completions_checks_the_mask_against_the_images_not_the_stack():
    model, x = tiny_model(1, 8), images(2, 8)
    completions = x.expand(3, -1, -1, -1, -1)               # n = 3 completions of B = 2 images
    per_image = lower_half(8, 8).repeat(2, 1, 1)
    torch.testing.assert_close(score_completions(model, completions, per_image),
                               score_completions(model, completions, lower_half(8, 8)))
    with pytest.raises(ValueError, match=r"does not fit images of shape \(2, 3, 8, 8\)"):
        score_completions(model, completions, lower_half(8, 8).repeat(6, 1, 1))
    per_image[0] = False
    with pytest.raises(ValueError, match="leaves nothing missing in image 0; the conditional likelihood"):
        score_completions(model, completions, per_image)


# -- conditional likelihood -----------------------------------------------------------------------

def test_conditional_bpd_of_the_lower_half_is_full_minus_upper():
    """-log p(lower | upper) = -log p(x) - (-log p(upper)), with p(upper) from a pass that never sees the lower half."""
    model = tiny_model(1, 32)
    x = images(3)
    with torch.no_grad():
        full_nats = -discretized_mix_logistic_log_prob(x, model(x)).sum(dim=(1, 2))
        scrambled = x.clone()
        scrambled[:, :, 16:] = images(3, seed=9)[:, :, 16:]
        upper_nats = -discretized_mix_logistic_log_prob(scrambled, model(scrambled))[:, :16].sum(dim=1).sum(dim=1)
    expected = (full_nats - upper_nats) / (3 * 16 * 32 * math.log(2))
    got = conditional_bits_per_dim(model, x, lower_half())
    assert got.shape == (3,)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_conditional_bpd_with_nothing_known_is_the_unconditional_bpd():
    model = tiny_model(1, 16)
    x = images(2, 16)
    with torch.no_grad():
        nats = -discretized_mix_logistic_log_prob(x, model(x)).sum(dim=(1, 2))
    got = conditional_bits_per_dim(model, x, torch.ones(16, 16, dtype=torch.bool))
    torch.testing.assert_close(got, nats / (3 * 16 * 16 * math.log(2)))


def test_conditional_bpd_refuses_a_mask_that_is_not_a_raster_suffix():
    with pytest.raises(ValueError, match="raster order"):
        conditional_bits_per_dim(tiny_model(1, 16), images(1, 16), centre_square(16, 16, size=4))
    with pytest.raises(ValueError, match="leaves nothing missing"):
        conditional_bits_per_dim(tiny_model(1, 16), images(1, 16), torch.zeros(16, 16, dtype=torch.bool))


def test_score_completions_and_best_of_n():
    model = tiny_model(1, 8)
    x, mask = images(2, 8), lower_half(8, 8)
    completions = inpaint(model, x, mask, n_samples=3, generator=generator(0))
    scores = score_completions(model, completions, mask)
    assert scores.shape == (3, 2)
    torch.testing.assert_close(scores[1], conditional_bits_per_dim(model, completions[1], mask))
    # the true image as a "completion" scores as conditional_bits_per_dim says
    torch.testing.assert_close(score_completions(model, x, mask), conditional_bits_per_dim(model, x, mask))
    # completions are quantised first: less than half a bin of noise changes nothing
    jitter = (torch.rand(x.shape, generator=generator(4)) - 0.5) * (0.9 / 127.5)
    torch.testing.assert_close(score_completions(model, (x + jitter).clamp(-1, 1), mask),
                               score_completions(model, x, mask))
    # with images=..., a completion's own (wrong) known region is replaced by the true one
    repainted = completions[0].clone()
    repainted[:, :, :4] = 0.0
    torch.testing.assert_close(score_completions(model, repainted, mask, images=x), scores[0])

    best = best_of_n(model, completions, mask)
    assert torch.equal(best.index, scores.argmin(dim=0))
    for b in range(2):
        assert torch.equal(best.images[b], completions[best.index[b], b])
    torch.testing.assert_close(best.bits_per_dim, scores)
    # scored again on their own, the chosen completions are the most likely of the n, image by image
    assert not torch.equal(scores.min(dim=0).values, scores.max(dim=0).values)
    torch.testing.assert_close(score_completions(model, best.images, mask), scores.min(dim=0).values)


def test_images_of_another_float_dtype_are_cast_to_the_models():
    """float64 pictures (numpy's default) with a float32 model: same figures, the caller's dtype back."""
    model, x, mask = tiny_model(size=16), images(2, 16), lower_half(16, 16)
    x64 = x.double()
    assert torch.equal(conditional_bits_per_dim(model, x64, mask), conditional_bits_per_dim(model, x, mask))
    # quantised in float64 first, so a bin centre may come out one float32 step away
    assert torch.allclose(score_completions(model, x64, mask), score_completions(model, x, mask), rtol=1e-6, atol=0)
    out = inpaint(model, x64, mask, generator=generator(0))
    assert out.dtype == torch.float64 and torch.equal(out[0][:, :, :8], x64[:, :, :8])
    assert torch.equal(out.float(), inpaint(model, x, mask, generator=generator(0)))
