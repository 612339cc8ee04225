"""ONNX Runtime sessions with a device's settings, and the one measurement every stage asks for:
several models timed in interleaved rounds. Needs only NumPy and ONNX Runtime."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .load import LoadMonitor
from .timing import Interleaved, bound_runner, random_feeds, time_interleaved

GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


class ProviderMissing(RuntimeError):
    """The device's execution provider is not available, or a session did not get it."""


class PrecisionUnsupported(RuntimeError):
    """The provider has no kernels at the device's precision for some of the model's operations."""


# What ONNX Runtime names the casts it inserts around an operation that has no fp16 kernel on
# the provider (found in the optimised model it writes; the agent cannot parse ONNX files).
FP32_FALLBACK = b"InsertedPrecisionFreeCast_"


def session_options(settings: Dict[str, Any]) -> Any:
    """``onnxruntime.SessionOptions`` with the device's threads and graph optimisation."""
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(settings["intra_op_threads"])
    options.inter_op_num_threads = int(settings["inter_op_threads"])
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[settings["graph_optimization"]]
    options.log_severity_level = 3  # errors only: placement notices would flood a profiling run
    return options


def memory_location(settings: Dict[str, Any]) -> Tuple[str, int]:
    """(ORT device type, device id) where inputs and outputs live while timing."""
    if settings["provider"] in GPU_PROVIDERS:
        device_id = dict(settings.get("provider_options") or {}).get("device_id", 0)
        return "cuda", int(device_id) if str(device_id).isdigit() else 0
    return "cpu", 0


def open_session(model: bytes, settings: Dict[str, Any]) -> Any:
    """A session with the device's provider; refused, not run on the CPU, where it lacks the provider.

    ONNX Runtime lists the CUDA provider even when CUDA itself fails to load, then runs the
    session on the CPU with only a log line: the providers are checked after the start too. At
    fp16 (``settings["precision"]``) a model that the provider would run partly in fp32 is
    refused (:class:`PrecisionUnsupported`).
    """
    import onnxruntime as ort

    provider = settings["provider"]
    available = ort.get_available_providers()
    if provider not in available:
        raise ProviderMissing(f"{provider} is not in this onnxruntime {ort.__version__} (available: "
                              f"{', '.join(available)})")
    options = session_options(settings)
    providers = [(provider, dict(settings.get("provider_options") or {}))]
    if settings.get("precision") == "fp16":
        session = _fp16_session(model, options, providers)
    else:
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
    if provider not in session.get_providers():
        raise ProviderMissing(f"ONNX Runtime could not start {provider} (the session runs on "
                              f"{', '.join(session.get_providers())})")
    return session


def _fp16_session(model: bytes, options: Any, providers: list) -> Any:
    """A session of an fp16 model, refused where ONNX Runtime would run some of it in fp32 (the
    optimised model it writes shows the casts it inserted)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="hwnas-session-") as folder:
        options.optimized_model_filepath = os.path.join(folder, "optimized.onnx")
        session = ort.InferenceSession(model, sess_options=options, providers=providers)
        with open(options.optimized_model_filepath, "rb") as f:
            if FP32_FALLBACK in f.read():
                raise PrecisionUnsupported(
                    f"ONNX Runtime {ort.__version__}'s {providers[0][0]} lacks fp16 kernels for some of the model's "
                    f"operations on this machine: it runs them in fp32 between casts it inserts, so fp16 timings "
                    f"would describe fp32 work; measure at fp32 (or int8 on a CPU)")
    return session


def model_runner(model: bytes, shapes: Sequence[Sequence[int]], settings: Dict[str, Any], seed: int = 0
                 ) -> Callable[[], None]:
    """A zero-argument runner of an ONNX model on the device with seeded random inputs (see :func:`bound_runner`)."""
    session = open_session(model, settings)
    return bound_runner(session, random_feeds(session, [tuple(s) for s in shapes], seed), *memory_location(settings))


class Bench:
    """Models opened on this machine one batch at a time, then timed together in interleaved rounds.

    Models arrive in batches (a remote target is sent a few at a time, so neither side holds
    every model's bytes at once); each becomes a session with seeded random inputs, and
    :meth:`time` times all of them and empties the bench.
    """

    def __init__(self) -> None:
        self.runs: List[Callable[[], None]] = []

    def add(self, settings: Dict[str, Any], models: Sequence[bytes], shapes: Sequence[Sequence[Sequence[int]]],
            first: bool = False) -> int:
        """Open ``models`` (each with its input shapes); ``first`` empties the bench before."""
        if first:
            self.runs = []
        for model, model_shapes in zip(models, shapes):
            self.runs.append(model_runner(model, model_shapes, settings, seed=len(self.runs)))
        return len(self.runs)

    def time(self, repeats: int = 40, rounds: int = 4, warmup: int = 3,
             progress: Optional[Callable[[int, int], None]] = None) -> Interleaved:
        """Time every model added, with the load other processes put on the machine meanwhile."""
        runs, self.runs = self.runs, []
        with LoadMonitor() as monitor:
            timed = time_interleaved(runs, repeats=repeats, rounds=rounds, warmup=warmup, progress=progress)
        return Interleaved(timed.timings, timed.halves, monitor.load)
