import subprocess
import sys

import numpy as np
import pytest
import torch

from inpaint_lib import data
from inpaint_lib.data import (
    BatchLoader,
    DataError,
    DatasetNotFound,
    ImageDataset,
    load_split,
    make_loader,
    save_split,
    to_float,
    to_uint8,
)
from inpaint_lib.data.sample import sample_arrays

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def random_images(n, seed=0, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def test_round_trip_through_the_canonical_format(data_root):
    images, labels = random_images(7), np.arange(7)
    save_split(data_root / "cifar10" / "train.npz", images, labels)
    got, got_labels = load_split("cifar10", "train", with_labels=True)
    assert np.array_equal(got, images) and got_labels.dtype == np.int64 and np.array_equal(got_labels, labels)


@pytest.mark.parametrize("images, message", [
    (random_images(2, shape=(28, 28, 3)), "must be 32x32"),
    (random_images(2, shape=(32, 32, 1)), "(N, 32, 32, 3) RGB"),
    (random_images(2, shape=(3, 32, 32)), "(N, 32, 32, 3) RGB"),
    (random_images(2).astype(np.float32), "must be uint8"),
])
def test_bad_images_in_an_npz_give_one_clear_line(data_root, images, message):
    (data_root / "cifar10").mkdir()
    np.savez(data_root / "cifar10" / "train.npz", images=images)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_split("cifar10", "train")
    assert "\n" not in str(err.value)


def test_corrupt_and_truncated_files(data_root):
    folder = data_root / "cifar10"
    folder.mkdir()
    save_split(folder / "train.npz", random_images(50))
    raw = (folder / "train.npz").read_bytes()
    (folder / "train.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_split("cifar10", "train")
    (folder / "test.npz").write_bytes(b"this is not an npz file")
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_split("cifar10", "test")
    np.savez(folder / "test.npz", pixels=random_images(2))
    with pytest.raises(DataError, match="no 'images' array"):
        load_split("cifar10", "test")


def test_damaged_compressed_file(data_root):
    """Bytes damaged inside a compressed array fail in zlib, before the zip's checksum is checked."""
    folder = data_root / "cifar10"
    folder.mkdir()
    np.savez_compressed(folder / "train.npz", images=random_images(50) // 64)
    raw = bytearray((folder / "train.npz").read_bytes())
    raw[200:216] = bytes(b ^ 0xFF for b in raw[200:216])
    (folder / "train.npz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"corrupt or truncated \(error: Error -3"):
        load_split("cifar10", "train")


def test_pickled_arrays_are_refused(data_root):
    (data_root / "cifar10").mkdir()
    np.savez(data_root / "cifar10" / "train.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="Object arrays cannot be loaded when allow_pickle=False"):
        load_split("cifar10", "train")


def test_unknown_names_and_missing_data_sets(data_root):
    with pytest.raises(ValueError, match="unknown data set 'imagenet64'; choose one of"):
        load_split("imagenet64", "train")
    with pytest.raises(ValueError, match="has no split 'valid'"):
        load_split("imagenet32", "valid")
    with pytest.raises(DatasetNotFound) as err:
        load_split("imagenet32", "train")
    message = str(err.value)
    assert "INPAINT_DATA" in message and str(data_root) in message and "convert imagenet32" in message
    (data_root / "tinyimagenet32").mkdir()
    with pytest.raises(DatasetNotFound, match="is an empty folder"):
        load_split("tinyimagenet32", "val")


def test_to_float_and_back_are_exact():
    images = random_images(5)
    x = to_float(images)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    levels = to_float(np.array([[[[0, 255, 128]]]], dtype=np.uint8)).flatten().tolist()
    assert levels == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)
    assert np.array_equal(to_uint8(x).numpy(), images)
    with pytest.raises(ValueError, match="uint8 images of shape"):
        to_float(images.astype(np.float32))


def test_sample_set_is_deterministic_split_by_place_and_sizeable():
    first, second = sample_arrays(), sample_arrays()
    for split in ("train", "test"):
        assert np.array_equal(first[split], second[split])
    assert len(first["train"]) > 5000 and len(first["test"]) > 1000
    train_keys = {img.tobytes() for img in first["train"]}
    assert not any(img.tobytes() in train_keys for img in first["test"])
    assert first["train"].reshape(-1, 3072).std(axis=1).min() >= 6.0  # near-constant crops are dropped


def test_sample_set_is_built_on_first_use_in_the_repository(data_root):
    images = load_split("sample", "test")
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
    assert not (data_root / "sample").exists()  # a data root may be shared and read-only: never written


def test_batch_loader_shapes_order_and_reproducibility():
    images = random_images(10)
    loader = BatchLoader(images, batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(b) for b in batches] == [4, 4, 2] and batches[0].shape[1:] == (3, 32, 32)
    again = torch.cat(list(BatchLoader(images, batch_size=4, shuffle=True, seed=3)))
    assert torch.equal(torch.cat(batches), again)
    loader.set_epoch(1)
    assert not torch.equal(torch.cat(list(loader)), again)
    assert torch.equal(torch.sort(torch.cat(list(loader)).flatten(1), dim=0)[0],
                       torch.sort(to_float(images).flatten(1), dim=0)[0])
    assert len(BatchLoader(images, batch_size=4, drop_last=True)) == 2
    plain = torch.cat(list(BatchLoader(images, batch_size=3, shuffle=False)))
    assert torch.equal(plain, to_float(images))


def test_ranks_split_each_global_batch():
    images = random_images(12)
    single = list(BatchLoader(images, 4, seed=1))
    shares = [list(BatchLoader(images, 4, seed=1, rank=r, world_size=2)) for r in range(2)]
    for j, batch in enumerate(single):
        together = torch.cat([shares[0][j], shares[1][j]])
        assert torch.equal(torch.sort(together.flatten(1), dim=0)[0], torch.sort(batch.flatten(1), dim=0)[0])
    with pytest.raises(ValueError, match="multiple of the 2 processes"):
        BatchLoader(images, 3, world_size=2)


def test_batches_can_start_part_way_through_an_epoch():
    loader = BatchLoader(random_images(10), 3, seed=2)
    loader.set_epoch(4)
    assert all(torch.equal(a, b) for a, b in zip(list(loader)[2:], loader.batches(start=2), strict=True))


def test_make_loader_subset_is_seeded(data_root):
    save_split(data_root / "cifar10" / "test.npz", random_images(40))
    a = make_loader("cifar10", "test", 8, shuffle=False, subset=10, seed=5)
    b = make_loader("cifar10", "test", 8, shuffle=False, subset=10, seed=5)
    c = make_loader("cifar10", "test", 8, shuffle=False, subset=10, seed=6)
    assert len(a.images) == 10 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    with pytest.raises(ValueError, match="subset must be a positive"):
        make_loader("cifar10", "test", 8, subset=0)


def test_image_dataset_items():
    images = random_images(3)
    ds = ImageDataset(images)
    assert len(ds) == 3 and torch.equal(ds[1], to_float(images)[1])


def test_real_tiny_imagenet(real_data_root):
    images, labels = load_split("tinyimagenet32", "val", root=real_data_root, with_labels=True)
    assert images.shape == (10_000, 32, 32, 3) and labels.min() == 0 and labels.max() == 199
    assert np.bincount(labels).tolist() == [50] * 200
    images, labels = load_split("tinyimagenet32", "train", root=real_data_root, with_labels=True)
    assert images.shape == (30_000, 32, 32, 3) and np.bincount(labels, minlength=200).tolist() == [150] * 200


@pytest.mark.slow
def test_cli_lists_data_sets(data_root):
    save_split(data_root / "cifar10" / "test.npz", random_images(3))
    out = subprocess.run([sys.executable, "-m", "inpaint_lib.data", "--root", str(data_root), "list"],
                         capture_output=True, text=True, check=True).stdout
    assert "cifar10" in out and "3 images" in out and "missing" in out
    bad = subprocess.run([sys.executable, "-m", "inpaint_lib.data", "--root", str(data_root), "convert",
                          "tinyimagenet32", str(data_root / "nowhere")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def test_every_data_set_names_its_splits_and_the_one_held_out():
    assert {name: (info.splits, info.held_out) for name, info in data.DATASETS.items()} == {
        "sample": (("train", "test"), "test"), "imagenet32": (("train", "val"), "val"),
        "tinyimagenet32": (("train", "val"), "val"), "cifar10": (("train", "test"), "test")}
    assert all(name == info.name for name, info in data.DATASETS.items())
    assert data.held_out_split("tinyimagenet32") == "val" and data.held_out_split("cifar10") == "test"
    with pytest.raises(ValueError, match="unknown data set 'imagenet64'; choose one of sample, imagenet32"):
        data.held_out_split("imagenet64")
    with pytest.raises(ValueError, match="held-out split 'test' is not one of"):
        data.DatasetInfo("mine", ("train", "val"), "test", "make it")


def test_a_registered_builder_makes_its_data_set_once_in_the_repository(data_root, tmp_path, monkeypatch):
    from inpaint_lib.data import store
    repo = tmp_path / "repo"
    monkeypatch.setattr(store, "REPO_ROOT", repo)
    monkeypatch.setattr(store, "_BUILDERS", {})
    built = []

    def build(root):
        built.append(root)
        return {split: save_split(root / "cifar10" / f"{split}.npz", random_images(3, seed=i))
                for i, split in enumerate(("train", "test"))}

    data.register_builder("cifar10", build)
    assert np.array_equal(load_split("cifar10", "test"), random_images(3, seed=1))
    assert np.array_equal(load_split("cifar10", "train"), random_images(3, seed=0))
    assert built == [repo / "data"] and not any(data_root.iterdir()), "built once, outside the data root"
    with pytest.raises(ValueError, match="unknown data set 'mine'"):
        data.register_builder("mine", build)


def test_the_store_is_a_leaf_and_the_sample_set_registers_itself():
    import ast

    from inpaint_lib.data import store
    tree = ast.parse(open(store.__file__).read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {"sample", "loader", "converters", "tensors"} & imported, imported
    assert store._BUILDERS["sample"] is data.build_sample


def test_save_split_is_written_whole_or_not_at_all(data_root, monkeypatch):
    import os
    path = data_root / "cifar10" / "test.npz"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    save_split(path, random_images(4))
    assert synced, "the file is fsync-ed before it replaces the old one"

    def savez_then_fail(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_split(path, random_images(4, seed=1))
    assert np.array_equal(load_split("cifar10", "test"), random_images(4))
    assert [p.name for p in path.parent.iterdir()] == ["test.npz"], "no temporary file is left behind"
