"""Notebook 07's library (inpaint_lib.tryit): images in, masks, PixelCNN++ row by row, its per-pixel beliefs."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint_lib import tryit
from inpaint_lib.masks import centre_square, left_half, lower_half
from inpaint_lib.pixelcnnpp import channel_log_probs, discretized_mix_logistic_log_prob, inpaint, score_completions
from inpaint_lib.pixelcnnpp.sampling import quantize, sample_from_discretized_mix_logistic


def png_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def one_line_error(call, *words):
    """``call()`` raises a ValueError of one line that contains every word of ``words``."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def levels_of(t: torch.Tensor) -> torch.Tensor:
    return torch.round((t + 1) * 127.5)


def random_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# -- 1. images ------------------------------------------------------------------------------------------------------

def test_every_source_gives_the_same_32x32_tensor_on_the_256_levels(tmp_path):
    pixels = random_rgb(80, 60)
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(Image.fromarray(pixels)))
    ways = {"path": tryit.load_image(path), "str path": tryit.load_image(str(path)),
            "bytes": tryit.load_image(path.read_bytes()), "PIL": tryit.load_image(Image.fromarray(pixels)),
            "array": tryit.load_image(pixels)}
    first = ways["path"]
    assert first.shape == (1, 3, 32, 32) and first.dtype == torch.float32
    assert first.min() >= -1 and first.max() <= 1
    assert torch.equal(levels_of(first) / 127.5 - 1, first), "values lie on the 256 levels"
    for way, t in ways.items():
        assert torch.equal(t, first), way


def test_centre_square_then_box_filter_as_the_data_sets_are_made():
    from inpaint_lib.data.converters import _rgb32

    # a landscape picture: the centre 64x64 square is kept, its 2x2 blocks averaged (the Tiny ImageNet converter's way)
    wide = random_rgb(100, 64, seed=1)
    got = tryit.load_image(wide)
    expected = _rgb32(Image.fromarray(wide[:, 18:82]))
    assert torch.equal(got, torch.from_numpy(expected.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1)
    block = wide[:, 18:82].reshape(32, 2, 32, 2, 3).astype(np.float64).mean(axis=(1, 3))
    # the 2x2 mean, to within one level (Pillow averages in fixed point and rounds its own way)
    assert np.abs(levels_of(got)[0].permute(1, 2, 0).numpy() - block).max() <= 1
    # a portrait: the top and bottom are cut; the red bands above and below never reach the 32x32 image
    tall = np.zeros((90, 40, 3), dtype=np.uint8)
    tall[:, :, 1] = 200
    tall[:25, :, 0] = tall[65:, :, 0] = 255
    out = levels_of(tryit.load_image(tall))
    assert (out[0, 0] == 0).all() and (out[0, 1] == 200).all()
    # an image already 32x32 is kept as it is
    small = random_rgb(32, 32, seed=2)
    assert torch.equal(levels_of(tryit.load_image(small))[0].permute(1, 2, 0), torch.from_numpy(small).double())


def test_grayscale_is_replicated_and_alpha_composited_on_white():
    gray = tryit.load_image(Image.fromarray(np.full((40, 40), 90, np.uint8)))
    assert (levels_of(gray) == 90).all()
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 0] = 200                       # red everywhere, but only the left half is opaque
    rgba[:, :20, 3] = 255
    rgba[:, 20:, 3] = 0
    image = tryit.open_image(png_bytes(Image.fromarray(rgba)))
    pixels = np.asarray(image)
    assert image.mode == "RGB" and tuple(pixels[0, 0]) == (200, 0, 0) and tuple(pixels[0, 39]) == (255, 255, 255)
    half = rgba.copy()
    half[..., 3] = 128
    assert tuple(np.asarray(tryit.open_image(half))[5, 5]) == (227, 127, 127)   # 200 a + 255 (1 - a), a = 128/255
    assert tuple(np.asarray(tryit.open_image(half, background=(0, 0, 0)))[5, 5]) == (100, 0, 0)
    palette = Image.fromarray(rgba).convert("P")
    assert tryit.open_image(palette).mode == "RGB"


