"""Target devices: an ONNX Runtime execution provider with its settings, and how to reach it.

A device is built in (``cpu``, ``cpu-all``, ``cuda0``), resolved from ``cuda:N``, or loaded
from a YAML file (``devices/*.yaml`` are the examples). Its :attr:`DeviceSpec.id` names the
folder of its latency tables, ``latency_tables/<id>/``; a device at another precision than fp32
(``precision: int8`` in the YAML, ``--precision int8``, or ``cpu@int8``) is another device, whose
id ends in its precision (``cpu-int8``), so tables of different precisions never mix. ``runner`` and ``python`` say how to
reach a target that is not this process (see :mod:`hwnas.device.target`); they are not part of
what the device *is*, so changing them never voids a table. A provider that the target's ONNX
Runtime lacks is an error that says what to install: hwnas never falls back to the CPU
silently, because a table measured on the wrong device is worse than no table.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from hwnas.core import fileio

log = logging.getLogger(__name__)

GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")
# The repository's examples; an installed wheel may lack them, hence BUILTIN below.
DEVICES_DIR = fileio.shipped("devices")  # the repository's, packed into the wheel
FIELDS = ("name", "id", "provider", "provider_options", "intra_op_threads", "inter_op_threads",
          "graph_optimization", "batch_size", "precision", "description", "runner", "python")
PRECISIONS = ("fp32", "fp16", "int8")  # what the networks run at (see hwnas.device.precision)
REACH = ("runner", "python")  # how to reach the target, not what it is
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CUDA_RE = re.compile(r"cuda:?(\d+)")
# Both builds own the folder onnxruntime/: the CPU build uninstalled first, or its removal later
# deletes files of the GPU build.
_GPU_BUILD = "pip uninstall -y onnxruntime, then pip install onnxruntime-gpu"
_INSTALL_HINTS = {
    "CUDAExecutionProvider": _GPU_BUILD + ", with a CUDA and cuDNN that match it",
    "TensorrtExecutionProvider": _GPU_BUILD + ", with TensorRT installed",
    "OpenVINOExecutionProvider": "pip uninstall -y onnxruntime, then pip install onnxruntime-openvino",
    "DmlExecutionProvider": "pip uninstall -y onnxruntime, then pip install onnxruntime-directml",
    "ROCMExecutionProvider": "install an onnxruntime build with ROCm (see onnxruntime.ai)",
}

OptionValue = Union[str, int, float, bool]

# The shipped devices as data, so that they resolve without the devices/ folder. The YAML
# files there must say the same (tests/test_device.py checks it).
BUILTIN: Dict[str, Dict[str, Any]] = {
    "cpu": {"name": "cpu", "provider": "CPUExecutionProvider", "intra_op_threads": 1, "inter_op_threads": 1,
            "graph_optimization": "all", "batch_size": 1,
            "description": "CPU, one intra-op thread: the reproducible default"},
    "cpu-all": {"name": "cpu-all", "provider": "CPUExecutionProvider", "intra_op_threads": 0,
                "inter_op_threads": 1, "graph_optimization": "all", "batch_size": 1,
                "description": "CPU, all cores"},
    "cuda0": {"name": "cuda0", "provider": "CUDAExecutionProvider", "provider_options": {"device_id": 0},
              "intra_op_threads": 1, "inter_op_threads": 1, "graph_optimization": "all", "batch_size": 1,
              "description": "NVIDIA GPU 0 through the CUDA execution provider (needs onnxruntime-gpu)"},
}


class DeviceUnavailableError(RuntimeError):
    """The device's execution provider is not available in this ONNX Runtime."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def slug(text: str) -> str:
    """A file-system-safe, lower-case form of ``text`` (``"My GPU #2"`` -> ``"my-gpu-2"``)."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.") or "device"


def _freeze_options(options: Any) -> Tuple[Tuple[str, OptionValue], ...]:
    """Provider options as a sorted tuple of pairs: hashable, and equal however they were given."""
    if isinstance(options, Mapping):
        pairs = list(options.items())
    elif isinstance(options, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in options):
        pairs = [tuple(p) for p in options]
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError(f"field 'provider_options' names an option twice: {options!r}")
    else:
        raise ValueError(f"field 'provider_options' must be a mapping of option name to value, got {options!r}")
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"field 'provider_options' must map strings to strings or numbers "
                             f"(ONNX Runtime's provider options), got {key!r}: {value!r}")
    return tuple(sorted(pairs))


@dataclass(frozen=True)
class DeviceSpec:
    """One execution provider with the settings that latency was (or will be) measured under."""

    name: str
    provider: str
    provider_options: Tuple[Tuple[str, OptionValue], ...] = ()  # a mapping is accepted and frozen
    intra_op_threads: int = 1  # 0: ONNX Runtime's default (all cores)
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    batch_size: int = 1
    precision: str = "fp32"
    description: str = ""
    table_id: str = ""  # the YAML's ``id:``; empty: the slug of the name
    runner: Optional[str] = None  # a command prefix that runs a shell command line on the target (``ssh pi@host``)
    python: Optional[str] = None  # the target's Python (default ``python3`` with a runner)

    def __post_init__(self) -> None:
        try:
            self._validate()
        except ValueError as exc:
            raise ValueError(f"device {self.name!r}: {exc}") from None

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"field 'name' must be a non-empty string, got {self.name!r}")
        if not isinstance(self.provider, str) or not self.provider.endswith("ExecutionProvider"):
            raise ValueError(f"field 'provider' must be an ONNX Runtime execution provider name such as "
                             f"CPUExecutionProvider or CUDAExecutionProvider, got {self.provider!r}")
        object.__setattr__(self, "provider_options", _freeze_options(self.provider_options))
        for key in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, key)
            if not _is_int(value) or value < 0:
                raise ValueError(f"field {key!r} must be an integer >= 0 (0: all cores), got {value!r}")
        if self.graph_optimization not in GRAPH_OPTIMIZATION:
            raise ValueError(f"field 'graph_optimization' must be one of {', '.join(GRAPH_OPTIMIZATION)}, "
                             f"got {self.graph_optimization!r}")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"field 'batch_size' must be an integer >= 1, got {self.batch_size!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"field 'precision' must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.precision == "fp16" and self.provider not in ("CPUExecutionProvider", "CUDAExecutionProvider"):
            raise ValueError(f"fp16 is measured on the CPU and CUDA providers only so far ({self.provider} takes "
                             f"fp16 by its own options, not checked); pass --precision fp32")
        if self.precision == "int8" and self.provider != "CPUExecutionProvider":
            raise ValueError(f"int8 is measured on the CPU provider only so far ({self.provider}'s int8 kernels "
                             f"are not checked); pass --precision fp32")
        if not isinstance(self.description, str):
            raise ValueError(f"field 'description' must be a string, got {self.description!r}")
        if not isinstance(self.table_id, str) or (self.table_id and not _ID_RE.fullmatch(self.table_id)):
            raise ValueError(f"field 'id' must be a file-system-safe name (letters, digits, '_', '.', '-', "
                             f"starting with a letter or digit), got {self.table_id!r}")
        for key in REACH:
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"field {key!r} must be a non-empty command, got {value!r}")
        if self.runner is not None:
            try:
                if not shlex.split(self.runner):
                    raise ValueError("empty")
            except ValueError as exc:
                raise ValueError(f"field 'runner' is not a command line ({exc}): {self.runner!r}") from None
        # Store the resolved id, so that from_dict(to_dict()) gives back an equal spec.
        object.__setattr__(self, "table_id", self.table_id or slug(self.name))

    @property
    def id(self) -> str:
        """Stable, file-system-safe id: the folder ``latency_tables/<id>/`` (``cpu``, ``cpu-int8``)."""
        return self.table_id if self.precision == "fp32" else f"{self.table_id}-{self.precision}"

    @property
    def remote(self) -> bool:
        """Whether the target is reached through an agent (a runner, or another Python)."""
        return self.runner is not None or self.python is not None

    def to_dict(self) -> Dict[str, Any]:
        """What the device is: plain, JSON-serialisable fields (the YAML format, ``id`` included),
        without how it is reached (see :meth:`reach`)."""
        return {"name": self.name, "id": self.table_id, "provider": self.provider,
                "provider_options": dict(self.provider_options), "intra_op_threads": self.intra_op_threads,
                "inter_op_threads": self.inter_op_threads, "graph_optimization": self.graph_optimization,
                "batch_size": self.batch_size, "description": self.description,
                **({"precision": self.precision} if self.precision != "fp32" else {})}

    def reach(self) -> Dict[str, str]:
        """How the target is reached: ``runner`` and ``python``, where set."""
        return {key: getattr(self, key) for key in REACH if getattr(self, key) is not None}

    def settings(self) -> Dict[str, Any]:
        """What an ONNX Runtime session on the target needs (sent to the agent)."""
        return {**{key: self.to_dict()[key] for key in ("provider", "provider_options", "intra_op_threads",
                                                        "inter_op_threads", "graph_optimization")},
                "precision": self.precision}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "device") -> "DeviceSpec":
        """Validate and build; ``where`` (e.g. a file name) starts every error message."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a mapping of device fields ({', '.join(FIELDS)}), "
                             f"got {type(d).__name__}")
        unknown = sorted(map(str, set(d) - set(FIELDS)))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
        missing = [key for key in ("name", "provider") if key not in d]
        if missing:
            raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
        kwargs = {key: value for key, value in d.items() if key != "id"}
        if kwargs.get("provider_options") is None:
            kwargs["provider_options"] = {}  # an empty ``provider_options:`` in YAML reads as None
        try:
            return cls(table_id=d.get("id") or "", **kwargs)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def check_available(self, providers: Optional[Sequence[str]] = None, where: str = "this onnxruntime",
                        builds: Optional[Sequence[str]] = None) -> None:
        """Raise :class:`DeviceUnavailableError` unless ``providers`` (default: this ONNX Runtime's)
        has the provider; ``builds``, the ONNX Runtime distributions installed there, name a
        clobbered install (two builds in one package folder) as the cause."""
        if providers is None:
            import onnxruntime as ort

            providers, where = ort.get_available_providers(), f"this onnxruntime {ort.__version__}"
        if self.provider not in providers:
            hint = _INSTALL_HINTS.get(self.provider, "install an onnxruntime build that includes it")
            if builds is not None and len(builds) > 1:
                hint = (f"{where} has {' and '.join(builds)} installed over each other in one package folder: pip "
                        f"uninstall -y {' '.join(builds)}, then install the one you need ({hint})")
            raise DeviceUnavailableError(
                f"device {self.name!r} needs {self.provider}, which {where} does not have (available: "
                f"{', '.join(providers)}). To get it: {hint}. hwnas does not fall back to the CPU.")


