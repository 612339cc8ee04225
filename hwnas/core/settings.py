"""Run settings as dataclasses: what every run that reads a data set shares, and the strict
round trip through ``config.json`` (a setting this hwnas does not know is an error, never
dropped silently)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Dict, Optional, Tuple, Type, TypeVar

S = TypeVar("S", bound="DataSettings")

DATASETS: Tuple[str, ...] = ("digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "svhn", "imagefolder")


# Settings that say how a run runs, not what it computes: a resumed run takes them from its
# command line, the others from the run.
RUNTIME_SETTINGS = ("data_dir", "download", "torch_device", "num_workers", "threads")


def computed(config: Dict[str, Any]) -> Dict[str, Any]:
    """A run's settings without :data:`RUNTIME_SETTINGS`: what a resumed run must share with it."""
    return {k: v for k, v in config.items() if k not in RUNTIME_SETTINGS}


def edited_settings(saved: Dict[str, Any], recorded: Dict[str, Any], checkpoint: Any, config: Any) -> Optional[str]:
    """Where a checkpoint's settings and the run's disagree on what the run computes: the line
    that says so, ``None`` where they agree. (``--resume`` takes ``config.json``'s settings and
    refuses flags that would change them, so from the command line only an edit of that file
    gets here.)"""
    saved, recorded = computed(saved), computed(recorded)
    diffs = [f"{k}: {saved[k]!r} saved, {recorded.get(k)!r} now" for k in sorted(saved) if saved[k] != recorded.get(k)]
    if not diffs:
        return None
    return (f"the run's settings differ from those {checkpoint} was saved with ({'; '.join(diffs)}): if {config} was "
            f"edited by hand, put the saved values back; else start a new --name")


@dataclass
class DataSettings:
    """The data set a run reads, its split, its seed and where it trains."""

    what: ClassVar[str] = "run"  # named in errors: "unknown search setting(s)"

    dataset: str = "digits"
    data_dir: Optional[str] = None
    download: bool = False
    limit: Optional[int] = None
    image_size: int = 32  # imagefolder only: images are resized to this side
    val_fraction: float = 0.1
    seed: int = 0
    torch_device: str = "cpu"
    num_workers: int = 0
    threads: int = 0  # PyTorch threads: N, -1 fitted to the machine's load each epoch, 0 PyTorch's own

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: Type[S], d: Dict[str, Any]) -> S:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.what} setting(s) {unknown}")
        return cls(**d)

    def check_positive(self, *names: str) -> None:
        """Clear errors for settings that must be positive integers."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
