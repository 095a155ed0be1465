"""Plausible wrong answers to the exercises, kept as test data.

Each entry names a marked block of one solution notebook (``block`` counts its ``### BEGIN
SOLUTION`` blocks from 0), a wrong answer for it and the words the check cell that follows must
say (``expect``). The wrong answer is either

- ``edits``: ``(old, new)`` pairs applied to the solution's own block, each ``old`` occurring
  there exactly once: a mistake one edit away from the right answer, which follows the solution
  when the solution changes; or
- ``body``: a whole replacement, for a wrong answer built differently.

The test runs the solution notebook's cells in order with that block swapped, and requires the
next check cell to fail with an AssertionError containing ``expect``.
"""


MUTATIONS = {
    "01_masking_and_psnr": [
        {"block": 0, "expect": "shifted down by one row", "body": """
    rows = torch.arange(height)[:, None].expand(height, width)
    return rows > height // 2
"""},
        {"block": 0, "expect": "UPPER half", "body": """
    rows = torch.arange(height)[:, None].expand(height, width)
    return rows < height // 2
"""},
        {"block": 0, "expect": "must be a bool tensor", "body": """
    mask = torch.zeros(height, width)
    mask[height // 2:] = 1
    return mask
"""},
        {"block": 1, "expect": "known (upper) pixels are counted too", "body": """
    return 10 * torch.log10(4 / (prediction - target).square().flatten(1).mean(1))
"""},
        {"block": 1, "expect": "the peak value is wrong", "body": """
    missing = mask.expand_as(target).to(target.dtype)
    mse = ((prediction - target).square() * missing).flatten(1).sum(1) / missing.flatten(1).sum(1)
    return 10 * torch.log10(1 / mse)
"""},
        {"block": 1, "expect": "one value per image", "body": """
    missing = mask.expand_as(target).to(target.dtype)
    mse = ((prediction - target).square() * missing).sum() / missing.sum()
    return 10 * torch.log10(4 / mse)
"""},
        {"block": 1, "expect": "use the mask you are given", "body": """
    mse = (prediction - target)[:, :, 16:].square().flatten(1).mean(1)
    return 10 * torch.log10(4 / mse)
"""},
    ],
    "02_unet_skip_block": [
        {"block": 0, "expect": "concatenation order is swapped", "body": """
    if self.outermost:
        return self.model(x)
    return torch.cat([self.model(x), x], 1)
"""},
        {"block": 0, "expect": "skip connection is missing", "body": """
    return self.model(x)
"""},
        {"block": 0, "expect": "outermost block must not concatenate", "body": """
    return torch.cat([x, self.model(x)], 1)
"""},
        {"block": 0, "expect": "must stay in the graph", "body": """
    if self.outermost:
        return self.model(x)
    y = self.model(x)
    return torch.cat([x.detach(), y], 1)
"""},
        {"block": 0, "expect": "before the block's in-place LeakyReLU", "body": """
    if self.outermost:
        return self.model(x)
    skip = x.clone()
    return torch.cat([skip, self.model(x)], 1)
"""},
        {"block": 0, "expect": "is added (x + self.model(x))", "body": """
    if self.outermost:
        return self.model(x)
    return x + self.model(x)
"""},
    ],
    "03_patchgan_and_gan_loss": [
        {"block": 0, "expect": "has stride 2, expected 1; the last of the n_layers convs keeps the resolution",
            "edits": [("stride = 2 if n < n_layers else 1", "stride = 2")]},
        {"block": 0, "expect": "no Sigmoid at the end",
            "edits": [("layers.append(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1))",
                       "layers += [nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1), nn.Sigmoid()]")]},
        {"block": 0, "expect": "the first conv has no norm after it",
            "edits": [("padding=1), nn.LeakyReLU(0.2, True)]",
                       "padding=1), norm_layer(norm, ndf), nn.LeakyReLU(0.2, True)]")]},
        {"block": 0, "expect": "LeakyReLU(0.2) after its convs, not ReLU",
            "edits": [("padding=1), nn.LeakyReLU(0.2, True)]", "padding=1), nn.ReLU(True)]"),
                      ("ndf * mult), nn.LeakyReLU(0.2, True)]", "ndf * mult), nn.ReLU(True)]")]},
        {"block": 0, "expect": "capped at 8 ndf", "edits": [("min(2 ** n, 8)", "2 ** n")]},
        {"block": 0, "expect": "every conv pads by 1",
            "edits": [("nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)",
                       "nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1)")]},
        {"block": 1, "expect": "update r first, then j", "body": """
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r
"""},
        {"block": 1, "expect": "the jump is missing", "body": """
    return 1 + sum(k - 1 for k, s in layers)
"""},
        {"block": 1, "expect": "from the output to the input", "body": """
    r, j = 1, 1
    for k, s in reversed(layers):
        r += (k - 1) * j
        j *= s
    return r
"""},
        {"block": 2, "expect": "the labels are swapped", "body": """
    target = torch.full_like(prediction, 0.0 if target_is_real else 1.0)
    return F.binary_cross_entropy_with_logits(prediction, target)
"""},
        {"block": 2, "expect": "the sigmoid is applied twice", "body": """
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    return F.binary_cross_entropy_with_logits(torch.sigmoid(prediction), target)
"""},
        {"block": 2, "expect": "the sigmoid saturates in float32", "body": """
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    return F.binary_cross_entropy(torch.sigmoid(prediction), target)
"""},
        {"block": 2, "expect": "log(1 - 1) = -inf", "body": """
    p = torch.sigmoid(prediction)
    return -(p.log() if target_is_real else (1 - p).log()).mean()
"""},
        {"block": 2, "expect": "average over every logit (mean)", "body": """
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    return F.binary_cross_entropy_with_logits(prediction, target, reduction="sum")
"""},
        {"block": 2, "expect": "least-squares (lsgan)", "body": """
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    return F.mse_loss(prediction, target)
"""},
    ],
    "04a_down_shifted_conv": [
        {"block": 0, "expect": "symmetric ('same') padding", "body": """
    return F.conv2d(x, weight, bias, padding="same")
"""},
        {"block": 0, "expect": "at the bottom instead of the top", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, 0, kh - 1)), weight, bias)
