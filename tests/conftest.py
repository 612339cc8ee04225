import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HWNAS_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def nb201_csv() -> Path:
    path = SHARED_DATA / "nb201" / "nb201.csv"
    if not path.is_file():
        pytest.skip(f"NAS-Bench-201 table not found at {path} (set HWNAS_SHARED_DATA to the shared data folder)")
    return path


CIFAR_ARCHIVE = SHARED_DATA / "cifar10-jpeg.tar.gz"
CIFAR_CACHE = REPO / ".data" / "cifar10-jpeg"  # git-ignored


@pytest.fixture(scope="session")
def cifar10_jpeg_dir(tmp_path_factory) -> Path:
    """The shared CIFAR-10 JPEG copy, extracted once into a cache."""
    from hwnas.core.data import extract_archive

    if not CIFAR_ARCHIVE.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR_ARCHIVE}: set HWNAS_SHARED_DATA to the shared data folder")
    try:
        return Path(extract_archive(str(CIFAR_ARCHIVE), str(CIFAR_CACHE)))
    except OSError:  # repository not writable: extract for this session only
        return Path(extract_archive(str(CIFAR_ARCHIVE), str(tmp_path_factory.mktemp("data") / "cifar10-jpeg")))
