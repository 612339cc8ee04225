"""Tests for hwnas.core.data: splits, loaders, torchvision/ImageFolder handling, archive extraction."""
from __future__ import annotations

import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hwnas.core import data
from hwnas.core.archives import extract_archive
from hwnas.core.data import DATASETS, dataset_info, load_splits, make_loader


def _indices(subset) -> set[int]:
    return set(int(i) for i in subset.indices)


# -- digits ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return load_splits("digits", val_fraction=0.5, seed=0)


def test_digits_shapes_types_and_info(digits):
    x, y = digits.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    assert torch.as_tensor(y).dtype == torch.int64
    info = digits.info
    assert (info.name, info.num_classes, info.in_channels, info.input_size) == ("digits", 10, 1, 8)
    assert info == dataset_info("digits")
    assert len(digits.classes) == 10
    labels = {int(digits.test[i][1]) for i in range(len(digits.test))}
    assert labels == set(range(10))


def test_digits_normalized_from_unit_range(digits):
    xs = torch.stack([digits.val[i][0] for i in range(len(digits.val))])
    mean, std = digits.info.mean[0], digits.info.std[0]
    assert xs.min().item() == pytest.approx((0.0 - mean) / std, abs=1e-5)  # black background
    assert xs.max().item() == pytest.approx((1.0 - mean) / std, abs=1e-5)  # value 16 -> 1.0
    assert abs(xs.mean().item()) < 0.15 and abs(xs.std().item() - 1.0) < 0.15


def test_digits_split_sizes_and_disjoint(digits):
    tr, va, te = _indices(digits.train), _indices(digits.val), _indices(digits.test)
    assert len(tr) == len(digits.train) and len(va) == len(digits.val) and len(te) == len(digits.test)
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(range(1797))
    assert len(digits.test) == math.ceil(0.2 * 1797)
    assert len(digits.val) == int(0.5 * (1797 - len(digits.test)))


def test_digits_test_split_is_stratified(digits):
    counts = np.bincount([int(digits.test[i][1]) for i in range(len(digits.test))], minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38, counts


def test_digits_same_seed_same_split_different_seed_different(digits):
    again = load_splits("digits", seed=0)
    for a, b in ((digits.train, again.train), (digits.val, again.val), (digits.test, again.test)):
        assert list(a.indices) == list(b.indices)
    assert torch.equal(digits.train[5][0], again.train[5][0])
    other = load_splits("digits", seed=1)
    assert _indices(other.val) != _indices(digits.val)
    assert _indices(other.test) != _indices(digits.test)


def test_digits_val_fraction_zero_gives_empty_val():
    s = load_splits("digits", val_fraction=0.0)
    assert len(s.val) == 0 and len(s.train) + len(s.test) == 1797


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "half"])
def test_val_fraction_out_of_range(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        load_splits("digits", val_fraction=bad)


@pytest.mark.parametrize("kwargs,word", [({"limit": 0}, "limit"), ({"cutout": -1}, "cutout"),
                                         ({"seed": -3}, "seed")])
def test_other_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        load_splits("digits", **kwargs)


def test_limit_is_respected_and_balanced():
    s = load_splits("digits", limit=50, seed=3)
    assert len(s.train) == len(s.val) == len(s.test) == 50
    for split in (s.train, s.val, s.test):
        counts = np.bincount([int(split[i][1]) for i in range(len(split))], minlength=10)
        assert counts.min() >= 4 and counts.max() <= 6, counts
    assert not (_indices(s.train) & _indices(s.val)) and not (_indices(s.val) & _indices(s.test))
    full = load_splits("digits", seed=3)
    assert _indices(s.train) <= _indices(full.train) and _indices(s.val) <= _indices(full.val)
    big = load_splits("digits", limit=100_000)
    assert len(big.train) + len(big.val) + len(big.test) == 1797


def test_unknown_dataset_names_the_choices():
    for call in (lambda: load_splits("imagenet"), lambda: dataset_info("imagenet")):
        with pytest.raises(ValueError) as err:
            call()
        for name in DATASETS:
            assert name in str(err.value)


def test_dataset_info_fixed_sets():
    assert dataset_info("cifar100").num_classes == 100
    assert dataset_info("CIFAR10").mean == (0.4914, 0.4822, 0.4465)
    assert dataset_info("fashion-mnist").input_size == 28
    assert dataset_info("svhn").in_channels == 3


def test_digits_augment_only_on_train():
    s = load_splits("digits", augment=True, cutout=16, seed=0)
    x0 = s.train[0][0]
    assert torch.count_nonzero(x0) == 0  # a 16x16 cutout covers the whole 8x8 image
    plain = load_splits("digits", seed=0)
    assert torch.equal(s.val[0][0], plain.val[0][0]) and torch.equal(s.test[0][0], plain.test[0][0])
    shifted = load_splits("digits", augment=True, seed=0)
    torch.manual_seed(0)
    draws = [shifted.train[0][0] for _ in range(12)]
    assert any(not torch.equal(d, plain.train[0][0]) for d in draws)
    assert any(torch.equal(d, plain.train[0][0]) for d in draws)  # shift (0, 0) is one of 9
    assert all(d.shape == (1, 8, 8) for d in draws)


# -- make_loader -------------------------------------------------------------------------------------
def _order(loader) -> list[int]:
    return [int(v) for (batch,) in loader for v in batch]


def test_make_loader_reproducible_order():
    ds = torch.utils.data.TensorDataset(torch.arange(100))
    a = _order(make_loader(ds, 16, shuffle=True, seed=7))
    b = _order(make_loader(ds, 16, shuffle=True, seed=7))
    c = _order(make_loader(ds, 16, shuffle=True, seed=8))
    assert a == b and a != c
    assert sorted(a) == list(range(100)) and a != list(range(100))
    assert _order(make_loader(ds, 16, shuffle=False)) == list(range(100))
    assert len(make_loader(ds, 16, shuffle=True, drop_last=True)) == 6
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, 0, shuffle=True)