def cuda_mismatch(torch_cuda: Optional[str], onnxruntime_cuda: Optional[str]) -> Optional[str]:
    """Why PyTorch and ONNX Runtime cannot share one process's CUDA (different major versions
    load conflicting libraries), or None."""
    if not torch_cuda or not onnxruntime_cuda:
        return None
    if str(torch_cuda).split(".")[0] == str(onnxruntime_cuda).split(".")[0]:
        return None
    return (f"PyTorch is built for CUDA {torch_cuda} and onnxruntime-gpu for CUDA {onnxruntime_cuda}: one process "
            f"cannot load both; install the onnxruntime-gpu made for CUDA {str(torch_cuda).split('.')[0]} "
            f"(see onnxruntime.ai's install matrix), or measure through the agent (device field python:)")


def with_precision(device: str, precision: str) -> str:
    """How to name ``device`` (a name, ``cuda:N``, a YAML path, possibly ``...@PRECISION``) at
    ``precision`` on a command line: ``cpu`` -> ``cpu@int8``; fp32 is the plain name."""
    base, at, last = str(device).rpartition("@")
    base = base if at and last in PRECISIONS else str(device)
    return base if precision == "fp32" else f"{base}@{precision}"


def named(spec: "DeviceSpec") -> str:
    """How a resolved device is named on a command line: its id's name, ``@PRECISION`` beyond fp32."""
    return with_precision(spec.table_id, spec.precision)