def test_16_bit_images_are_scaled_to_8_bits():
    deep = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(40, axis=0).repeat(10, axis=1)  # 40x40
    image = Image.fromarray(deep)
    assert image.mode.startswith("I;16")
    for source in (image, png_bytes(image), deep, np.stack([deep] * 3, axis=-1)):
        pixels = np.asarray(tryit.open_image(source))
        assert pixels[0, ::10, 0].tolist() == [0, 1, 128, 255], type(source)
        assert (pixels[..., 0] == pixels[..., 2]).all()


def test_exif_orientation_turns_a_phone_photograph_upright():
    stored = Image.fromarray(random_rgb(64, 40))          # 64 wide, 40 high as stored
    exif = stored.getexif()
    exif[0x0112] = 6                                      # "rotate 90 degrees clockwise to display"
    shown = tryit.open_image(png_bytes(stored, "JPEG", exif=exif.tobytes()))
    assert shown.size == (40, 64)


def test_shipped_photographs_and_data_set_images(tiny_root, monkeypatch):
    photos = tryit.shipped_photographs()
    assert {"astronaut", "coffee", "chelsea", "rocket", "camera"} <= set(photos)
    astronaut = tryit.load_image("astronaut")
    assert astronaut.shape == (1, 3, 32, 32) and astronaut.std() > 0.1
    assert torch.equal(tryit.load_image("cat"), tryit.load_image("chelsea"))    # skimage.data's own name
    gray = tryit.load_image("camera")
    assert torch.equal(gray[:, 0], gray[:, 2])
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    from inpaint_lib.data import load_split, to_float
    assert torch.equal(tryit.load_image("sample:test:3"), to_float(load_split("sample", "test")[3:4]))
    one_line_error(lambda: tryit.load_image("sample:test:99"), "has 16 images", "0 to 15")


def test_bad_images_fail_in_one_line_naming_the_problem_and_the_fix(tmp_path):
    one_line_error(lambda: tryit.load_image(b"certainly not a PNG"), "does not decode", "PNG or JPEG")
    broken = tmp_path / "cut.png"
    broken.write_bytes(png_bytes(Image.fromarray(random_rgb(64, 64)))[:200])   # a truncated file
    one_line_error(lambda: tryit.load_image(broken), "does not decode", "cut.png")
    one_line_error(lambda: tryit.load_image(b""), "empty")
    one_line_error(lambda: tryit.load_image(random_rgb(40, 20)), "tiny image", "40x20", "at least 32x32")
    one_line_error(lambda: tryit.load_image(png_bytes(Image.fromarray(random_rgb(31, 200)))), "tiny image")
    one_line_error(lambda: tryit.load_image(Image.fromarray(np.zeros((40, 40), np.float32))), "mode F", "8- or 16-bit")
    wide_ints = Image.fromarray(np.full((40, 40), 70000, np.int32))
    one_line_error(lambda: tryit.load_image(wide_ints), "mode I", "0..65535")
    one_line_error(lambda: tryit.load_image(np.zeros((3, 40, 40), np.uint8)), "(3, 40, 40)", "transpose")
    one_line_error(lambda: tryit.load_image(np.full((40, 40, 3), 2.0)), "outside [0, 1]")
    one_line_error(lambda: tryit.load_image(np.zeros((40, 40), np.int64)), "dtype int64")
    one_line_error(lambda: tryit.load_image("no_such_photo"), "no image file", "astronaut")
    one_line_error(lambda: tryit.load_image(tmp_path / "missing.jpg"), "no image file")
    one_line_error(lambda: tryit.load_image(3.5), "float")


# -- 2. masks -------------------------------------------------------------------------------------------------------

