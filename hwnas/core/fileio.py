"""Atomic file writes: a file that lasts is either the old version or the complete new one.

Write to a temporary file in the same folder, flush it to disk, then rename it over the
target (``os.replace`` is atomic on POSIX and Windows), so an interrupted run never leaves a
half-written table, genotype or checkpoint behind.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def _umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere reading it means setting it: put it straight back
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a file: give a file name (e.g. {path / 'name'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir())
        raise NotADirectoryError(f"cannot write {path}: {blocker} is a file, not a folder; choose another "
                                 f"path") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a file hwnas writes follows the umask
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(errno.ENOSPC, f"no space left on the device writing {path}; free some space and run "
                                        f"the same command again (the previous {path.name}, if any, is "
                                        f"unchanged)") from None
        raise


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(data)


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_torch(path: PathLike, obj: Any) -> None:
    """``torch.save`` atomically (checkpoints survive a kill during the write)."""
    import torch

    buffer = io.BytesIO()  # serialised first: a full disk then fails the write, not inside torch's writer
    torch.save(obj, buffer)
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(buffer.getbuffer())


def load_torch(path: PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a file that is not a readable torch file is a
    ValueError naming it (a missing file stays FileNotFoundError)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...): unreadable
        raise ValueError(f"{path} is not a readable torch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no details'}); it may be truncated or "
                         f"another kind of file") from None


def read_yaml(path: Path, what: str) -> Any:
    """The data of a YAML file; a file that is not text or not YAML is one line naming where
    (``what`` says what the file should be)."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file: {what}") from None
    except yaml.YAMLError as exc:  # its message spans lines: where it stopped, and why
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ValueError(f"{path} nests too deeply: {what}") from None


def shipped(folder: str) -> Path:
    """A folder of data hwnas ships (``latency_tables``, ``devices``): inside the installed
    package (a wheel puts it there), else at the top of the repository (a clone)."""
    package = Path(__file__).resolve().parents[1]
    inside = package / folder
    return inside if inside.is_dir() else package.parent / folder
