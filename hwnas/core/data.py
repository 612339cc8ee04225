"""Datasets and deterministic train / val / test splits.

A NAS search trains the network weights on ``train`` and chooses the architecture on ``val``
(the two levels of a DARTS-style bi-level search); ``test`` is only for the final report.
``val`` is carved out of the *original training set* by a seeded permutation, so train, val
and test never share an example, and the same seed always gives the same split.

Data sets (:data:`DATASETS`):

``digits``
    scikit-learn's 1,797 real 8x8 grey handwritten digits; offline, never downloaded.
    There is no official test set: a seeded, stratified 20% is held out as test.
    ``augment=True`` shifts each training image by up to one pixel in each direction
    (the border is filled with the black background).
``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``, ``svhn``
    through :mod:`torchvision.datasets` in ``data_dir`` (``download=True`` fetches them).
    ``augment=True``: random crop with padding (4 px at 32x32, 2 px at 28x28), plus a random
    horizontal flip for CIFAR only (not SVHN or the MNISTs: digits are not mirror-symmetric).
    ``cifar10`` also reads an ImageFolder copy: ``data_dir/train/<class>/*.jpg`` and
    ``data_dir/test/<class>/*.jpg`` (see :func:`hwnas.core.archives.extract_archive`).
``imagefolder``
    the user's own images: ``data_dir/train/<class>/*`` (required) and
    ``data_dir/test/<class>/*`` (optional; without it a seeded, stratified 20% of train is the
    test set). Images keep their channels: grayscale data (every image looked at has one
    channel) is read as one channel, anything else as RGB; each is resized to ``image_size`` x
    ``image_size`` and normalized with mean = std = 0.5 per channel (values in [-1, 1]); ``augment=True`` adds a
    random crop (padding ``image_size // 8``) and a horizontal flip.

``cutout > 0`` (any data set) zeroes a ``cutout`` x ``cutout`` square at a random centre of each
*training* image after normalization (DARTS' cutout); it applies whether or not ``augment`` is
set. The val and test splits are never augmented: they read the same files through a copy of
the data set that has the evaluation transforms.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from hwnas.core.settings import DATASETS
from hwnas.core.image_folders import LAYOUT, folder_channels, folder_classes, image_folder
from hwnas.core.images import Compose, Cutout, RandomShift, TensorImageDataset, torchvision_transforms

logger = logging.getLogger(__name__)


#: Standard CIFAR-10 class order (also the sorted folder names of an ImageFolder copy).
CIFAR10_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck")

#: Share of the data held out as test where a data set has no official test split.
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DatasetInfo:
    """What a network needs to know about a data set."""

    name: str
    num_classes: int
    in_channels: int
    input_size: int  # square side in pixels after the transforms
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass
class Splits:
    """The three disjoint splits of a data set, plus its description."""

    train: Dataset  # weights
    val: Dataset  # architecture step / model selection; disjoint from train
    test: Dataset
    info: DatasetInfo
    classes: tuple[str, ...] = ()  # class names in label order


# Digits: pixel values 0..16 scaled to [0, 1]; mean/std over all 1,797 images.
_DIGITS_MEAN, _DIGITS_STD = 0.30526, 0.37605

_FIXED_INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", 10, 1, 8, (_DIGITS_MEAN,), (_DIGITS_STD,)),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": DatasetInfo("mnist", 10, 1, 28, (0.1307,), (0.3081,)),
    "fashion_mnist": DatasetInfo("fashion_mnist", 10, 1, 28, (0.2860,), (0.3530,)),
    "svhn": DatasetInfo("svhn", 10, 3, 32, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}

_TORCHVISION_CLASS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "mnist": "MNIST",
                      "fashion_mnist": "FashionMNIST", "svhn": "SVHN"}



# -- small helpers ----------------------------------------------------------------------------------
def default_data_dir() -> Path:
    """Where torchvision data sets live when no ``data_dir`` is given: ``$HWNAS_DATA_DIR`` or
    ``~/.cache/hwnas/data``."""
    env = os.environ.get("HWNAS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hwnas" / "data"


def _canonical(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return key


def _has_split_folders(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def _check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer (pixels), got {image_size!r}")
    return int(image_size)


def dataset_info(name: str, data_dir: str | None = None, image_size: int = 32) -> DatasetInfo:
    """Describe data set ``name`` without loading it (``imagefolder`` counts its class folders
    in ``data_dir/train``; ``image_size`` applies to ``imagefolder`` only)."""
    key = _canonical(name)
    if key != "imagefolder":
        return _FIXED_INFO[key]
    size = _check_image_size(image_size)
    classes = folder_classes(data_dir)
    channels = folder_channels(Path(data_dir).expanduser() / "train", classes)
    return DatasetInfo("imagefolder", len(classes), channels, size, (0.5,) * channels, (0.5,) * channels)


def _labels_of(ds: Any) -> np.ndarray:
    for attr in ("targets", "labels"):
        values = getattr(ds, attr, None)
        if values is not None:
            return np.asarray(values, dtype=np.int64)
    return np.asarray([int(ds[i][1]) for i in range(len(ds))], dtype=np.int64)


def _with_transform(ds: Any, transform: Callable | None) -> Any:
    """A shallow copy of a data set (sharing its files/arrays) with another image transform."""
    out = copy.copy(ds)
    out.transform = transform
    if hasattr(out, "transforms"):
        from torchvision.datasets.vision import StandardTransform
        out.transforms = StandardTransform(transform, getattr(out, "target_transform", None))
    return out


def _split_train_val(pool: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.asarray(pool)[np.random.default_rng(seed).permutation(len(pool))]
    n_val = int(math.floor(val_fraction * len(perm)))
    return perm[n_val:], perm[:n_val]


def _carve_test(labels: np.ndarray, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into (rest, test) with ``TEST_FRACTION``
    as test; falls back to unstratified when a class is too small to stratify."""
    from sklearn.model_selection import train_test_split

    n = len(labels)
    if n < 2:
        raise ValueError(f"{what} has {n} example(s): need at least 2 to hold out a test split")
    idx = np.arange(n)
    try:
        rest, test = train_test_split(idx, test_size=TEST_FRACTION, stratify=labels, random_state=seed)
    except ValueError:
        logger.warning("%s: a class is too small for a stratified test split; splitting at random", what)
        rest, test = train_test_split(idx, test_size=TEST_FRACTION, random_state=seed)
    return np.asarray(rest), np.asarray(test)