def test_named_and_rectangle_masks():
    assert torch.equal(tryit.make_mask("lower_half"), lower_half())
    assert torch.equal(tryit.make_mask("left_half"), left_half())
    assert torch.equal(tryit.make_mask("centre_square"), centre_square())
    rect = tryit.make_mask("rectangle", rectangle=(2, 3, 4, 5))
    assert rect.sum() == 20 and rect[2:6, 3:8].all()
    one_line_error(lambda: tryit.make_mask("rectangle", rectangle=(30, 0, 4, 4)), "does not lie inside", "top + height")
    one_line_error(lambda: tryit.make_mask("rectangle"), "needs rectangle")
    one_line_error(lambda: tryit.make_mask("rectangle", rectangle=(0, 0, 32, 32)), "nothing known")
    one_line_error(lambda: tryit.make_mask("rectangle", rectangle=(0, 0, 2.5, 3)), "four ints")
    one_line_error(lambda: tryit.make_mask("circle"), "unknown mask", "strokes")
    one_line_error(lambda: tryit.check_task_mask(torch.zeros(32, 32, dtype=torch.bool)), "nothing missing")
    one_line_error(lambda: tryit.check_task_mask(torch.ones(32, 32, dtype=torch.bool)), "nothing known")
    one_line_error(lambda: tryit.check_task_mask(torch.zeros(32, 32)), "bool")


def test_strokes_on_the_enlarged_canvas_become_the_pixels_the_brush_touched():
    # canvas 320: each image pixel is a 10x10 square. A horizontal line at y = 160 with radius 5 touches the
    # squares of rows 15 (y 150..160) and 16 (y 160..170), and no others
    line = tryit.stroke_mask([[(0, 160), (320, 160)]], radius=5)
    assert line[15].all() and line[16].all() and line.sum() == 64
    # a dot (one point) of radius 3 at (55, 55) touches only the square of pixel (5, 5)
    dot = tryit.stroke_mask([[(55, 55)]], radius=3)
    assert dot.nonzero().tolist() == [[5, 5]]
    # x is the column, y the row
    column = tryit.stroke_mask([[(105, -50), (105, 400)]], radius=2)
    assert column[:, 10].all() and column.sum() == 32
    # a polyline: two segments; a larger canvas scales the same strokes down
    bent = tryit.stroke_mask([[(5, 5), (315, 5), (315, 315)]], radius=2)
    assert bent[0].all() and bent[:, 31].all() and bent.sum() == 63
    assert torch.equal(tryit.stroke_mask([[(10, 10), (630, 10)]], radius=3, canvas_size=640),
                       (torch.arange(32)[:, None] == 0).expand(32, 32))
    one_line_error(lambda: tryit.stroke_mask([[(900, 900)]], radius=3), "nothing missing")
    one_line_error(lambda: tryit.make_mask("strokes", strokes=[]), "needs strokes")
    one_line_error(lambda: tryit.stroke_mask([[1, 2, 3]], radius=3), "stroke 0")
    one_line_error(lambda: tryit.stroke_mask("a line", radius=3), "list of strokes")
    one_line_error(lambda: tryit.stroke_mask([[(1, 2)]], radius=-1), "radius")
    assert not tryit.stroke_mask([[(900, 900)]], radius=3, check=False).any()


def test_known_pixels_after_a_missing_one_are_counted():
    tiny = torch.tensor([[False, True, False], [True, False, False]])   # raster order: K M K M K K
    hidden = tryit.known_after_missing(tiny)
    assert hidden.count == 3
    assert hidden.pixels.tolist() == [[False, False, True], [False, True, True]]
    assert hidden.per_missing.tolist() == [[0, 3, 0], [2, 0, 0]]
    assert tryit.known_after_missing(lower_half()).count == 0          # every known pixel first: an exact sample
    assert not tryit.known_after_missing(lower_half()).per_missing.any()
    square = tryit.known_after_missing(centre_square())                # rows/columns 8..23 missing
    assert square.count == (1024 - (8 * 32 + 8)) - 256 == 504
    assert square.per_missing[8, 8] == 504 and square.per_missing[23, 23] == 1024 - (23 * 32 + 23) - 1
    left = tryit.known_after_missing(left_half())
    assert left.count == 512 and left.per_missing[31, 15] == 16 and left.per_missing[0, 0] == 512
    bottom_row = torch.zeros(32, 32, dtype=torch.bool)
    bottom_row[31, 30:] = True
    assert tryit.known_after_missing(bottom_row).count == 0