def test_make_loader_on_digits_and_empty_set():
    s = load_splits("digits", val_fraction=0.0, limit=40)
    x, y = next(iter(make_loader(s.train, 8, shuffle=True, seed=1)))
    assert x.shape == (8, 1, 8, 8) and y.dtype == torch.int64
    assert list(make_loader(s.val, 8, shuffle=True)) == []


# -- torchvision data sets without files ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "fashion_mnist", "svhn"])
def test_missing_files_without_download(tmp_path, name):
    with pytest.raises(FileNotFoundError) as err:
        load_splits(name, data_dir=str(tmp_path), download=False)
    msg = str(err.value)
    assert "--download" in msg and "--data-dir" in msg and str(tmp_path) in msg


# -- image folders -------------------------------------------------------------------------------------
def _write_images(folder: Path, classes: dict[str, int], seed: int, size=(20, 12)) -> None:
    rng = np.random.default_rng(seed)
    for c, n in classes.items():
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            img = Image.fromarray(arr)
            if i % 2:
                img = img.convert("L")  # grey files are read as RGB too
            img.save(folder / c / f"{i:03d}.png")


def test_imagefolder_with_test_folder(tmp_path):
    _write_images(tmp_path / "train", {"cat": 6, "dog": 6}, 0)
    _write_images(tmp_path / "test", {"cat": 2, "dog": 3}, 1)
    s = load_splits("imagefolder", data_dir=str(tmp_path), image_size=16, val_fraction=0.5)
    assert s.classes == ("cat", "dog")
    assert s.info == dataset_info("imagefolder", str(tmp_path), image_size=16)
    assert (s.info.num_classes, s.info.in_channels, s.info.input_size) == (2, 3, 16)
    assert len(s.train) == 6 and len(s.val) == 6 and len(s.test) == 5
    assert not (_indices(s.train) & _indices(s.val))
    x, y = s.test[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and -1.0 <= x.min() and x.max() <= 1.0
    assert sorted(int(s.test[i][1]) for i in range(5)) == [0, 0, 1, 1, 1]


def test_imagefolder_without_test_folder_carves_one(tmp_path):
    _write_images(tmp_path / "train", {"a": 10, "b": 10, "c": 10}, 2)
    s = load_splits("imagefolder", data_dir=str(tmp_path), image_size=8, val_fraction=0.25, seed=4)
    tr, va, te = _indices(s.train), _indices(s.val), _indices(s.test)
    assert len(te) == 6 and not (tr & va) and not (tr & te) and not (va & te)
    assert tr | va | te == set(range(30))
    assert len(va) == int(0.25 * 24)
    assert sorted(int(s.test[i][1]) for i in range(6)) == [0, 0, 1, 1, 2, 2]
    assert s.test[0][0].shape == (3, 8, 8)


def test_imagefolder_val_not_augmented(tmp_path):
    _write_images(tmp_path / "train", {"a": 4, "b": 4}, 3, size=(16, 16))
    s = load_splits("imagefolder", data_dir=str(tmp_path), image_size=16, augment=True, cutout=4)
    assert torch.equal(s.val[0][0], s.val[0][0])
    assert s.val.dataset.transform is not s.train.dataset.transform
    assert s.train.dataset.samples is s.val.dataset.samples  # same files, two transforms
    torch.manual_seed(0)
    draws = [s.train[0][0] for _ in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_imagefolder_missing_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train/<class>"):
        load_splits("imagefolder", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="data_dir"):
        load_splits("imagefolder")
    _write_images(tmp_path / "train", {"a": 2, "b": 2}, 0)
    _write_images(tmp_path / "test", {"b": 2, "c": 2}, 0)
    with pytest.raises(ValueError, match="class folders differ"):
        load_splits("imagefolder", data_dir=str(tmp_path))


def test_cifar10_reads_image_folder_layout(tmp_path):
    classes = dict.fromkeys(data.CIFAR10_CLASSES, 2)
    _write_images(tmp_path / "train", classes, 0, size=(32, 32))
    _write_images(tmp_path / "test", dict.fromkeys(data.CIFAR10_CLASSES, 1), 1, size=(32, 32))
    s = load_splits("cifar10", data_dir=str(tmp_path), val_fraction=0.5, augment=True)
    assert s.classes == data.CIFAR10_CLASSES and s.info.num_classes == 10
    assert len(s.train) == len(s.val) == 10 and len(s.test) == 10
    assert s.train[0][0].shape == (3, 32, 32)
    assert [int(s.test[i][1]) for i in range(10)] == list(range(10))


# -- extract_archive ----------------------------------------------------------------------------------
def test_extract_archive_with_top_level_folder(tmp_path):
    src = tmp_path / "src" / "pkg"
    _write_images(src / "train", {"x": 1}, 0, size=(4, 4))
    _write_images(src / "test", {"x": 1}, 1, size=(4, 4))
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="pkg")
    dest = tmp_path / "out" / "ds"
    root = extract_archive(str(archive), str(dest))
    assert Path(root) == dest and (dest / "train" / "x" / "000.png").is_file() and (dest / "test").is_dir()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ds"]  # no temporary folder left behind
    archive.unlink()  # a second call must not need the archive
    assert extract_archive(str(archive), str(dest)) == str(dest)


def test_extract_archive_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        extract_archive(str(tmp_path / "nope.tar.gz"), str(tmp_path / "d"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("hi")
    archive = tmp_path / "b.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "other", arcname="other")
    with pytest.raises(ValueError, match="no train/"):
        extract_archive(str(archive), str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- the real CIFAR-10 JPEG copy -----------------------------------------------------------------------
def test_cifar10_jpeg_archive(cifar10_jpeg_dir):
    s = load_splits("cifar10", data_dir=str(cifar10_jpeg_dir), val_fraction=0.5, seed=0)
    assert s.classes == data.CIFAR10_CLASSES
    assert len(s.train) + len(s.val) == 50_000 and len(s.val) == 25_000 and len(s.test) == 10_000
    assert s.train.dataset.samples is s.val.dataset.samples and not (_indices(s.train) & _indices(s.val))
    xs = torch.stack([s.test[i][0] for i in range(0, 10_000, 500)])
    assert xs.shape == (20, 3, 32, 32) and xs.dtype == torch.float32
    assert xs.min() < -1.0 and xs.max() > 1.0 and abs(xs.mean().item()) < 0.5  # normalized, not [0, 1]
    assert [int(s.test[i][1]) for i in (0, 9_999)] == [0, 9]

    small = load_splits("cifar10", data_dir=str(cifar10_jpeg_dir), limit=100, seed=0)
    assert len(small.train) == len(small.val) == len(small.test) == 100
    assert np.bincount([int(small.test[i][1]) for i in range(100)], minlength=10).tolist() == [10] * 10


# -- a torchvision data set read from (fake) files -------------------------------------------------------
def _write_idx(path: Path, array: np.ndarray) -> None:
    code = 0x0800 | array.ndim  # unsigned bytes, ndim dimensions
    header = code.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_files_split_and_augment_train_only(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    s = load_splits("mnist", data_dir=str(tmp_path), val_fraction=0.25, seed=0, augment=True)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 20)
    assert not (_indices(s.train) & _indices(s.val)) and _indices(s.train) | _indices(s.val) == set(range(40))
    x, y = s.val[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)
    assert torch.equal(s.val[0][0], s.val[0][0])  # eval transforms: deterministic
    assert s.train.dataset.data is s.val.dataset.data  # one copy of the pixels, two transforms
    torch.manual_seed(0)
    draws = [s.train[0][0] for _ in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    assert sorted(int(s.test[i][1]) for i in range(20)) == sorted(list(range(10)) * 2)
    limited = load_splits("mnist", data_dir=str(tmp_path), limit=10)
    assert len(limited.train) == len(limited.val) == len(limited.test) == 10


def test_an_undecodable_image_is_named_in_one_error(tmp_path):
    _write_images(tmp_path / "train", {"a": 3, "b": 3}, 0)
    bad = tmp_path / "train" / "a" / "001.png"
    bad.write_bytes(b"not a png at all")
    s = load_splits("imagefolder", data_dir=str(tmp_path), image_size=8, val_fraction=0.5)
    with pytest.raises(ValueError, match=r"cannot decode the image .*001\.png.*remove or replace"):
        for split in (s.train, s.val, s.test):
            for i in range(len(split)):
                split[i]