"""},
        {"block": 0, "expect": "off by one row", "body": """
    kh, kw = weight.shape[-2:]
    out = F.conv2d(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh, 0)), weight, bias)
    return out[:, :, :-1]
"""},
        {"block": 0, "expect": "the output has 8 rows for an input of 7", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh, 0)), weight, bias)
"""},
        {"block": 0, "expect": "padded like the down-right-shifted conv", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, (kw - 1, 0, kh - 1, 0)), weight, bias)
"""},
        {"block": 1, "expect": "padded on the right", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, (0, kw - 1, kh - 1, 0)), weight, bias)
"""},
        {"block": 1, "expect": "centred, as in the down-shifted conv", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)), weight, bias)
"""},
        {"block": 1, "expect": "at the bottom instead of the top", "body": """
    kh, kw = weight.shape[-2:]
    return F.conv2d(F.pad(x, (kw - 1, 0, 0, kh - 1)), weight, bias)
"""},
        {"block": 2, "expect": "what the *whole* output sees", "body": """
    x = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_(True)
    layer(x).sum().backward()
    return x.grad.abs().sum(dim=(0, 1)) > 0
"""},
        {"block": 2, "expect": "rows and columns are swapped", "body": """
    x = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_(True)
    i, j = position
    layer(x)[:, :, j, i].sum().backward()
    return x.grad.abs().sum(dim=(0, 1)).T > 0
"""},
        {"block": 2, "expect": "misses pixels the output does see", "body": """
    x = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_(True)
    i, j = position
    layer(x)[:, :, i, j].sum().backward()
    return x.grad.sum(dim=(0, 1)) > 0
"""},
        {"block": 2, "expect": "return a bool map", "body": """
    x = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_(True)
    i, j = position
    layer(x)[:, :, i, j].sum().backward()
    return x.grad.abs().sum(dim=(0, 1))
