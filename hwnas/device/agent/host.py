"""What a target is, told by what changes its speed: the CPU with its instruction sets, cores and
caches, the GPU, and the ONNX Runtime build.

A model name alone hides differences (machines that all report "AMD EPYC" have differed in
AVX-512 and VNNI), and ARM boards report no model name at all, so the fingerprint that decides
whether a table describes a target is the CPU's name *and* the instruction-set extensions that
ONNX Runtime's kernels use. Needs only the standard library (this module travels to targets).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

# Extensions that change which ONNX Runtime kernels run (and so latency), by architecture.
SPEED_FLAGS = {
    "x86": ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
            "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"),
    "arm": ("neon", "asimd", "asimddp", "asimdhp", "fphp", "asimdfhm", "i8mm", "bf16", "sve", "sve2", "sme"),
}
# ARM's "CPU implementer" and "CPU part" codes of common boards (Linux's arch/arm64 cputype.h).
ARM_IMPLEMENTERS = {"0x41": "ARM", "0x4e": "NVIDIA", "0x51": "Qualcomm", "0x61": "Apple", "0x48": "HiSilicon",
                    "0xc0": "Ampere"}
ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53", ("0x41", "0xd04"): "Cortex-A35", ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57", ("0x41", "0xd08"): "Cortex-A72", ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0a"): "Cortex-A75", ("0x41", "0xd0b"): "Cortex-A76", ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd0d"): "Cortex-A77", ("0x41", "0xd41"): "Cortex-A78", ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x41", "0xd40"): "Neoverse-V1", ("0x41", "0xd49"): "Neoverse-N2", ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x41", "0xd46"): "Cortex-A510", ("0x41", "0xd47"): "Cortex-A710", ("0x41", "0xd4d"): "Cortex-A715",
    ("0x4e", "0x003"): "Denver 2", ("0x4e", "0x004"): "Carmel",
}


def _blocks(cpuinfo: str) -> List[Dict[str, str]]:
    """``/proc/cpuinfo`` as one mapping per blank-line-separated block."""
    blocks, current = [], {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def parse_cpuinfo(cpuinfo: str, machine: str = "", board: str = "") -> Dict[str, Any]:
    """The CPU's facts from the text of ``/proc/cpuinfo``: name, architecture, the speed-relevant
    instruction-set flags, logical CPUs, and the board (ARM's ``Model`` line or ``board``)."""
    blocks = _blocks(cpuinfo)
    cpus = [b for b in blocks if "processor" in b and b["processor"].isdigit()]
    first = cpus[0] if cpus else (blocks[0] if blocks else {})
    glob = {k: v for b in blocks for k, v in b.items()}  # the board's lines stand in a block of their own
    flags = set((first.get("flags") or first.get("features") or "").split())
    is_arm = "cpu implementer" in first or machine.startswith(("aarch64", "arm"))
    arch = "arm" if is_arm else "x86"
    name = first.get("model name", "")
    if is_arm:
        implementer, part = first.get("cpu implementer", "").lower(), first.get("cpu part", "").lower()
        core = ARM_PARTS.get((implementer, part))
        if core or implementer:
            # "ARMv7 Processor rev 3 (v7l)" says little: the implementer and part name the core
            name = f"{ARM_IMPLEMENTERS.get(implementer, 'implementer ' + implementer)} " + (
                core or f"part {part}")
        board = glob.get("model", board) or board
    return {"cpu": name or machine or "unknown CPU", "arch": machine or arch,
            "flags": sorted(flags & set(SPEED_FLAGS[arch])), "logical_cpus": len(cpus) or None,
            "board": board or None}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def caches() -> Dict[str, str]:
    """Cache sizes of CPU 0 by level and type (``{"L1d": "32K", "L2": "1024K", ...}``), where Linux says."""
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(str(index / f)).strip() for f in ("level", "type", "size"))
        if level and size:
            out[f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")] = size
    return out


def cpu_facts() -> Dict[str, Any]:
    """This machine's CPU facts (see :func:`parse_cpuinfo`), its usable cores and caches."""
    board = _read("/proc/device-tree/model").strip("\x00\n ")
    facts = parse_cpuinfo(_read("/proc/cpuinfo"), platform.machine().lower(), board)
    if facts["cpu"] in (platform.machine().lower(), "unknown CPU") and platform.processor():
        facts["cpu"] = platform.processor()  # not Linux: the platform's own name
    facts["cores"] = usable_cores()
    facts["caches"] = caches()
    return facts


def gpu_facts(device_id: int = 0) -> Optional[Dict[str, Any]]:
    """GPU ``device_id`` as the CUDA runtime numbers it (``CUDA_VISIBLE_DEVICES`` applied): model,
    driver, memory and maximum SM clock, from nvidia-smi; None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    index = visible[device_id] if device_id < len(visible) else str(device_id)
    query = "index,name,driver_version,memory.total,clocks.max.sm,uuid"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader", "-i", index],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    values = [v.strip() for v in line.split(",")]
    if len(values) != len(query.split(",")):
        return None
    return dict(zip(("index", "name", "driver", "memory", "max_sm_clock", "uuid"), values))


# The distributions that each install the package folder onnxruntime/ (onnxruntime-extensions and
# the like are other packages).
ORT_BUILDS = {"onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml", "onnxruntime-rocm",
              "onnxruntime-qnn", "onnxruntime-silicon", "onnxruntime-training", "onnxruntime-vitisai", "ort-nightly",
              "ort-nightly-gpu"}


def onnxruntime_builds() -> Dict[str, Any]:
    """The installed ONNX Runtime distributions (two of them share one package folder: whichever
    was installed last, or removed, decides what imports) and the CUDA a GPU build was made for
    (its build record names no cuDNN)."""
    from importlib import metadata

    try:
        from onnxruntime.capi import build_and_package_info as build
    except ImportError:
        build = None
    names = sorted({(d.metadata["Name"] or "").lower() for d in metadata.distributions()} & ORT_BUILDS)
    return {"packages": names, "cuda": getattr(build, "cuda_version", None)}


def host_facts(gpu_id: Optional[int] = None) -> Dict[str, Any]:
    """Everything a table records of the machine it was measured on."""
    import onnxruntime as ort

    facts = cpu_facts()
    return {"cpu": facts["cpu"], "arch": facts["arch"], "flags": facts["flags"], "cores": facts["cores"],
            "logical_cpus": facts["logical_cpus"],
            "caches": facts["caches"], "board": facts["board"], "platform": platform.platform(),
            "python": platform.python_version(), "onnxruntime": ort.__version__,
            "providers": ort.get_available_providers(), "onnxruntime_builds": onnxruntime_builds(),
            "gpu": gpu_facts(gpu_id) if gpu_id is not None else None}


def fingerprint(facts: Dict[str, Any], gpu: bool = False) -> Optional[Dict[str, Any]]:
    """What must match for a table to describe a target: the CPU (name, architecture, speed
    flags) or, for a GPU device, the GPU's model and driver, the CUDA ONNX Runtime was built for,
    its version, and the host CPU (which launches every kernel). None where the record
    is too old to say (tables of earlier hwnas recorded no instruction sets), or names no GPU."""
    if gpu:
        g, build = facts.get("gpu"), facts.get("onnxruntime_builds") or {}
        if isinstance(g, dict):
            return {"gpu": g.get("name"), "driver": g.get("driver"), "cuda": build.get("cuda"),
                    "onnxruntime": facts.get("onnxruntime"), "cpu": facts.get("cpu")}
        return None
    if "flags" not in facts:
        return None
    return {"cpu": facts.get("cpu"), "arch": facts.get("arch"), "flags": sorted(facts.get("flags") or [])}


def describe_host(facts: Dict[str, Any]) -> str:
    """``AMD EPYC (x86_64; avx2 avx512f avx512_vnni ...)``: a machine as a table records it."""
    gpu = facts.get("gpu")
    name = f"{gpu.get('name')} on " if isinstance(gpu, dict) else ""
    if "flags" not in facts:
        return f"{name}{facts.get('cpu', 'an unknown machine')} (instruction sets not recorded)"
    return f"{name}{facts.get('cpu')} ({facts.get('arch')}; {' '.join(facts.get('flags') or []) or 'no SIMD flags'})"