# -- 3. completions -------------------------------------------------------------------------------------------------

MASKS = {"lower half": lower_half(), "rectangle": tryit.rectangle_mask(5, 7, 9, 12),
         "strokes": tryit.stroke_mask([[(20, 300), (150, 120), (300, 250)]], radius=12)}


@pytest.mark.parametrize("name", MASKS)
def test_row_by_row_ends_where_inpaint_ends_and_never_changes_a_known_or_drawn_pixel(name, tiny_pixelcnnpp,
                                                                                     random_images):
    model, images, mask = tiny_pixelcnnpp(), random_images(2, seed=3), MASKS[name]
    steps = list(tryit.fill_row_by_row(model, images, mask, n_samples=2, generator=torch.Generator().manual_seed(7),
                                       temperature=0.8))
    once = inpaint(model, images, mask, n_samples=2, sampler="fast", generator=torch.Generator().manual_seed(7),
                   temperature=0.8)
    final = steps[-1].images
    assert torch.equal(final, once), "the last step is inpaint's completion, bit for bit"
    missing_rows = mask.any(dim=1).nonzero().flatten().tolist()
    assert [s.row for s in steps] == missing_rows
    assert [s.step for s in steps] == list(range(1, len(missing_rows) + 1))
    assert all(s.steps == len(missing_rows) for s in steps)
    known = ~mask
    for s in steps:
        assert s.images.shape == (2, 2, 3, 32, 32)
        assert torch.equal(s.images[..., known], images[None].expand(2, -1, -1, -1, -1)[..., known])
        done = torch.arange(32)[:, None] <= s.row
        assert torch.equal(s.images[..., done.expand(32, 32)], final[..., done.expand(32, 32)]), "drawn pixels stay"
        assert (s.images[..., mask & ~done] == 0).all(), "pixels not reached yet are still 0"


def test_the_shipped_model_row_by_row_equals_inpaint():
    from inpaint_lib import pretrained

    model = pretrained.load("pixelcnnpp").model
    image = tryit.load_image("coffee")
    steps = list(tryit.fill_row_by_row(model, image, lower_half(), generator=torch.Generator().manual_seed(0),
                                       temperature=0.9))
    assert len(steps) == 16
    assert torch.equal(steps[-1].images, inpaint(model, image, lower_half(), generator=torch.Generator().manual_seed(0),
                                                 temperature=0.9))


def test_between_steps_the_model_and_torch_are_as_the_caller_left_them(tiny_pixelcnnpp, random_images):
    model = tiny_pixelcnnpp().train()
    threads = torch.get_num_threads()
    rows = tryit.fill_row_by_row(model, random_images(1), lower_half(), generator=torch.Generator().manual_seed(0))
    first = next(rows)
    assert model.training and model.check_inputs
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
    assert not first.images.is_inference() and first.row == 16
    next(rows)
    rows.close()                                  # stopping early is fine
    assert model.training and torch.get_num_threads() == threads


def test_row_by_row_refuses_bad_inputs_in_one_line(tiny_pixelcnnpp, random_images):
    model, images = tiny_pixelcnnpp(), random_images(1)

    def run(*args, **kwargs):
        return lambda: next(tryit.fill_row_by_row(model, *args, **kwargs))

    one_line_error(run(images, torch.zeros(32, 32, dtype=torch.bool)), "nothing missing")
    one_line_error(run(images, torch.ones(32, 32, dtype=torch.bool)), "nothing known")
    one_line_error(run(images, lower_half(), temperature=0), "temperature")
    one_line_error(run(images[0], lower_half()), "(B, 3, 32, 32)")
    one_line_error(run(images * 3, lower_half()), "[-1, 1]")
    one_line_error(run(images, lower_half(16, 16)), "does not fit")
    one_line_error(run(images, lower_half(), n_samples=0), "n_samples")


