import numpy as np
import pytest
import torch

from inpaint_lib.baselines import MeanColour, MirrorUpperHalf, NearestNeighbour, RepeatLastRow, make_baselines
from inpaint_lib.data import save_split, to_float
from inpaint_lib.evaluation import ResultsTable, evaluate
from inpaint_lib.masks import apply_mask, left_half, lower_half


def images(n=4, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_mean_colour():
    train = images(10)
    out = MeanColour(train)(apply_mask(images(2, 1), lower_half()), lower_half())
    assert torch.allclose(out[0, :, 20, 5], train.mean(dim=(0, 2, 3)))


def test_repeat_last_row():
    x = images()
    out = RepeatLastRow()(apply_mask(x, lower_half()), lower_half())
    assert torch.equal(out[:, :, 16:], x[:, :, 15:16].expand(-1, -1, 16, -1))
    assert torch.equal(out[:, :, :16], x[:, :, :16])
    out = RepeatLastRow()(apply_mask(x, left_half(), fill=0.3), left_half())
    assert (out[:, :, :, :16] == 0.3).all()  # nothing known above: the fill stays


def test_mirror():
    x = images()
    out = MirrorUpperHalf()(apply_mask(x, lower_half()), lower_half())
    assert torch.equal(out[:, :, 16], x[:, :, 15]) and torch.equal(out[:, :, 31], x[:, :, 0])


def test_nearest_neighbour_finds_the_image_with_the_same_upper_half():
    train = images(50, seed=3)
    query = train[[7, 21]].clone()
    query[:, :, 16:] = 0  # the lower half does not matter
    out = NearestNeighbour(train, chunk=1)(apply_mask(query, lower_half()), lower_half())
    assert torch.equal(out, train[[7, 21]])
    three = NearestNeighbour(train).neighbours(apply_mask(query, lower_half()), lower_half(), k=3)
    assert three.shape == (3, 2, 3, 32, 32) and torch.equal(three[0], train[[7, 21]])
    upper = lambda x: x[..., :16, :].flatten(-3)  # noqa: E731
    d = [(upper(three[j]) - upper(train[[7, 21]])).square().sum(-1) for j in range(3)]
    assert (d[0] <= d[1]).all() and (d[1] <= d[2]).all(), "nearest first"
    with pytest.raises(ValueError, match="one \\(H, W\\) mask"):
        NearestNeighbour(train)(query, torch.ones(2, 32, 32, dtype=torch.bool))


def test_evaluate_and_the_results_table(data_root, tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    save_split(data_root / "cifar10" / "test.npz", pixels)
    truth = lambda masked, mask: to_float(pixels)[: len(masked)]  # noqa: E731  an oracle, in batch order
    perfect = evaluate(truth, "cifar10", "test", batch_size=30, progress=False)
    assert perfect["l1_x100"] == 0 and perfect["n_images"] == 30 and perfect["ssim"] == pytest.approx(1.0)
    base = make_baselines(to_float(pixels))
    some = evaluate(base["repeat last row"], "cifar10", "test", n_images=12, batch_size=5, progress=False)
    assert some["n_images"] == 12 and some["l1_x100"] > 10
    table = ResultsTable().add("oracle", "cifar10", "test", perfect).add("repeat", "cifar10", "test", some)
    table.add("oracle", "cifar10", "test", {**perfect, "psnr": 99.0}, bits_per_dim=3.5)
    assert [r["method"] for r in table.rows] == ["repeat", "oracle"]
    path = table.save(tmp_path / "results.csv")
    loaded = ResultsTable.load(path)
    assert loaded.get("oracle")["psnr"] == 99.0 and loaded.get("oracle")["bits_per_dim"] == 3.5
    assert loaded.get("repeat")["bits_per_dim"] is None
    assert "| oracle | cifar10 | test | 30 |" in loaded.to_markdown()
    assert len(ResultsTable.load(tmp_path / "nothing.csv").rows) == 0
