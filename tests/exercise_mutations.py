"""Plausible wrong answers to the exercises, kept as test data.

Each entry replaces the body of one ``### BEGIN SOLUTION`` block (``block`` counts the marked
blocks of the notebook from 0) and names the words the check cell that follows must say.
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
}