def _limit(indices: np.ndarray, labels: np.ndarray, limit: int | None, seed: int, salt: int) -> np.ndarray:
    """At most ``limit`` of ``indices``: a seeded draw taking the classes in turn (balanced)."""
    indices = np.asarray(indices, dtype=np.int64)
    if limit is None or len(indices) <= limit:
        return indices
    rng = np.random.default_rng([seed, salt])
    idx = indices[rng.permutation(len(indices))]
    lab = labels[idx]
    rank = np.empty(len(idx), dtype=np.int64)
    for c in np.unique(lab):
        member = lab == c
        rank[member] = np.arange(int(member.sum()))
    order = np.lexsort((np.arange(len(idx)), rank))  # by rank within class, then draw order
    return idx[order[:limit]]


def _subset(ds: Dataset, indices: np.ndarray) -> Subset:
    return Subset(ds, [int(i) for i in indices])


# -- loaders per kind of data set --------------------------------------------------------------------
def _load_digits(val_fraction: float, seed: int, augment: bool, cutout: int, limit: int | None) -> Splits:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    images = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    images = (images - _DIGITS_MEAN) / _DIGITS_STD
    labels = torch.as_tensor(y, dtype=torch.int64)
    steps: list[Callable] = []
    if augment:
        steps.append(RandomShift(1, fill=(0.0 - _DIGITS_MEAN) / _DIGITS_STD))
    if cutout > 0:
        steps.append(Cutout(cutout))
    eval_ds = TensorImageDataset(images, labels)
    train_ds = TensorImageDataset(images, labels, Compose(steps) if steps else None)
    lab = labels.numpy()
    rest, test = _carve_test(lab, seed, "digits")
    train, val = _split_train_val(rest, val_fraction, seed)
    return Splits(_subset(train_ds, _limit(train, lab, limit, seed, 1)),
                  _subset(eval_ds, _limit(val, lab, limit, seed, 2)),
                  _subset(eval_ds, _limit(np.sort(test), lab, limit, seed, 3)),
                  _FIXED_INFO["digits"], tuple(str(i) for i in range(10)))


def _missing(key: str, root: Path, err: Exception) -> FileNotFoundError:
    extra = (" or to a folder holding train/<class>/*.jpg and test/<class>/*.jpg (an extracted JPEG copy)"
             if key == "cifar10" else "")
    return FileNotFoundError(
        f"{key} files not found in data dir {root} ({err}). Pass --download (download=True) to fetch "
        f"them there, or --data-dir to point at a folder that already has them{extra}.")