"""},
    ],
    "04b_dmol_loss": [
        {"block": 0, "expect": "the 255 edge bin is not handled: for x = 1 the probability is 1 - sigmoid(",
            "edits": [("torch.where(x > 0.999, log_one_minus_cdf_minus, interior))", "interior)")]},
        {"block": 0, "expect": "the 0 edge bin is not handled",
            "edits": [("torch.where(x < -0.999, log_cdf_plus, "
                       "torch.where(x > 0.999, log_one_minus_cdf_minus, interior))",
                       "torch.where(x > 0.999, log_one_minus_cdf_minus, interior)")]},
        {"block": 0, "expect": "the tiny-probability fallback is missing",
            "edits": [("torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid - math.log(127.5))",
                       "torch.log(mass)")]},
        {"block": 0, "expect": "subtract log 127.5", "edits": [("log_pdf_mid - math.log(127.5))", "log_pdf_mid)")]},
        {"block": 0, "expect": "underflows where the sigmoid rounds to 1",
            "edits": [("plus - F.softplus(plus)", "torch.log(torch.sigmoid(plus))"),
                      ("-F.softplus(minus)", "torch.log(1 - torch.sigmoid(minus))")]},
        {"block": 0, "expect": "inf * 0 = nan", "edits": [("torch.log(mass.clamp(min=1e-12))", "torch.log(mass)")]},
        {"block": 0, "expect": "not ± 1/127.5",
            "edits": [("centred + 1 / 255", "centred + 1 / 127.5"),
                      ("centred - 1 / 255", "centred - 1 / 127.5")]},
        {"block": 1, "expect": "the mixture weights are not normalised",
            "edits": [("F.log_softmax(logits, dim=1) + log_p.sum", "logits + log_p.sum")]},
        {"block": 1, "expect": "the channel coupling of the means is missing",
            "edits": [("log_bin_mass(x.unsqueeze(2), m, log_scales)",
                       "log_bin_mass(x.unsqueeze(2), means, log_scales)")]},
        {"block": 1, "expect": "go through tanh",
            "edits": [("coeffs = torch.tanh(params[:, :, 2 * k:])", "coeffs = params[:, :, 2 * k:]")]},
        {"block": 1, "expect": "the colours are mixed separately",
            "edits": [("F.log_softmax(logits, dim=1) + log_p.sum(dim=1), dim=1)",
                       "F.log_softmax(logits, dim=1).unsqueeze(1) + log_p, dim=2).sum(dim=1)")]},
        {"block": 1, "expect": "the log scales are not clamped",
            "edits": [("params[:, :, k:2 * k].clamp(min=-7.0)", "params[:, :, k:2 * k]")]},
    ],
    "05_ema": [
        {"block": 0, "expect": "no warm-up", "body": """
    return decay
"""},
        {"block": 0, "expect": "max instead of min", "edits": [("return min(", "return max(")]},
        {"block": 0, "expect": "the step is counted from 1", "edits": [("(1 + step) / (10 + step)",
                                                                       "(2 + step) / (11 + step)")]},
        {"block": 0, "expect": "never reaches `decay`", "edits": [("min(decay, (1 + step) / (10 + step))",
                                                                   "(1 + step) / (10 + step)")]},
        {"block": 1, "expect": "moved the wrong way", "edits": [("mine.mul_(d).add_(theirs, alpha=1 - d)",
                                                                 "mine.mul_(1 - d).add_(theirs, alpha=d)")]},
        {"block": 1, "expect": "no warm-up", "edits": [("d = ema_decay(decay, step)", "d = decay")]},
        {"block": 1, "expect": "buffers were averaged",
            "edits": [("            mine.copy_(theirs)",
                       "            if mine.is_floating_point():\n"
                       "                mine.mul_(d).add_(theirs, alpha=1 - d)\n"
                       "            else:\n"
                       "                mine.copy_(theirs)")]},
        {"block": 1, "expect": "were not updated", "edits": [("            mine.copy_(theirs)", "            pass")]},
        {"block": 1, "expect": "require gradients", "body": """
    d = ema_decay(decay, step)
    average.requires_grad_(True)
    for mine, theirs in zip(average.parameters(), model.parameters()):
        mine.data = d * mine.data + (1 - d) * theirs.data
    for mine, theirs in zip(average.buffers(), model.buffers()):
        mine.copy_(theirs)
