"""Image-folder archives: a ``.tar.gz`` of ``train/<class>/...`` and ``test/<class>/...``
extracted safely (no path outside the destination) and atomically (renamed when complete)."""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def _find_split_root(folder: Path, depth: int = 2) -> Path | None:
    """The first folder at most ``depth`` levels below ``folder`` that has a ``train`` subfolder."""
    level = [folder]
    for _ in range(depth + 1):
        for d in level:
            if (d / "train").is_dir():
                return d
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir() and not c.name.startswith((".", "__")))
    return None


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    base = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or (target != base and base not in target.parents):
            raise ValueError(f"refusing to extract {member.name!r}: not a plain file/folder inside {dest}")
    tar.extractall(dest)


def extract_archive(archive: str, dest: str) -> str:
    """Extract a tar archive (``.tar.gz``, ``.tgz``, ``.tar``) holding ``train/`` and ``test/`` image
    folders into ``dest`` and return ``dest``. Skipped if ``dest/train`` exists. A top-level folder
    in the archive is detected and its contents become ``dest``. Extraction goes to a temporary
    folder beside ``dest`` that is renamed at the end, so an interrupted run leaves no half folder."""
    archive_p, dest_p = Path(archive).expanduser(), Path(dest).expanduser()
    if (dest_p / "train").is_dir():
        logger.debug("%s already extracted in %s", archive_p, dest_p)
        return str(dest_p)
    if not archive_p.is_file():
        raise FileNotFoundError(f"archive {archive_p} not found: give the path of a .tar.gz holding "
                                f"train/<class>/... and test/<class>/...")
    dest_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_p.name}.partial-", dir=dest_p.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; it may become dest itself
        logger.info("extracting %s into %s", archive_p, dest_p)
        try:
            with tarfile.open(archive_p, "r:*") as tar:
                _safe_extract(tar, tmp)
        except tarfile.TarError as err:
            raise ValueError(f"{archive_p} is not a readable tar archive: {err}") from err
        root = _find_split_root(tmp)
        if root is None:
            raise ValueError(f"{archive_p} has no train/ folder: expected train/<class>/... and test/<class>/... "
                             f"(optionally under one top-level folder)")
        try:
            os.rename(root, dest_p)
        except OSError as err:
            if not (dest_p / "train").is_dir():  # not just another process finishing first
                raise FileExistsError(f"cannot move the extracted data to {dest_p} ({err}): remove it or "
                                      f"choose another destination") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(dest_p)
