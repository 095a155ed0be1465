"""Each converter on small files made here, in the published layouts."""

import io
import re
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from inpaint_lib.data import DataError, load_split
from inpaint_lib.data.converters import (
    convert_cifar10,
    convert_imagenet32,
    convert_tinyimagenet,
    import_npz,
    planar_to_images,
)


def rng_images(n, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def planar(images):
    """(N, 32, 32, 3) -> (N, 3072) with the R plane first: the layout of the published files."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def test_planar_layout():
    images = rng_images(2)
    assert np.array_equal(planar_to_images(planar(images)), images)
    row = np.zeros((1, 3072), np.uint8)
    row[0, 1024] = 200  # first pixel of the G plane
    assert planar_to_images(row)[0, 0, 0].tolist() == [0, 200, 0]


def test_imagenet32_npz_batches(tmp_path, data_root):
    src = tmp_path / "src"
    src.mkdir()
    parts = [rng_images(4, seed=i) for i in range(3)]
    for i, part in enumerate(parts[:2], start=1):
        np.savez(src / f"train_data_batch_{i}.npz", data=planar(part), labels=np.arange(1, 5) + i, mean=np.zeros(3072))
    np.savez(src / "val_data.npz", data=planar(parts[2]), labels=np.array([1, 1000, 5, 7]))
    convert_imagenet32(src)
    train, labels = load_split("imagenet32", "train", with_labels=True)
    assert np.array_equal(train, np.concatenate(parts[:2]))
    assert labels.tolist() == [1, 2, 3, 4, 2, 3, 4, 5]  # 1..1000 -> 0..999
    val, val_labels = load_split("imagenet32", "val", with_labels=True)
    assert np.array_equal(val, parts[2]) and val_labels.tolist() == [0, 999, 4, 6]


def test_imagenet32_batches_are_numbered_not_sorted_as_text(tmp_path, data_root):
    src = tmp_path / "src"
    src.mkdir()
    for i in (1, 2, 10):
        np.savez(src / f"train_data_batch_{i}.npz", data=planar(rng_images(1, seed=i)), labels=np.array([i]))
    convert_imagenet32(src)
    assert load_split("imagenet32", "train", with_labels=True)[1].tolist() == [0, 1, 9]


def test_imagenet32_png_folders(tmp_path, data_root):
    images = rng_images(3)
    for folder, split_images in (("train_32x32", images[:2]), ("valid_32x32", images[2:])):
        (tmp_path / folder).mkdir()
        for i, img in enumerate(split_images):
            Image.fromarray(img).save(tmp_path / folder / f"{i:08d}.png")
    convert_imagenet32(tmp_path)
    assert np.array_equal(load_split("imagenet32", "train"), images[:2])
    assert np.array_equal(load_split("imagenet32", "val"), images[2:])


def test_imagenet32_wrong_folder(tmp_path, data_root):
    with pytest.raises(DataError, match="no train_32x32"):
        convert_imagenet32(tmp_path)


def make_tiny_imagenet(folder, wnids=("n02", "n01"), per_class=2, seed=0):
    """The CS231n layout with PNG-compressed 'JPEG' files (lossless, so the expected pixels are exact)."""
    rng = np.random.default_rng(seed)
    base = folder / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    expected = {"train": [], "val": []}
    rows = []
    for wnid in sorted(wnids):
        (base / "train" / wnid / "images").mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(img).save(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", format="PNG")
            expected["train"].append((img, sorted(wnids).index(wnid)))
    for i, wnid in enumerate(wnids):
        img = rng.integers(0, 256, (64, 64), dtype=np.uint8)  # grayscale -> RGB
        Image.fromarray(img).save(base / "val" / "images" / f"val_{i}.JPEG", format="PNG")
        rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
        expected["val"].append((np.repeat(img[..., None], 3, axis=2), sorted(wnids).index(wnid)))
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    return base, expected


def box_mean(img64):
    """The expected 2x2 box mean, rounded half up as PIL does."""
    return np.floor(img64.reshape(32, 2, 32, 2, 3).astype(np.float64).mean(axis=(1, 3)) + 0.5).astype(np.uint8)


@pytest.mark.parametrize("as_zip", [False, True])
def test_tinyimagenet_folder_or_zip(tmp_path, data_root, as_zip):
    base, expected = make_tiny_imagenet(tmp_path / "src")
    src = base
    if as_zip:
        src = tmp_path / "tiny-imagenet-200.zip"
        with zipfile.ZipFile(src, "w") as z:
            for f in base.rglob("*"):
                z.write(f, f.relative_to(base.parent))
    convert_tinyimagenet(src)
    for split in ("train", "val"):
        images, labels = load_split("tinyimagenet32", split, with_labels=True)
        assert labels.tolist() == [lab for _, lab in expected[split]]
        for got, (img64, _) in zip(images, expected[split], strict=True):
            assert np.abs(got.astype(int) - box_mean(img64).astype(int)).max() <= 1


def test_tinyimagenet_rejects_other_folders(tmp_path, data_root):
    with pytest.raises(DataError, match="not a tiny-imagenet-200 folder"):
        convert_tinyimagenet(tmp_path)


def cifar_records(images, labels):
    return b"".join(bytes([lab]) + planar(img[None]).tobytes() for img, lab in zip(images, labels, strict=True))


def test_cifar10_binary_tarball(tmp_path, data_root):
    images = rng_images(6)
    tar_path = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, sl in (("data_batch_1.bin", slice(0, 2)), ("data_batch_2.bin", slice(2, 4)),
                         ("test_batch.bin", slice(4, 6))):
            raw = cifar_records(images[sl], [3, 9])
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    convert_cifar10(tar_path)
    train, labels = load_split("cifar10", "train", with_labels=True)
    assert np.array_equal(train, images[:4]) and labels.tolist() == [3, 9, 3, 9]
    assert np.array_equal(load_split("cifar10", "test"), images[4:])


def test_cifar10_truncated_batch(tmp_path, data_root):
    (tmp_path / "test_batch.bin").write_bytes(cifar_records(rng_images(1), [0])[:-5])
    with pytest.raises(DataError, match="truncated"):
        convert_cifar10(tmp_path)


def test_import_npz_checks_the_format(tmp_path, data_root):
    good = tmp_path / "mine.npz"
    np.savez(good, images=rng_images(3), labels=np.array([0, 1, 2]))
    import_npz(good, "cifar10", "test")
    assert load_split("cifar10", "test").shape == (3, 32, 32, 3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=rng_images(3, size=64))
    with pytest.raises(DataError, match="must be 32x32"):
        import_npz(bad, "cifar10", "train")


# ---- sources that are not there, or not what the converter reads: one line each --------------

def run_cli(capsys, data_root, *args):
    """``python -m inpaint_lib.data --root DATA_ROOT ARGS``, in this process: (exit status, stderr)."""
    from inpaint_lib.data.__main__ import main
    status = main(["--root", str(data_root), *args])
    return status, capsys.readouterr().err


def truncated_tarball(tmp_path):
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        raw = np.random.default_rng(0).integers(0, 256, 3073 * 50, dtype=np.uint8).tobytes()  # incompressible
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    cut = tmp_path / "cifar-10-binary.tar.gz"
    cut.write_bytes(whole.read_bytes()[:len(raw) // 2])  # an interrupted download
    return cut


@pytest.mark.parametrize("command, source, message", [
    ("tinyimagenet32", "nowhere", "does not exist; give the tiny-imagenet-200 folder or tiny-imagenet-200.zip"),
    ("tinyimagenet32", "empty.zip", r"is not a readable zip archive \(0 bytes: empty, truncated or another format\); "
                                    "download tiny-imagenet-200.zip again"),
    ("tinyimagenet32", "notes.zip", r"is not a readable zip archive \(16 bytes"),
    ("imagenet32", "nowhere", "does not exist; give the folder of the npz batches"),
    ("imagenet32", "notes.zip", "is a file, but imagenet32 is converted from a folder"),
    ("cifar10", "nowhere", "does not exist; give the CIFAR-10 binary tarball"),
    ("cifar10", "empty.zip", r"is not a readable tar archive \(0 bytes: .*\); download cifar-10-binary.tar.gz again"),
    ("cifar10", "notes.zip", r"is not a readable tar archive \(16 bytes"),
    ("cifar10", "truncated", "is not a readable tar archive"),
])
def test_convert_a_missing_or_unreadable_source(tmp_path, data_root, capsys, command, source, message):
    (tmp_path / "empty.zip").write_bytes(b"")
    (tmp_path / "notes.zip").write_bytes(b"not an archive\r\n")
    src = truncated_tarball(tmp_path) if source == "truncated" else tmp_path / source
    status, err = run_cli(capsys, data_root, "convert", command, str(src))
    assert status == 1 and err.startswith(f"error: {src} ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not any(data_root.iterdir()), "nothing is written"


@pytest.mark.parametrize("source, message", [
    ("nowhere", "does not exist; give the path of a canonical npz file"),
    ("folder", "is a folder; give the path of a canonical npz file"),
    ("images.npy", r"holds a single array \(an .npy file\), not an npz archive"),
])
def test_import_npz_of_a_missing_or_wrong_file(tmp_path, data_root, capsys, source, message):
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "images.npy", rng_images(2))
    status, err = run_cli(capsys, data_root, "import-npz", str(tmp_path / source), "cifar10", "test")
    assert status == 1 and err.startswith(f"error: {tmp_path / source} ") and err.count("\n") == 1, err
    assert re.search(message, err), err


def test_tinyimagenet_with_a_file_missing(tmp_path, data_root):
    base, _ = make_tiny_imagenet(tmp_path / "src")
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DataError, match=r"tiny-imagenet-200 has no val/val_annotations\.txt; the download"):
        convert_tinyimagenet(base)
