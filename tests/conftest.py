import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HWNAS_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(2)

# Tables profiled without --tables-dir go to the user's folder: keep the suite's out of the real one
# (set here, not in a fixture, so that commands the tests start as processes see it too).
os.environ["HWNAS_TABLES"] = tempfile.mkdtemp(prefix="hwnas-test-tables-")
atexit.register(shutil.rmtree, os.environ["HWNAS_TABLES"], True)


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
    from hwnas.core.archives import extract_archive

    if not CIFAR_ARCHIVE.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR_ARCHIVE}: set HWNAS_SHARED_DATA to the shared data folder")
    try:
        return Path(extract_archive(str(CIFAR_ARCHIVE), str(CIFAR_CACHE)))
    except OSError:  # repository not writable: extract for this session only
        return Path(extract_archive(str(CIFAR_ARCHIVE), str(tmp_path_factory.mktemp("data") / "cifar10-jpeg")))


TINY_TABLE_SPACE = dict(init_channels=4, layers=1, input_size=8)  # NAS-Bench-201, 8x8: profiled in seconds


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    """(space, table, tables folder): a tiny NAS-Bench-201 table profiled on this machine, per test module."""
    from hwnas.device.spec import resolve_device
    from hwnas.profile.build import build_table
    from hwnas.spaces import make_space

    tables = tmp_path_factory.mktemp("tables")
    space = make_space("nb201", **TINY_TABLE_SPACE)
    table = build_table(space, resolve_device("cpu"), tables_dir=tables, warmup=2, repeats=5)
    return space, table, tables
