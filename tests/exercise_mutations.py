"""Plausible wrong answers to the exercises, kept as test data.

Each entry replaces the body of one ``### BEGIN SOLUTION`` block (``block`` counts the marked
blocks of the notebook from 0) and names the words the check cell that follows must say.
The test runs the solution notebook's cells in order with that block swapped, and requires the
next check cell to fail with an AssertionError containing ``expect``.
"""


def _changed(body: str, old: str, new: str) -> str:
    """``body`` with its one occurrence of ``old`` replaced: a wrong answer one edit away from the right one."""
    if body.count(old) != 1:
        raise ValueError(f"{old!r} occurs {body.count(old)} times in the body, not once")
    return body.replace(old, new)


# Exercise 05's dmol_log_prob as the solution writes it; its wrong answers below each change one thing.
DMOL_COUPLING = """    coeffs = torch.tanh(params[:, :, 2 * k:])
    r, g = x[:, 0:1].unsqueeze(2), x[:, 1:2].unsqueeze(2)
    m = torch.cat([means[:, 0:1], means[:, 1:2] + coeffs[:, 0:1] * r,
                   means[:, 2:3] + coeffs[:, 1:2] * r + coeffs[:, 2:3] * g], dim=1)
    log_p = log_bin_mass(x.unsqueeze(2), m, log_scales)
"""
DMOL_LOG_PROB = """
    b, channels, h, w = l.shape
    k = channels // 10
    logits = l[:, :k]
    params = l[:, k:].reshape(b, 3, 3 * k, h, w)
    means = params[:, :, :k]
    log_scales = params[:, :, k:2 * k].clamp(min=-7.0)
""" + DMOL_COUPLING + """    return torch.logsumexp(F.log_softmax(logits, dim=1) + log_p.sum(dim=1), dim=1)
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
        {"block": 0, "expect": "has stride 2, expected 1; the last of the n_layers convs keeps the resolution", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=norm != "batch"),
                   norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)
"""},
        {"block": 0, "expect": "no Sigmoid at the end", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1,
                             bias=norm != "batch"), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers)