def test_methods_complete_every_pixel_and_keep_the_known_ones(random_images, tiny_pixelcnnpp):
    train = random_images(20, seed=1)
    image = random_images(1, seed=2)
    mask = tryit.rectangle_mask(10, 4, 8, 20)
    methods = tryit.make_methods(["pixelcnnpp", "unet_l1", "mean_colour", "repeat_last_row", "mirror",
                                  "nearest_neighbour"], train_images=train, pixelcnnpp_model=tiny_pixelcnnpp(), seed=4)
    assert list(methods) == ["PixelCNN++", "L1 U-Net", "mean colour", "repeat last row", "mirror upper half",
                             "nearest neighbour"]
    done = tryit.complete_all(methods, image, mask)
    for label, completion in done.items():
        assert completion.shape == (1, 3, 32, 32), label
        assert torch.equal(completion[..., ~mask], image[..., ~mask]), label
    drawn = inpaint(tiny_pixelcnnpp(), image, mask, generator=torch.Generator().manual_seed(4))[0]
    assert torch.equal(done["PixelCNN++"], drawn), "the PixelCNN++ method draws with its seed"
    one_line_error(lambda: tryit.make_methods(["gan"]), "unknown method", "pixelcnnpp")
    one_line_error(lambda: tryit.make_methods(["nearest_neighbour"]), "need training images")


def test_bits_per_dim_of_completions(tiny_pixelcnnpp, random_images):
    model = tiny_pixelcnnpp()
    images = random_images(3, seed=5)
    completions = inpaint(model, images, lower_half(), generator=torch.Generator().manual_seed(0))[0]
    exact = score_completions(model, completions, lower_half(), images)
    assert torch.allclose(tryit.completion_bits_per_dim(model, completions, lower_half(), images), exact, atol=1e-6)
    # another mask: the sampler's factorisation over the missing pixels, which score_completions refuses
    square = centre_square()
    with pytest.raises(ValueError):
        score_completions(model, completions, square)
    bits = tryit.completion_bits_per_dim(model, completions, square)
    with torch.no_grad():
        q = quantize(completions)                 # scored on the 256 levels
        log_p = discretized_mix_logistic_log_prob(q, model(q))
    expected = -(log_p * square).sum(dim=(1, 2)) / (3 * 256 * math.log(2))
    assert torch.allclose(bits, expected, atol=1e-6)
    # with the true images given, the known pixels are theirs: a completion that repaints them scores the same
    repainted = torch.where(square, completions, -completions)
    assert torch.allclose(tryit.completion_bits_per_dim(model, repainted, square, completions), bits, atol=1e-6)


# -- 4. beliefs -----------------------------------------------------------------------------------------------------

@pytest.fixture
def float64_model(tiny_pixelcnnpp):
    return tiny_pixelcnnpp(nr_logistic_mix=4, dtype=torch.float64, seed=3)


def test_the_three_distributions_sum_to_one_and_give_the_pixel_its_likelihood(float64_model, random_images):
    image = random_images(1, seed=6, dtype=torch.float64)
    image = torch.round((image + 1) * 127.5) / 127.5 - 1
    beliefs = tryit.predictive_distributions(float64_model, image)
    assert beliefs.probs.shape == (32, 32, 3, 256) and beliefs.probs.dtype == torch.float64
    assert (beliefs.probs >= 0).all()
    assert (beliefs.probs.sum(-1) - 1).abs().max() < 1e-12
    assert torch.equal(beliefs.levels, levels_of(image)[0].permute(1, 2, 0).long())
    chosen = beliefs.probs.gather(-1, beliefs.levels[..., None])[..., 0]
    assert torch.allclose(beliefs.bits, -torch.log2(chosen).sum(-1))
    # at T = 1 the product of the three is the likelihood's probability of the pixel, wherever the likelihood does
    # not take its fallback (density at the bin centre, for bin masses below 1e-5)
    with torch.no_grad():
        l = float64_model(image)
        library_bits = -discretized_mix_logistic_log_prob(image, l)[0] / math.log(2)
        per_component = channel_log_probs(image, l)[0]                    # (3, K, H, W)
    edge = (image[0].abs() > 0.999)[:, None].expand_as(per_component)
    no_fallback = ((per_component > math.log(1e-5)) | edge).flatten(0, 1).all(0)
    assert no_fallback.float().mean() > 0.5
    assert (beliefs.bits - library_bits)[no_fallback].abs().max() < 1e-9
    assert (beliefs.entropy > 0).all() and (beliefs.entropy <= 3 * 8 + 1e-9).all()


