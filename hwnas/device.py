"""Target devices: an ONNX Runtime execution provider with its settings.

A device is loaded from ``devices/*.yaml`` (or built in: ``cpu``, ``cpu-all``, ``cuda0``) or
resolved from ``cuda:N``. Its :attr:`DeviceSpec.id` names the folder of its latency tables.
A provider that this ONNX Runtime lacks is an error that says what to install: hwnas never
falls back to the CPU silently.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")
DEVICES_DIR = Path(__file__).resolve().parent.parent / "devices"


class DeviceUnavailableError(RuntimeError):
    """The device's execution provider is not available in this ONNX Runtime."""


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    provider: str
    provider_options: Tuple[Tuple[str, Any], ...] = ()
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    batch_size: int = 1
    description: str = ""
    device_id: Optional[str] = field(default=None, compare=True)

    def __post_init__(self) -> None:
        if isinstance(self.provider_options, Mapping):
            object.__setattr__(self, "provider_options", tuple(sorted(self.provider_options.items())))
        for key in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"device {self.name!r}: {key} must be an integer >= 0 (0: all cores), got {value!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"device {self.name!r}: batch_size must be a positive integer, got {self.batch_size!r}")
        if self.graph_optimization not in GRAPH_OPTIMIZATION:
            raise ValueError(f"device {self.name!r}: graph_optimization must be one of "
                             f"{', '.join(GRAPH_OPTIMIZATION)}, got {self.graph_optimization!r}")
        if not isinstance(self.provider, str) or not self.provider.endswith("ExecutionProvider"):
            raise ValueError(f"device {self.name!r}: provider must be an ONNX Runtime execution provider name such as "
                             f"CPUExecutionProvider or CUDAExecutionProvider, got {self.provider!r}")

    @property
    def id(self) -> str:
        """Stable, file-system-safe id: the folder ``latency_tables/<id>/``."""
        return self.device_id or re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-") or "device"

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "id": self.id, "provider": self.provider,
                "provider_options": dict(self.provider_options), "intra_op_threads": self.intra_op_threads,
                "inter_op_threads": self.inter_op_threads, "graph_optimization": self.graph_optimization,
                "batch_size": self.batch_size, "description": self.description}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "device") -> "DeviceSpec":
        allowed = {"name", "id", "provider", "provider_options", "intra_op_threads", "inter_op_threads",
                   "graph_optimization", "batch_size", "description"}
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected a mapping of device settings, got {type(d).__name__}")
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
        for required in ("name", "provider"):
            if required not in d:
                raise ValueError(f"{where}: missing field {required!r}")
        options = d.get("provider_options") or {}
        if not isinstance(options, Mapping):
            raise ValueError(f"{where}: provider_options must be a mapping, got {options!r}")
        return cls(name=str(d["name"]), provider=d["provider"], provider_options=tuple(sorted(options.items())),
                   intra_op_threads=d.get("intra_op_threads", 1), inter_op_threads=d.get("inter_op_threads", 1),
                   graph_optimization=d.get("graph_optimization", "all"), batch_size=d.get("batch_size", 1),
                   description=str(d.get("description", "")), device_id=d.get("id"))

    def check_available(self) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if self.provider not in available:
            hint = ("install the GPU build: pip uninstall onnxruntime && pip install onnxruntime-gpu"
                    if self.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
                    else "install an onnxruntime build that includes it")
            raise DeviceUnavailableError(
                f"device {self.name!r} needs {self.provider}, which this onnxruntime {ort.__version__} does not "
                f"have (available: {', '.join(available)}); {hint}. hwnas does not fall back to the CPU.")

    def session_options(self):
        import onnxruntime as ort

        levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = levels[self.graph_optimization]
        options.log_severity_level = 3
        return options

    def memory_location(self) -> Tuple[str, int]:
        """(ORT device type, device id) where inputs and outputs live while timing."""
        if self.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            return "cuda", int(dict(self.provider_options).get("device_id", 0))
        return "cpu", 0

    def providers(self) -> List[Any]:
        return [(self.provider, dict(self.provider_options))]


BUILTIN: Dict[str, Dict[str, Any]] = {
    "cpu": {"name": "cpu", "provider": "CPUExecutionProvider", "intra_op_threads": 1, "inter_op_threads": 1,
            "graph_optimization": "all", "batch_size": 1,
            "description": "CPU, one intra-op thread: the reproducible default"},
    "cpu-all": {"name": "cpu-all", "provider": "CPUExecutionProvider", "intra_op_threads": 0, "inter_op_threads": 1,
                "graph_optimization": "all", "batch_size": 1, "description": "CPU, all cores"},
    "cuda0": {"name": "cuda0", "provider": "CUDAExecutionProvider", "provider_options": {"device_id": 0},
              "intra_op_threads": 1, "inter_op_threads": 1, "graph_optimization": "all", "batch_size": 1,
              "description": "NVIDIA GPU 0 through the CUDA execution provider (needs onnxruntime-gpu)"},
}


def load_device_yaml(path: str | Path) -> DeviceSpec:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"device file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    return DeviceSpec.from_dict(data, where=str(path))


def resolve_device(spec: str | DeviceSpec) -> DeviceSpec:
    """``cpu``, ``cpu-all``, ``cuda0``, ``cuda:N`` or a path to a device YAML file."""
    if isinstance(spec, DeviceSpec):
        return spec
    text = str(spec)
    if text in BUILTIN:
        return DeviceSpec.from_dict(BUILTIN[text])
    match = re.fullmatch(r"cuda:(\d+)", text)
    if match:
        n = int(match.group(1))
        return DeviceSpec.from_dict({**BUILTIN["cuda0"], "name": f"cuda{n}", "provider_options": {"device_id": n},
                                     "description": f"NVIDIA GPU {n} through the CUDA execution provider"})
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        return load_device_yaml(text)
    raise ValueError(f"unknown device {text!r}: use one of {', '.join(BUILTIN)}, cuda:N, or a path to a device "
                     f"YAML file (see devices/)")


def host_info() -> Dict[str, Any]:
    """What the table was measured on: CPU model, cores, platform, ONNX Runtime, GPU name."""
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=10)
            gpu = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            gpu = None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "gpu": gpu}
