"""Run folders: what a search, a training or a Pareto run leaves on disk, and how long runs stop.

Every run folder starts with ``config.json``: a header (format, hwnas and torch versions)
and the run's settings, by section. Long runs add ``metrics.csv`` (a row per epoch) and
checkpoints that carry a format version, checked before anything is read from them; Pareto
runs write their frames and ``pareto.json``. Every file is written atomically.

Stopping: the first Ctrl-C or SIGTERM asks a long run to stop at its next safe point (the end
of a step, where a checkpoint is consistent); a second Ctrl-C stops at once. Either way the
run raises :class:`Interrupted`, whose message says how to continue.
"""

from __future__ import annotations

import logging
import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pandas as pd

from hwnas import __version__
from hwnas.core import fileio
from hwnas.spaces.genotypes import Genotype, load_genotype

if TYPE_CHECKING:
    from hwnas.spaces import SearchSpace

CONFIG_FORMAT_VERSION = 1
PARETO_FORMAT_VERSION = 1


def check_run_name(name: str) -> str:
    """A run name is one folder name inside the runs folder: not empty, no separator, not ``.``
    or ``..``, not hidden (hwnas keeps its lock files there)."""
    if not name or name.strip() != name:
        raise ValueError(f"--name {name!r}: a run name is a non-empty folder name without surrounding spaces")
    if "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise ValueError(f"--name {name!r}: a run name is one folder name inside --runs-dir (no '/', no '..', not "
                         f"starting with '.'); to put runs elsewhere use --runs-dir")
    return name


def run_folder(runs_dir: str | Path, name: str, resume: bool = False, overwrite: bool = False) -> Path:
    """``runs_dir/name``, the name checked (:func:`check_run_name`) and the wishes checked to
    agree (``resume`` continues a run, ``overwrite`` replaces it)."""
    if resume and overwrite:
        raise ValueError("--resume continues a run and --overwrite replaces it: pass one of them")
    return Path(runs_dir) / check_run_name(name)


def refuse_a_used_folder(run_dir: Path, what: str) -> None:
    """A fresh run starts in an empty folder: another run's files would mix with its own."""
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise ValueError(f"{run_dir} already holds {what}'s files; continue it with --resume, replace it with "
                         f"--overwrite, or choose another --name")


def changed_settings(asked: Any, recorded: Any, given: Sequence[str]) -> List[str]:
    """'FIELD: X, the run has Y' for each setting in ``given`` that differs from the recorded
    run's (how it runs, threads or the torch device, may change: the run takes them as asked)."""
    from hwnas.core.settings import RUNTIME_SETTINGS

    was, now = recorded.to_dict(), asked.to_dict()
    return [f"{f}: {now[f]!r}, the run has {was[f]!r}" for f in given
            if f in now and f not in RUNTIME_SETTINGS and now[f] != was[f]]


@contextmanager
def long_run(run_dir: Path, what: str, asked: Any, read_recorded: Callable[[Path], Any], *, resume: bool = False,
             overwrite: bool = False, check: Optional[Callable[[Any], List[str]]] = None,
             say: Optional[Callable[[str], None]] = None) -> Iterator[Tuple[Any, Any]]:
    """``(world, settings)`` of a long run (``what``: "a search") in ``run_dir``: one process or a
    rank under torchrun; rank 0 holds the folder, and on ``resume`` reads the recorded settings
    (``read_recorded``; the runtime ones as ``asked``), refused where ``check`` names settings
    the caller would change; the other ranks take rank 0's."""
    from contextlib import nullcontext

    from hwnas.core.distributed import data_parallel
    from hwnas.core.settings import RUNTIME_SETTINGS

    say = say or logging.getLogger("hwnas").info
    if resume and overwrite:  # overwrite would empty the folder the resume reads
        raise ValueError("--resume continues a run and --overwrite replaces it: pass one of them")

    def settings() -> Any:
        if not resume:
            refuse_a_used_folder(run_dir, what)
            return asked
        recorded = read_recorded(run_dir)
        changed = check(recorded) if check is not None else []
        if changed:
            raise ValueError(f"--resume continues {run_dir} with its recorded settings, but {'; '.join(changed)}; drop "
                             f"those, or start a new --name")
        say(f"resuming {run_dir} with its recorded settings")
        return type(asked).from_dict({**recorded.to_dict(), **{f: getattr(asked, f) for f in RUNTIME_SETTINGS}})

    with data_parallel(asked.torch_device) as world:
        with own_run_folder(run_dir, fresh=overwrite) if world.is_main else nullcontext():
            yield world, world.broadcast(settings() if world.is_main else None)