def _open_torchvision(key: str, root: Path, download: bool) -> tuple[Any, Any]:
    """(train set, test set) of a torchvision data set, without transforms."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION_CLASS[key])
    if download:
        root.mkdir(parents=True, exist_ok=True)
    try:
        if key == "svhn":
            return (cls(str(root), split="train", download=download),
                    cls(str(root), split="test", download=download))
        return cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except RuntimeError as err:
        if download:
            raise
        raise _missing(key, root, err) from err


def _open_folders(key: str, root: Path, seed: int, channels: int = 3
                  ) -> tuple[Any, Any, np.ndarray | None, np.ndarray | None]:
    """(train folder, test source, rest indices, test indices) for an ImageFolder layout; where
    there is no test folder the test split is carved out of train (indices into train)."""
    train_dir, test_dir = root / "train", root / "test"
    try:
        train_ds = image_folder(train_dir, channels)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cannot read {train_dir} ({err}): {key} expects {LAYOUT}") from err
    if test_dir.is_dir():
        try:
            test_ds = image_folder(test_dir, channels)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"cannot read {test_dir} ({err}): {key} expects {LAYOUT}") from err
        if test_ds.classes != train_ds.classes:
            raise ValueError(f"class folders differ between {train_dir} {train_ds.classes} and {test_dir} "
                             f"{test_ds.classes}: give test/ the same class folders as train/")
        return train_ds, test_ds, None, None
    rest, test = _carve_test(_labels_of(train_ds), seed, str(train_dir))
    return train_ds, None, rest, test


def _load_files(key: str, info: DatasetInfo, root: Path, download: bool, val_fraction: float, seed: int,
                augment: bool, cutout: int, limit: int | None) -> Splits:
    train_tf, eval_tf = torchvision_transforms(key, info, augment, cutout)
    if key == "imagefolder" or (key == "cifar10" and _has_split_folders(root)):
        base, test_src, rest, test_idx = _open_folders(key, root, seed, info.in_channels)
        classes = tuple(base.classes)
        if key == "cifar10" and len(classes) != info.num_classes:
            raise ValueError(f"{root}/train has {len(classes)} class folders {list(classes)}; CIFAR-10 has 10 "
                             f"({', '.join(CIFAR10_CLASSES)})")
        if key == "cifar10" and classes != CIFAR10_CLASSES:
            logger.warning("class folders in %s/train are %s, not the standard CIFAR-10 names", root, classes)
        logger.info("%s: reading image folders in %s", key, root)
    else:
        base, test_src = _open_torchvision(key, root, download)
        rest, test_idx = None, None
        classes = tuple(str(c) for c in getattr(base, "classes", range(info.num_classes)))
    labels = _labels_of(base)
    pool = np.arange(len(labels)) if rest is None else rest
    train, val = _split_train_val(pool, val_fraction, seed)
    train_ds, eval_ds = _with_transform(base, train_tf), _with_transform(base, eval_tf)
    if test_src is None:
        test = _subset(eval_ds, _limit(np.sort(test_idx), labels, limit, seed, 3))
    else:
        test_ds = _with_transform(test_src, eval_tf)
        test = _subset(test_ds, _limit(np.arange(len(test_ds)), _labels_of(test_src), limit, seed, 3))
    return Splits(_subset(train_ds, _limit(train, labels, limit, seed, 1)),
                  _subset(eval_ds, _limit(val, labels, limit, seed, 2)),
                  test, info, classes)


# -- public entry points -----------------------------------------------------------------------------
def load_splits(name: str = "digits", data_dir: str | None = None, download: bool = False,
                val_fraction: float = 0.5, seed: int = 0, augment: bool = False,
                cutout: int = 0, limit: int | None = None, image_size: int = 32) -> Splits:
    """Load data set ``name`` and split it into train (weights), val (architecture step, carved
    from the original training set: ``val_fraction`` of it) and test (the official test set, or a
    seeded stratified 20% where there is none). ``limit`` caps each split (seeded, class-balanced).
    ``augment``/``cutout`` apply to train only. ``image_size`` is for ``imagefolder`` only."""
    key = _canonical(name)
    try:
        vf = float(val_fraction)
    except (TypeError, ValueError):
        raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}") from None
    if not 0.0 <= vf < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (the share of the training set used for the "
                         f"architecture step; 0.5 is the DARTS split), got {val_fraction!r}")
    if isinstance(cutout, bool) or not isinstance(cutout, (int, np.integer)) or cutout < 0:
        raise ValueError(f"cutout must be a non-negative integer (side of the square in pixels, 0 = off), "
                         f"got {cutout!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive integer (examples per split) or None, got {limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed, cutout = int(seed), int(cutout)
    limit = None if limit is None else int(limit)

    if key == "digits":
        splits = _load_digits(vf, seed, augment, cutout, limit)
    else:
        if key == "imagefolder":
            info = dataset_info(key, data_dir, image_size)
            root = Path(data_dir).expanduser()  # dataset_info checked it is given
        else:
            info = _FIXED_INFO[key]
            root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        splits = _load_files(key, info, root, download, vf, seed, augment, cutout, limit)
    logger.info("%s: %d train / %d val / %d test examples (seed %d, val_fraction %g%s)", key,
                len(splits.train), len(splits.val), len(splits.test), seed, vf,
                "" if limit is None else f", limit {limit}")
    return splits


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffle order (and the random seeds of its workers' augmentations) come
    from a ``torch.Generator`` seeded with ``seed``: same seed, same batches. An empty data set
    gives a loader with no batches."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    empty = len(dataset) == 0  # type: ignore[arg-type]
    if empty:
        logger.debug("make_loader: empty data set, the loader yields no batches")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=int(batch_size), shuffle=bool(shuffle) and not empty,
                      num_workers=int(num_workers), drop_last=drop_last, generator=generator)
