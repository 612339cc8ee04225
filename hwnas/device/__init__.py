"""Stage 0, the device: what it is (:mod:`~hwnas.device.spec`), how it is reached
(:mod:`~hwnas.device.runner`, the :mod:`~hwnas.device.agent` that runs there), and the one
measurement every later stage asks of it (:func:`~hwnas.device.target.measure`)."""

from hwnas.device.agent.host import host_facts
from hwnas.device.agent.timing import LATENCY_STATISTIC, Interleaved, Timing
from hwnas.device.onnx import Model, module_model
from hwnas.device.runner import TargetError
from hwnas.device.spec import DeviceSpec, DeviceUnavailableError, resolve_device
from hwnas.device.target import Target, measure, measure_modules, open_target

__all__ = ["DeviceSpec", "DeviceUnavailableError", "Interleaved", "LATENCY_STATISTIC", "Model", "Target",
           "TargetError", "Timing", "host_facts", "measure", "measure_modules", "module_model", "open_target",
           "resolve_device"]