@contextmanager
def own_run_folder(run_dir: str | Path, fresh: bool = False) -> Iterator[Path]:
    """Hold ``run_dir`` for this process while the block runs.

    A lock beside the folder (``.NAME.lock``, an exclusive ``flock``) refuses a second process,
    naming the owner's PID; the system releases it when its owner exits, however it exits. With
    ``fresh`` an existing folder is first moved aside in one rename and then deleted, so the new
    run never shares a folder with the files of an old one.
    """
    import fcntl

    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir.parent / f".{run_dir.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ValueError(f"{run_dir} is in use by another hwnas run (PID {owner}); wait for it to end, stop "
                             f"it, or choose another --name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if fresh and run_dir.is_symlink():
            raise ValueError(f"{run_dir} is a link: --overwrite replaces a run folder, not what a link points to; "
                             f"remove the link or choose another --name")
        if fresh and run_dir.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.old-", dir=run_dir.parent))
            os.replace(run_dir, aside / run_dir.name)  # one rename: the folder is the old run's or empty, never a mix
            shutil.rmtree(aside, ignore_errors=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        yield run_dir
    finally:
        os.close(fd)  # releases the lock


class Interrupted(Exception):
    """A long run was stopped (Ctrl-C or SIGTERM) after saving what it needs to resume."""


class StopRequests:
    """While entered: the first Ctrl-C / SIGTERM sets :attr:`requested`; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


@contextmanager
def stoppable(stop: StopRequests, at_once: str) -> Iterator[StopRequests]:
    """Run a block with ``stop`` listening; a stop at once (second Ctrl-C) becomes
    :class:`Interrupted` with the message ``at_once`` (what was kept, how to continue)."""
    try:
        with stop:
            yield stop
    except KeyboardInterrupt:
        raise Interrupted(at_once) from None


class RunFolder:
    """One run's folder and the files every kind of run shares."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- configuration -----------------------------------------------------------------------
    def write_config(self, **sections: Any) -> None:
        """``config.json``: the header, then each section (settings, spaces, genotype...)."""
        import torch

        fileio.write_json(self.path / "config.json", {
            "format_version": CONFIG_FORMAT_VERSION, "hwnas_version": __version__,
            "torch_version": torch.__version__, **sections})

    def read_config(self, what: str = "run") -> Dict[str, Any]:
        """``config.json``, checked to be one this hwnas wrote."""
        path = self.path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {self.path} a {what} folder?")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); it was edited or damaged") from None
        if not isinstance(config, dict) or config.get("format_version") != CONFIG_FORMAT_VERSION:
            raise ValueError(f"{path} is not a {what} configuration this hwnas reads (format "
                             f"{config.get('format_version') if isinstance(config, dict) else None!r})")
        return config

    # -- progress ----------------------------------------------------------------------------
    def write_metrics(self, rows: List[Mapping[str, Any]]) -> None:
        """``metrics.csv``: one row per finished epoch."""
        self.write_frame("metrics", pd.DataFrame(rows))

    def write_frame(self, name: str, frame: pd.DataFrame) -> None:
        with fileio.atomic_open(self.path / f"{name}.csv", "w") as handle:
            frame.to_csv(handle, index=False)

    def write_json(self, name: str, obj: Any) -> None:
        fileio.write_json(self.path / name, obj)

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, name: str, version: int, state: Dict[str, Any]) -> None:
        """A torch checkpoint stamped with its format ``version``."""
        fileio.save_torch(self.path / name, {"format_version": version, **state})

    def load_checkpoint(self, name: str, version: int, device: Any = "cpu", what: str = "checkpoint") -> Dict[str, Any]:
        """A checkpoint, checked to exist, to be readable and to be of format ``version``."""
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"no {what}: {path} does not exist")
        state = fileio.load_torch(path, map_location=device)
        found = state.get("format_version") if isinstance(state, dict) else None
        if found != version:
            raise ValueError(f"{path} has checkpoint format {found!r}, this hwnas reads {version}: start the run "
                             f"again with this version")
        return state


