"""The user's own images: ``DATA_DIR/train/<class>/*`` (and optionally ``DATA_DIR/test/...``),
read as torchvision's ImageFolder reads them, with three checks it does not make: at least two
classes, every image counted once (a link that loops or reaches a folder or file met before is
refused), and the channels the data has (grayscale data is read as one channel)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

LAYOUT = "DATA_DIR/train/<class>/<image files> (and optionally DATA_DIR/test/<class>/<image files>)"


def folder_classes(data_dir: str | os.PathLike | None) -> list[str]:
    """The class folders of ``data_dir/train``: at least two."""
    if data_dir is None:
        raise ValueError(f"dataset 'imagefolder' needs data_dir (--data-dir) laid out as {LAYOUT}")
    train = Path(data_dir).expanduser() / "train"
    if not train.is_dir():
        raise FileNotFoundError(f"{train} is not a folder: the imagefolder dataset expects {LAYOUT}")
    classes = sorted(e.name for e in os.scandir(train) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"no class folders in {train}: the imagefolder dataset expects {LAYOUT}")
    if len(classes) < 2:
        raise ValueError(f"{train} has one class folder ({classes[0]}): a classifier learns to tell two or more "
                         f"classes apart; add a folder per class ({LAYOUT})")
    return classes


GRAY_BANDS = {"1", "L", "I", "F"}  # PIL bands of one-channel images (with or without alpha)
# Grayscale modes wider than 8 bits, and the value that is white (None: the image's own maximum)
WIDE_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": None, "F": None}
CHANNEL_SAMPLE = 32  # images looked at to tell grayscale data from colour


def folder_channels(train: Path, classes: Sequence[str]) -> int:
    """1 when the images looked at (a few of every class) are all grayscale, else 3."""
    from PIL import Image

    looked = 0
    per_class = max(1, CHANNEL_SAMPLE // len(classes))
    for name in classes:
        files = sorted(p for p in (train / name).iterdir() if p.is_file())[:per_class]
        for path in files:
            try:
                with Image.open(path) as img:
                    bands = img.getbands()
            except (OSError, ValueError):  # not an image: the loader names it when it reads it
                continue
            looked += 1
            if not (bands[0] in GRAY_BANDS and len(bands) <= 2):
                return 3
    return 1 if looked else 3


def image_loader(path: str, mode: str = "RGB") -> Any:
    """An image as ``mode`` (RGB, or L for grayscale data); a file that cannot be decoded is
    named in one clear error."""
    from PIL import Image

    try:
        with open(path, "rb") as handle:
            img = Image.open(handle)
            img.load()
    except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"cannot decode the image {path} ({exc}); remove or replace the file") from None
    if img.mode in WIDE_MODES:  # 16-bit or float grayscale: PIL's convert would clip it at 255
        import numpy as np

        wide = np.asarray(img, dtype=np.float64)
        top = WIDE_MODES[img.mode] or max(float(wide.max()), 1e-12)
        img = Image.fromarray(np.clip(np.round(wide / top * 255), 0, 255).astype(np.uint8), "L")
    return img.convert(mode)


def image_files(directory: str, class_to_idx: Dict[str, int], extensions: Any = None,
                 is_valid_file: Any = None, allow_empty: bool = False) -> List[Tuple[str, int]]:
    """(path, class) of every image under each class folder, following links, but each file
    once: a link that loops, or that reaches a folder or file met before, is refused (torchvision's
    walk would count its images again, under the class of the link)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    def valid(path: str) -> bool:
        return is_valid_file(path) if is_valid_file else has_file_allowed_extension(path, extensions or IMG_EXTENSIONS)

    folders: Dict[str, str] = {}
    files: Dict[str, str] = {}
    found = []
    for name in sorted(class_to_idx):
        top = os.path.join(directory, name)
        count = 0
        for folder, subfolders, names in os.walk(top, followlinks=True):
            real = os.path.realpath(folder)
            if real in folders:
                raise ValueError(f"{folder} leads to {folders[real]} again (a link that loops or repeats a folder): "
                                 f"each image counts once, under one class; remove the link")
            folders[real] = folder
            subfolders.sort()
            for file in sorted(names):
                path = os.path.join(folder, file)
                if not valid(path):
                    continue
                if os.path.realpath(path) in files:
                    raise ValueError(f"{path} and {files[os.path.realpath(path)]} are the same file: each image "
                                     f"counts once, under one class; remove one of them")
                files[os.path.realpath(path)] = path
                found.append((path, class_to_idx[name]))
                count += 1
        if not count and not allow_empty:
            raise FileNotFoundError(f"no images in {top}: put the class's images there, or remove the folder")
    return found


def image_folder(folder: Path, channels: int) -> Any:
    """torchvision's ImageFolder of ``folder``, its files found by :func:`image_files`, its images
    read with ``channels`` channels."""
    from torchvision.datasets import ImageFolder

    class Folder(ImageFolder):
        make_dataset = staticmethod(image_files)

    return Folder(str(folder), loader=functools.partial(image_loader, mode="L" if channels == 1 else "RGB"))
