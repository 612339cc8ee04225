"""Models at the precision a device runs them: fp32 as exported, int8 by ONNX Runtime's own
static quantization, fp16 by onnxconverter-common's conversion.

int8 is ONNX Runtime's recipe (``onnxruntime.quantization``): ``quant_pre_process`` (shape
inference and graph clean-up), then ``quantize_static`` with its defaults except the QDQ format
and per-channel weights, calibrated on :data:`CALIBRATION_BATCHES` batches. For timing, the
batches are standard-normal random data of the input's shape: latency does not depend on the
values the scales come from, only on the graph (which Q/DQ pairs, which fused int8 kernels).
For accuracy (``hwnas export --precision int8 --accuracy``), batches of real images are passed in.

fp16 is ``onnxconverter_common.float16.convert_float_to_float16`` with its default operations
kept in fp32, inputs and outputs converted too (``keep_io_types=False``): a network and each of
its pieces take and give fp16 tensors, so a piece's time holds no casts that the network does
not run. Where the execution provider has no fp16 kernel for an operation, ONNX Runtime runs it
in fp32 between casts it inserts; the session refuses such a model
(:func:`hwnas.device.agent.session.open_session`) rather than time fp32 work as fp16.

Conversion happens here, on the machine that runs hwnas: a target needs only ONNX Runtime.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np

from hwnas.device.onnx import Model

CALIBRATION_BATCHES = 16
INT8_RECIPE = {"tool": "onnxruntime.quantization", "pre_process": True, "method": "quantize_static",
               "format": "QDQ", "per_channel": True, "calibration": "MinMax",
               "calibration_data": f"{CALIBRATION_BATCHES} batches of standard-normal random data (timing)"}


FP16_RECIPE = {"tool": "onnxconverter_common.float16", "method": "convert_float_to_float16",
               "keep_io_types": False, "operations_kept_fp32": "the tool's default block list"}


class PrecisionError(ValueError):
    """A model that cannot be brought to the asked precision; the message says what to do."""


def recipe(precision: str) -> Optional[Dict[str, object]]:
    """How models reach ``precision`` (recorded with tables); None for fp32."""
    recipes = {"int8": INT8_RECIPE, "fp16": FP16_RECIPE}
    return dict(recipes[precision]) if precision in recipes else None


def random_batches(model: Model, count: int = CALIBRATION_BATCHES, seed: int = 0) -> List[List[np.ndarray]]:
    """``count`` batches of standard-normal data, one array per input of ``model``."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape).astype(np.float32) for shape in model.shapes] for _ in range(count)]


def is_quantized(model: Model) -> bool:
    """Whether the model already holds quantization nodes (an int8 export): it runs as it is."""
    import onnx

    return any(node.op_type == "QuantizeLinear" for node in onnx.load_from_string(model.onnx).graph.node)


def is_fp16(model: Model) -> bool:
    """Whether the model takes fp16 inputs (an fp16 export): it runs as it is."""
    import onnx

    graph = onnx.load_from_string(model.onnx).graph
    return any(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16 for i in graph.input)


def at_precision(model: Model, precision: str, batches: Optional[Iterable[List[np.ndarray]]] = None) -> Model:
    """``model`` as it runs at ``precision``; ``batches`` (lists of input arrays) calibrate int8
    (default: :func:`random_batches`). A model at that precision already is left as it is."""
    if precision == "fp16":
        return model if is_fp16(model) else to_fp16(model)
    if recipe(precision) is None or is_quantized(model):
        return model
    return quantize_int8(model, batches if batches is not None else random_batches(model))


def to_fp16(model: Model) -> Model:
    """The model with fp16 weights, activations, inputs and outputs (see the module)."""
    import onnx
    from onnxconverter_common import float16

    try:
        with warnings.catch_warnings():  # its note for each weight below fp16's smallest (clamped to 1e-7)
            warnings.simplefilter("ignore", UserWarning)
            converted = float16.convert_float_to_float16(onnx.load_from_string(model.onnx), keep_io_types=False)
    except Exception as exc:  # the converter raises onnx errors of several kinds: one line
        detail = str(exc).splitlines()[0] if str(exc) else "no details"
        raise PrecisionError(f"onnxconverter-common could not convert the model to fp16 ({type(exc).__name__}: "
                             f"{detail}); measure it at fp32") from None
    return Model(converted.SerializeToString(), model.shapes)


def _from_quantization_tool(record: logging.LogRecord) -> bool:
    """False for the quantization tool's notes, logged on the root logger (a per-channel axis it
    skips on a BatchNorm's weight, pre-processing advice): noise for every piece profiled."""
    return "onnxruntime" not in record.pathname


def quantize_int8(model: Model, batches: Iterable[List[np.ndarray]]) -> Model:
    """Static QDQ int8 quantization with per-channel weights (ONNX Runtime's, see the module)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self, names: List[str]) -> None:
            self.feeds: Iterator[Dict[str, np.ndarray]] = (dict(zip(names, batch)) for batch in batches)

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            return next(self.feeds, None)

    root = logging.getLogger()
    root.addFilter(_from_quantization_tool)
    try:
        with tempfile.TemporaryDirectory(prefix="hwnas-int8-") as folder:
            source, prepared, quantized = (Path(folder) / name for name in ("model.onnx", "prepared.onnx", "int8.onnx"))
            source.write_bytes(model.onnx)
            quant_pre_process(str(source), str(prepared))
            names = [i.name for i in onnx.load(str(prepared)).graph.input]
            quantize_static(str(prepared), str(quantized), Batches(names), quant_format=QuantFormat.QDQ,
                            per_channel=True)
            return Model(quantized.read_bytes(), model.shapes)
    except Exception as exc:  # the tools raise onnx and ONNX Runtime errors of many kinds: one line
        ops = sorted({node.op_type for node in onnx.load_from_string(model.onnx).graph.node})
        detail = str(exc).splitlines()[0] if str(exc) else "no details"
        raise PrecisionError(f"ONNX Runtime's int8 quantization failed on a model of {', '.join(ops)} "
                             f"({type(exc).__name__}: {detail}); measure it at fp32") from None
    finally:
        root.removeFilter(_from_quantization_tool)