"""},
        {"block": 0, "expect": "the first conv has no norm after it", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), norm_layer(norm, ndf), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1,
                             bias=norm != "batch"), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)
"""},
        {"block": 0, "expect": "LeakyReLU(0.2) after its convs, not ReLU", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.ReLU(True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1,
                             bias=norm != "batch"), norm_layer(norm, ndf * mult), nn.ReLU(True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)
"""},
        {"block": 0, "expect": "capped at 8 ndf", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, 2 ** n
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1,
                             bias=norm != "batch"), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)
"""},
        {"block": 0, "expect": "every conv pads by 1", "body": """
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1,
                             bias=norm != "batch"), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1))
    return nn.Sequential(*layers)
"""},
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
    "04_down_shifted_conv": [
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
    "05_dmol_loss": [
        {"block": 0, "expect": "the 255 edge bin is not handled: for x = 1 the probability is 1 - sigmoid(", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid - math.log(127.5))
    return torch.where(x < -0.999, plus - F.softplus(plus), interior)
"""},
        {"block": 0, "expect": "the 0 edge bin is not handled", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid - math.log(127.5))
    return torch.where(x > 0.999, -F.softplus(minus), interior)
"""},
        {"block": 0, "expect": "the tiny-probability fallback is missing", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.log(mass)
    return torch.where(x < -0.999, plus - F.softplus(plus), torch.where(x > 0.999, -F.softplus(minus), interior))
"""},
        {"block": 0, "expect": "subtract log 127.5", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid)
    return torch.where(x < -0.999, plus - F.softplus(plus), torch.where(x > 0.999, -F.softplus(minus), interior))
"""},
        {"block": 0, "expect": "underflows where the sigmoid rounds to 1", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_pdf_mid - math.log(127.5))
    low, high = torch.log(torch.sigmoid(plus)), torch.log(1 - torch.sigmoid(minus))
    return torch.where(x < -0.999, low, torch.where(x > 0.999, high, interior))
"""},
        {"block": 0, "expect": "inf * 0 = nan", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 255), inv_s * (centred - 1 / 255), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scale - 2 * F.softplus(mid)
    interior = torch.where(mass > 1e-5, torch.log(mass), log_pdf_mid - math.log(127.5))
    return torch.where(x < -0.999, plus - F.softplus(plus), torch.where(x > 0.999, -F.softplus(minus), interior))
"""},
        {"block": 0, "expect": "not ± 1/127.5", "body": """
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus, mid = inv_s * (centred + 1 / 127.5), inv_s * (centred - 1 / 127.5), inv_s * centred
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    interior = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)),
                           mid - log_scale - 2 * F.softplus(mid) - math.log(127.5))
    return torch.where(x < -0.999, plus - F.softplus(plus), torch.where(x > 0.999, -F.softplus(minus), interior))
"""},
        {"block": 1, "expect": "the mixture weights are not normalised", "body": _changed(
            DMOL_LOG_PROB, "F.log_softmax(logits, dim=1) + log_p.sum", "logits + log_p.sum")},
        {"block": 1, "expect": "the channel coupling of the means is missing", "body": _changed(
            DMOL_LOG_PROB, DMOL_COUPLING, "    log_p = log_bin_mass(x.unsqueeze(2), means, log_scales)\n")},
        {"block": 1, "expect": "go through tanh", "body": _changed(
            DMOL_LOG_PROB, "coeffs = torch.tanh(params[:, :, 2 * k:])", "coeffs = params[:, :, 2 * k:]")},
        {"block": 1, "expect": "the colours are mixed separately", "body": _changed(
            DMOL_LOG_PROB, "F.log_softmax(logits, dim=1) + log_p.sum(dim=1), dim=1)",
            "F.log_softmax(logits, dim=1).unsqueeze(1) + log_p, dim=2).sum(dim=1)")},
        {"block": 1, "expect": "the log scales are not clamped", "body": _changed(
            DMOL_LOG_PROB, "params[:, :, k:2 * k].clamp(min=-7.0)", "params[:, :, k:2 * k]")},
    ],
    "06_conditional_sampling": [
        {"block": 0, "expect": "all missing pixels were drawn from one network pass", "body": """
    model.eval()
    x = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        l = model(x)
        for i in range(height // 2, height):
            for j in range(width):
                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l[:, :, i:i + 1, j:j + 1], generator)
    return x
"""},
        {"block": 0, "expect": "drawn column by column", "body": """
    model.eval()
    x = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        for j in range(width):
            for i in range(height // 2, height):
                l = model(x)[:, :, i:i + 1, j:j + 1]
                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)
    return x
"""},
        {"block": 0, "expect": "known pixels changed", "body": """
    model.eval()
    x = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        for i in range(height):
            for j in range(width):
                l = model(x)[:, :, i:i + 1, j:j + 1]
                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)
    return x
"""},
        {"block": 0, "expect": "write pixel (i, j) into the image", "body": """
    model.eval()
    x = images.clone()
    out = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        for i in range(height // 2, height):
            for j in range(width):
                l = model(x)[:, :, i:i + 1, j:j + 1]
                out[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)
    return out
"""},
        {"block": 0, "expect": "call model.eval() before sampling", "body": """
    x = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        for i in range(height // 2, height):
            for j in range(width):
                l = model(x)[:, :, i:i + 1, j:j + 1]
                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)
    return x
"""},
        {"block": 0, "expect": "a whole image was drawn at every step", "body": """
    model.eval()
    x = images.clone()
    height, width = x.shape[-2:]
    with torch.no_grad():
        for i in range(height // 2, height):
            for j in range(width):
                x[:, :, i, j] = sample_from_discretized_mix_logistic(model(x), generator)[:, :, i, j]
    return x
"""},
        {"block": 0, "expect": "work on a copy", "body": """
    model.eval()
    x = images
    height, width = x.shape[-2:]
    with torch.no_grad():
        for i in range(height // 2, height):
            for j in range(width):
                l = model(x)[:, :, i:i + 1, j:j + 1]
                x[:, :, i:i + 1, j:j + 1] = sample_from_discretized_mix_logistic(l, generator)
    return x
"""},
    ],
}