def searched_genotypes(run_dirs: Sequence[str | Path]) -> List[Genotype]:
    """The genotypes finished search runs derived, all of one space."""
    genotypes = []
    for run in run_dirs:
        path = Path(run) / "genotype.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {run} a finished search run directory?")
        genotypes.append(load_genotype(path))
    spaces = {g.space for g in genotypes}
    if len(spaces) > 1:
        raise ValueError(f"the runs hold genotypes of different spaces ({', '.join(sorted(spaces))}); a front is "
                         f"over one space: pass runs of one space")
    return genotypes


def write_pareto(out_dir: str | Path, frames: Mapping[str, pd.DataFrame], **info: Any) -> None:
    """A Pareto run: each frame as ``NAME.csv`` (``pareto``, ``evaluated``, ``history``) and
    ``pareto.json`` (the space, objectives, reference point, settings...)."""
    folder = RunFolder(out_dir)
    for name, frame in frames.items():
        folder.write_frame(name, frame)
    folder.write_json("pareto.json", {"format_version": PARETO_FORMAT_VERSION, **info})


def space_source(given: Optional[str], genotypes: Sequence[Genotype]) -> str:
    """What to build the genotypes' space from: ``given`` where there is one (a name, or a file,
    say one that moved), checked against the genotypes, else the space (or file) they record."""
    from hwnas.spaces.registry import space_class

    recorded = genotypes[0].space if genotypes else None
    if given is None:
        if recorded is None:
            raise ValueError("give search run directories or --space")
        return getattr(genotypes[0], "space_file", None) or recorded
    name = space_class(given).name
    if recorded is not None and name != recorded:
        raise ValueError(f"--space {given}{'' if given == name else f' (the space {name})'} does not match the "
                         f"genotype, which is of space {recorded}")
    return given


def trained_network(weights: Optional[str | Path]) -> Optional[Dict[str, Any]]:
    """The network options recorded beside ``weights`` by the training run that wrote them."""
    if not weights or not (Path(weights).parent / "config.json").is_file():
        return None
    return RunFolder(Path(weights).parent).read_config("training run").get("space")


def genotype_space(source: str | Genotype, space: Optional[str] = None, weights: Optional[str | Path] = None,
                   **options: Any) -> Tuple["SearchSpace", Genotype]:
    """A genotype (a file, JSON text, a published name) and its space at the network ``options``
    given (``None``: left out); those left out come from the training run of ``weights`` (unless
    ``space`` is given: a space file that moved since), else from a published genotype's
    definition, else the space's defaults."""
    from hwnas.spaces.genotypes import list_genotypes, published
    from hwnas.spaces.registry import make_space, space_from_config, with_flags

    genotype = load_genotype(source) if isinstance(source, (str, Path)) else source
    trained = trained_network(weights)
    if trained is not None and trained.get("space") == genotype.space and space is None:
        return with_flags(space_from_config(trained), **options), genotype
    if isinstance(source, str) and source in list_genotypes():
        options = {**dict(published(source).network), **{k: v for k, v in options.items() if v is not None}}
    return make_space(space_source(space, [genotype]), **options), genotype

