"""Image transforms and an in-memory image data set (what the data splits are built from).

The tensor transforms are plain picklable classes, so DataLoader workers can use them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset


class Cutout:
    """DARTS cutout: zero a ``length`` x ``length`` square (clipped at the border) centred on a
    random pixel of a (C, H, W) tensor. Returns a new tensor; the input is not modified."""

    def __init__(self, length: int) -> None:
        self.length = int(length)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2], img.shape[-1]
        y = int(torch.randint(0, h, (1,)))
        x = int(torch.randint(0, w, (1,)))
        half = self.length // 2
        y1, y2 = max(0, y - half), min(h, y + half)
        x1, x2 = max(0, x - half), min(w, x + half)
        out = img.clone()
        out[..., y1:y2, x1:x2] = 0.0
        return out

    def __repr__(self) -> str:
        return f"Cutout(length={self.length})"


class RandomShift:
    """Shift a (C, H, W) tensor by up to ``max_shift`` pixels in each direction, filling the
    uncovered border with ``fill``."""

    def __init__(self, max_shift: int, fill: float) -> None:
        self.max_shift = int(max_shift)
        self.fill = float(fill)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        s = self.max_shift
        c, h, w = img.shape
        padded = torch.full((c, h + 2 * s, w + 2 * s), self.fill, dtype=img.dtype)
        padded[:, s:s + h, s:s + w] = img
        i = int(torch.randint(0, 2 * s + 1, (1,)))
        j = int(torch.randint(0, 2 * s + 1, (1,)))
        return padded[:, i:i + h, j:j + w].clone()

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill:g})"


class Compose:
    """Apply callables in turn (picklable, for DataLoader workers)."""

    def __init__(self, steps: Sequence[Callable[[Any], Any]]) -> None:
        self.steps = list(steps)

    def __call__(self, x: Any) -> Any:
        for step in self.steps:
            x = step(x)
        return x


class TensorImageDataset(Dataset):
    """In-memory images (N, C, H, W) float32 and labels (N,) int64, with an optional transform
    on the image. ``targets`` is the label array."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.images = images
        self.labels = labels
        self.targets = labels.numpy()
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.images[index]
        if self.transform is not None:
            img = self.transform(img)
        return img, self.labels[index]


def torchvision_transforms(key: str, info: Any, augment: bool, cutout: int) -> tuple[Callable, Callable]:
    """(training, evaluation) transforms of a torchvision or image-folder data set."""
    import torchvision.transforms as T

    size = info.input_size
    pre = [T.Resize((size, size))] if key == "imagefolder" else []
    norm = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    aug: list[Callable] = []
    if augment:
        aug.append(T.RandomCrop(size, padding=max(1, size // 8) if key == "imagefolder" else (4 if size >= 32 else 2)))
        if key in ("cifar10", "cifar100", "imagefolder"):
            aug.append(T.RandomHorizontalFlip())
    post: list[Callable] = [Cutout(cutout)] if cutout > 0 else []
    return T.Compose(pre + aug + norm + post), T.Compose(pre + norm)
