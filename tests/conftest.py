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