"""},
    ],
    "06_conditional_sampling": [
        {"block": 0, "expect": "the Gumbel noise has the wrong sign",
            "edits": [("(logits - torch.log(-torch.log(u_k)))", "(logits + torch.log(-torch.log(u_k)))")]},
        {"block": 0, "expect": "clip", "edits": [("v.clamp(-1.0, 1.0) + 1", "v + 1")]},
        {"block": 0, "expect": "256 levels",
            "edits": [("return torch.round((v.clamp(-1.0, 1.0) + 1) * 127.5) / 127.5 - 1",
                       "return v.clamp(-1.0, 1.0)")]},
        {"block": 0, "expect": "coupled to the raw logistic draws",
            "edits": [("g = level(y[:, 1] + coef[:, 0] * r)", "g = level(y[:, 1] + coef[:, 0] * y[:, 0])"),
                      ("b_ = level(y[:, 2] + coef[:, 1] * r + coef[:, 2] * g)",
                       "b_ = level(y[:, 2] + coef[:, 1] * y[:, 0] + coef[:, 2] * y[:, 1])")]},
        {"block": 0, "expect": "beta and gamma are swapped",
            "edits": [("coef[:, 1] * r + coef[:, 2] * g", "coef[:, 2] * r + coef[:, 1] * g")]},
        {"block": 0, "expect": "drawn in another order",
            "edits": [("    u_k = uniform(logits.shape)",
                       "    u_c = uniform((b, 3, h, w))\n    u_k = uniform(logits.shape)"),
                      ("    u_c = uniform((b, 3, h, w))                               # then", "    # then")]},
        {"block": 0, "expect": "follow the mixture's probabilities", "body": """
    b, c, h, w = l.shape
    k = c // 10
    params = l[:, k:].reshape(b, 3, 3, k, h, w)
    u = torch.rand((b, 3, h, w), generator=generator, dtype=l.dtype) * (1 - 2e-5) + 1e-5
    mu = params[:, :, 0].mean(dim=2)                          # the components' average, not one component
    y = mu + 0.05 * (torch.log(u) - torch.log1p(-u))
    return torch.round((y.clamp(-1.0, 1.0) + 1) * 127.5) / 127.5 - 1
"""},
        {"block": 1, "expect": "all missing pixels were drawn from one network pass",
            "edits": [("    with torch.no_grad():\n", "    with torch.no_grad():\n        l_all = model(x)\n"),
                      ("l = model(x)[:, :, i:i + 1, j:j + 1]", "l = l_all[:, :, i:i + 1, j:j + 1]")]},
        {"block": 1, "expect": "drawn column by column",
            "edits": [("for i in range(height // 2, height):\n            for j in range(width):",
                       "for j in range(width):\n            for i in range(height // 2, height):")]},
        {"block": 1, "expect": "known pixels changed", "edits": [("range(height // 2, height)", "range(height)")]},
        {"block": 1, "expect": "write pixel (i, j) into the image",
            "edits": [("    x = images.clone()\n", "    x = images.clone()\n    out = images.clone()\n"),
                      ("x[:, :, i:i + 1, j:j + 1] = sample", "out[:, :, i:i + 1, j:j + 1] = sample"),
                      ("return x", "return out")]},
        {"block": 1, "expect": "call model.eval() before sampling", "edits": [("    model.eval()\n", "")]},
        {"block": 1, "expect": "a whole image was drawn at every step",
            "edits": [("l = model(x)[:, :, i:i + 1, j:j + 1]\n"
                       "                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)",
                       "x[:, :, i, j] = sample_from_discretized_mix_logistic(model(x), generator)[:, :, i, j]")]},
        {"block": 1, "expect": "work on a copy", "edits": [("x = images.clone()", "x = images")]},
    ],
}