class FixedOutput(torch.nn.Module):
    """A stand-in for PixelCNN++ whose output is the same mixture parameters l (1, 10K, 32, 32) for every image:
    peaked, many-component distributions whose draws and probabilities can be compared exactly."""

    image_size = 32

    def __init__(self, components: int = 5, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        k, shape = components, (32, 32)
        logits = 2 * torch.randn(1, k, *shape, generator=g)
        means = 1.6 * torch.rand(1, 3, k, *shape, generator=g) - 0.8
        log_scales = -4.5 + 2.5 * torch.rand(1, 3, k, *shape, generator=g)     # scales of 1 to 14 levels
        coeffs = torch.randn(1, 3, k, *shape, generator=g)
        params = torch.cat((means, log_scales, coeffs), dim=2).reshape(1, 9 * k, *shape)
        self.l = torch.nn.Parameter(torch.cat((logits, params), dim=1).double())

    def forward(self, x):
        return self.l.expand(x.shape[0], -1, -1, -1)


def ks_distance(levels: torch.Tensor, probs: torch.Tensor) -> float:
    """Largest gap between the empirical CDF of ``levels`` and the CDF of ``probs`` (256,)."""
    empirical = torch.bincount(levels, minlength=256).double() / len(levels)
    return float((empirical.cumsum(0) - probs.cumsum(0)).abs().max())


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_the_distributions_are_those_the_sampler_draws_from(temperature):
    model = FixedOutput()
    image = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    n = 40000
    for row, col in ((20, 11), (3, 30)):
        at_pixel = model.l.detach()[:, :, row:row + 1, col:col + 1].expand(n, -1, -1, -1)
        draws = sample_from_discretized_mix_logistic(at_pixel, torch.Generator().manual_seed(1),
                                                     temperature=temperature)
        drawn = levels_of(draws[:, :, 0, 0]).long()                          # (n, 3)
        beliefs = tryit.predictive_distributions(model, image, temperature=temperature)
        assert ks_distance(drawn[:, 0], beliefs.at(row, col).probs[0]) < 2.0 / math.sqrt(n)   # beyond p = 0.001
        # G given each of the two reds most often drawn, B given the commonest (r, g): the beliefs at an image whose
        # pixel holds those values
        for r in torch.bincount(drawn[:, 0]).topk(2).indices.tolist():
            pick = drawn[:, 0] == r
            g = int(torch.bincount(drawn[pick, 1]).argmax())
            both = pick & (drawn[:, 1] == g)
            given = image.clone()
            given[0, 0, row, col], given[0, 1, row, col] = r / 127.5 - 1, g / 127.5 - 1
            at = tryit.predictive_distributions(model, given, temperature=temperature).at(row, col)
            assert at.drawn[:2] == (r, g)
            assert ks_distance(drawn[pick, 1], at.probs[1]) < 2.0 / math.sqrt(pick.sum())
            assert ks_distance(drawn[both, 2], at.probs[2]) < 2.0 / math.sqrt(both.sum())


def test_peaked_mixtures_sum_to_one_and_match_the_likelihood():
    model = FixedOutput(components=10, seed=2)
    image = torch.round(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 255).double() / 127.5 - 1
    beliefs = tryit.predictive_distributions(model, image)
    assert (beliefs.probs.sum(-1) - 1).abs().max() < 1e-12
    with torch.no_grad():
        library_bits = -discretized_mix_logistic_log_prob(image, model(image))[0] / math.log(2)
    # random pixels under peaked components: most colours far in a tail, many bins below 1e-5 where the likelihood
    # takes its fallback (the density at the bin centre times the bin's width); the exact masses stay within a
    # fraction of a bit of it even there (pixels of 20 to 70 bits), and agree exactly elsewhere (the test above)
    gap = (beliefs.bits - library_bits).abs()
    assert library_bits.min() > 10 and (gap / library_bits).max() < 0.01 and gap.max() < 0.2


def test_a_lower_temperature_is_more_certain():
    model = FixedOutput()
    image = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    hot = tryit.predictive_distributions(model, image, temperature=1.0)
    cold = tryit.predictive_distributions(model, image, temperature=0.5)
    assert cold.entropy.mean() < hot.entropy.mean() - 1 and cold.temperature == 0.5
    assert (cold.probs.sum(-1) - 1).abs().max() < 1e-12
    belief = hot.at(3, 4)
    assert belief.probs.shape == (3, 256) and len(belief.drawn) == 3 and belief.bits == pytest.approx(hot.bits[3, 4])
    assert sum(belief.entropy) == pytest.approx(float(hot.entropy[3, 4]))
    one_line_error(lambda: hot.at(32, 0), "outside the 32x32 image")
    one_line_error(lambda: tryit.predictive_distributions(model, torch.zeros(2, 3, 32, 32)), "one image")


def test_nothing_here_computes_float64_on_the_model_device(tiny_pixelcnnpp, random_images):
    """An Apple GPU has no float64: the float64 arithmetic of the beliefs happens on host copies only (the guard of
    tests/test_device_portability.py, on the CPU)."""
    from test_device_portability import NoFloat64OnDevice

    model, images, mask = tiny_pixelcnnpp(), random_images(1), tryit.rectangle_mask(3, 3, 20, 20)
    with NoFloat64OnDevice() as guard:
        steps = list(tryit.fill_row_by_row(model, images, mask, generator=torch.Generator().manual_seed(0),
                                           temperature=0.9))
        completion = steps[-1].images[0]
        beliefs = tryit.predictive_distributions(model, completion, temperature=0.9)
        tryit.completion_bits_per_dim(model, completion, mask, images)
        tryit.known_after_missing(mask)
    assert not guard.offences, guard.offences[:5]
    assert beliefs.probs.dtype == torch.float64


# -- figures and the static/live switch ------------------------------------------------------------------------------

def test_every_figure_draws(tiny_pixelcnnpp, random_images):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, image, mask = tiny_pixelcnnpp(), random_images(1), tryit.rectangle_mask(4, 4, 10, 10)
    steps = list(tryit.fill_row_by_row(model, image, mask, generator=torch.Generator().manual_seed(0)))
    completion = steps[-1].images[0]
    beliefs = tryit.predictive_distributions(model, completion)
    figures = [tryit.show_task(image, mask), tryit.show_filling(steps, mask, every=3),
               tryit.show_completions(image, mask, {"PixelCNN++": completion}, {"PixelCNN++": 4.2}, truth=image),
               tryit.show_distributions(beliefs.at(6, 6)), tryit.show_uncertainty(beliefs, mask, completion, (6, 6))]
    assert all(len(f.axes) >= 1 for f in figures)
    plt.close("all")


def test_widgets_are_built_only_when_asked_and_possible(monkeypatch):
    assert tryit.wants_widgets(False) is False
    monkeypatch.setenv("INPAINT_STATIC", "1")
    assert tryit.wants_widgets("auto") is False
    monkeypatch.delenv("INPAINT_STATIC")
    monkeypatch.setattr(tryit, "missing_widget_packages", lambda: ["ipycanvas"])
    assert tryit.wants_widgets("auto") is False
    one_line_error(lambda: tryit.wants_widgets(True), "ipycanvas", "pip install", "interactive = False")
    monkeypatch.setattr(tryit, "missing_widget_packages", lambda: [])
    assert tryit.wants_widgets("auto") is True and tryit.wants_widgets(True) is True
    one_line_error(lambda: tryit.wants_widgets("yes"), "True, False or 'auto'")
