"""PixelCNN++: parameter parity, shapes, causality by gradients, clear errors."""

import pytest
import torch

from inpaint_lib.pixelcnnpp import PixelCNNpp

S = 32


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_parameter_parity_with_the_reference_implementations():
    assert n_params(PixelCNNpp(nr_resnet=1, nr_filters=32)) == 578_760
    assert n_params(PixelCNNpp()) == 53_659_080


def test_output_shape_and_batch_size_independence(tiny_pixelcnnpp, random_images):
    model = tiny_pixelcnnpp(nr_logistic_mix=5)
    x = random_images(3)
    out = model(x)
    assert out.shape == (3, 50, S, S)
    one_by_one = torch.cat([model(x[i:i + 1]) for i in range(3)])        # no state tied to a batch size
    torch.testing.assert_close(out, one_by_one, atol=1e-5, rtol=1e-5)


def test_under_bf16_autocast_the_mixture_parameters_stay_float32(tiny_pixelcnnpp, random_images):
    model = tiny_pixelcnnpp(nr_logistic_mix=5)
    x = random_images(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        inner = model.nin_out(torch.zeros(1, 8, 2, 2))  # any other layer call is autocast as usual
    assert out.dtype == torch.float32 and inner.dtype == torch.bfloat16
    torch.testing.assert_close(out, model(x), atol=0.1, rtol=0.05)  # the body ran in bf16: close, not equal
    assert not torch.equal(out, model(x))


def future_gradients(model, positions):
    """For each raster position p, the gradient of the outputs at p w.r.t. input pixels >= p, and < p.

    Image b of the batch carries position b, so one backward pass checks a whole batch of positions.
    """
    torch.manual_seed(1)
    b = len(positions)
    pos = torch.as_tensor(positions)
    x = (torch.rand(b, 3, S, S) * 2 - 1).requires_grad_(True)
    out = model(x)
    out[torch.arange(b), :, pos // S, pos % S].sum().backward()
    grad = x.grad.abs().sum(dim=1).flatten(1)                              # (b, S*S)
    future = torch.arange(S * S)[None, :] >= pos[:, None]
    return grad[future], grad[~future]


def test_causality_small_model_every_position(tiny_pixelcnnpp):
    model = tiny_pixelcnnpp(nr_filters=4, nr_logistic_mix=2)
    past_seen = 0
    for start in range(0, S * S, 256):
        future, past = future_gradients(model, list(range(start, start + 256)))
        assert torch.count_nonzero(future) == 0, "an output depends on its own pixel or a later one"
        past_seen += torch.count_nonzero(past).item()
    assert past_seen > 0.95 * (S * S) * (S * S - 1) / 2      # and sees nearly all of the past (97% at this depth)


def test_causality_full_model_at_a_spread_of_positions():
    model = PixelCNNpp().eval()
    positions = [1, 32 + 31, 16 * 32 + 16, 1023]
    future, past = future_gradients(model, positions)
    assert torch.count_nonzero(future) == 0
    assert torch.count_nonzero(past) > 0.95 * past.numel()


@pytest.mark.parametrize("x, message", [
    (torch.zeros(2, 1, S, S), r"shape \(B, 3, 32, 32\), got \(2, 1, 32, 32\)"),
    (torch.zeros(3, S, S), r"shape \(B, 3, 32, 32\), got \(3, 32, 32\)"),
    (torch.zeros(2, 3, 16, 16), "image_size=16"),
    (torch.full((2, 3, S, S), 2.0), r"\[-1, 1\]"),
    (torch.full((2, 3, S, S), 255.0), "x / 127.5 - 1"),
])
def test_bad_input_gives_one_clear_line(x, message):
    model = PixelCNNpp(nr_resnet=1, nr_filters=4)
    with pytest.raises(ValueError, match=message) as err:
        model(x)
    assert "\n" not in str(err.value)


def test_range_check_can_be_switched_off_and_bad_settings_fail():
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, check_inputs=False)
    assert model(torch.full((1, 3, S, S), 2.0)).shape == (1, 100, S, S)
    with pytest.raises(ValueError, match="multiple of 4"):
        PixelCNNpp(image_size=30)
    with pytest.raises(ValueError, match="nr_filters"):
        PixelCNNpp(nr_filters=0)


def test_other_image_sizes_when_built_for_them():
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, image_size=8)
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 100, 8, 8)


def _channels_last_copy(model):
    import copy

    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def test_channels_last_model_runs_every_convolution_channels_last(tiny_pixelcnnpp, random_images):
    """With the model and its input in channels_last, every convolution sees a channels_last input and
    weight (nothing on the way falls back to NCHW), and the output is the NCHW model's."""
    cl = torch.channels_last
    model = tiny_pixelcnnpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=3)
    model_cl = _channels_last_copy(model)
    seen = []

    def record(module, args):
        seen.append((type(module).__name__, args[0].is_contiguous(memory_format=cl),
                     module.weight.is_contiguous(memory_format=cl)))

    convs = [m for m in model_cl.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    for conv in convs:
        conv.register_forward_pre_hook(record)
    x = random_images(2)
    out_cl = model_cl(x.contiguous(memory_format=cl))
    assert len(seen) == len(convs) > 0
    not_cl = [s for s in seen if not (s[1] and s[2])]
    assert not not_cl, f"{len(not_cl)} of {len(seen)} convolution calls not channels_last (input, weight): {not_cl[:3]}"
    assert out_cl.is_contiguous(memory_format=cl)
    torch.testing.assert_close(out_cl, model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_every_gradient_has_its_parameters_strides(tiny_pixelcnnpp, random_images, channels_last):
    """DDP's bucket views take the parameters' strides and it warns on any difference, even in a size-1
    dimension ("Grad strides do not match bucket view strides")."""
    model = tiny_pixelcnnpp(nr_resnet=1, nr_filters=8, nr_logistic_mix=3, dropout=0.5).train()
    x = random_images(2)
    if channels_last:
        model, x = _channels_last_copy(model), x.contiguous(memory_format=torch.channels_last)
    model(x).square().mean().backward()
    bad = [(n, tuple(p.shape), p.stride(), p.grad.stride()) for n, p in model.named_parameters()
           if p.grad.stride() != p.stride()]
    assert not bad, f"gradients with other strides than their parameters (name, shape, strides, grads'): {bad[:3]}"