def load_device_yaml(path: Union[str, Path]) -> DeviceSpec:
    """A device from a YAML file whose keys are :class:`DeviceSpec` fields (plus ``id``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"device file {path} not found (see devices/*.yaml for examples)")
    return DeviceSpec.from_dict(fileio.read_yaml(path, "a device file is YAML (see devices/*.yaml)"), where=str(path))


def known_devices(devices_dir: Union[str, Path, None] = None) -> List[str]:
    """Names :func:`resolve_device` accepts besides ``cuda:N`` and paths."""
    folder = Path(devices_dir) if devices_dir is not None else DEVICES_DIR
    found = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    return list(BUILTIN) + [name for name in found if name not in BUILTIN]


def resolve_device(spec: Union[str, Path, DeviceSpec], devices_dir: Union[str, Path, None] = None) -> DeviceSpec:
    """``cpu``, ``cpu-all``, ``cuda0``, ``cuda:N``, a device YAML path, or ``<name>`` of
    ``<devices_dir>/<name>.yaml`` (default: the repository's ``devices/``).

    The built-in names always mean the built-in specs, so ``cpu`` is the same everywhere;
    to change a setting, copy a YAML file under a new name.
    """
    if isinstance(spec, DeviceSpec):
        return spec
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"a device is a name or a YAML path, got {type(spec).__name__}")
    text, at, precision = str(spec).rpartition("@")
    if not at or "/" in precision or os.sep in precision:  # no '@', or one inside a path
        text, at = str(spec), ""
    if at:  # NAME@PRECISION: the device at another precision (what --precision passes on)
        if precision not in PRECISIONS:
            raise ValueError(f"{spec}: the precision after '@' must be one of {', '.join(PRECISIONS)}")
        return replace(resolve_device(text, devices_dir), precision=precision)
    if isinstance(spec, Path) or text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text:
        return load_device_yaml(text)
    if text in BUILTIN:
        return DeviceSpec.from_dict(BUILTIN[text])
    match = _CUDA_RE.fullmatch(text)
    if match:
        n = int(match.group(1))
        return DeviceSpec.from_dict({**BUILTIN["cuda0"], "name": f"cuda{n}", "provider_options": {"device_id": n},
                                     "description": f"NVIDIA GPU {n} through the CUDA execution provider "
                                                    f"(needs onnxruntime-gpu)"})
    folder = Path(devices_dir) if devices_dir is not None else DEVICES_DIR
    if (folder / f"{text}.yaml").is_file():
        return load_device_yaml(folder / f"{text}.yaml")
    raise ValueError(f"unknown device {text!r}: use one of {', '.join(known_devices(devices_dir))}, cuda:N, "
                     f"or a path to a device YAML file (see {DEVICES_DIR.name}/*.yaml for the format)")
