"""An exported network at int8: quantized with calibration images of its own data, checked in
ONNX Runtime, and its test accuracy set beside the fp32 network's.

The quantization is the device layer's (:func:`hwnas.device.precision.at_precision`: ONNX
Runtime's static QDQ quantization with per-channel weights); here it is calibrated on images of
the training split rather than random data, because accuracy, unlike latency, depends on the
scales the calibration sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List

import numpy as np
from torch.utils.data import Dataset

from hwnas.device import Model
from hwnas.device.precision import at_precision

CALIBRATION_IMAGES = 128  # one image per calibration feed: the export's batch is 1
MAX_DROP_POINTS = 1.0  # an accuracy drop above this is flagged


def calibration_batches(train: Dataset, count: int = CALIBRATION_IMAGES, seed: int = 0) -> List[List[np.ndarray]]:
    """``count`` training images (seeded choice), each as a one-image batch."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(train), size=min(count, len(train)), replace=False)
    return [[train[int(i)][0].unsqueeze(0).numpy().astype(np.float32)] for i in picks]


def quantize(model: Model, train: Dataset | None = None) -> Model:
    """``model`` at int8, calibrated on ``train`` images (random data where none are given),
    checked to run in ONNX Runtime."""
    import onnxruntime as ort

    quantized = at_precision(model, "int8", calibration_batches(train) if train is not None else None)
    session = ort.InferenceSession(quantized.onnx, providers=["CPUExecutionProvider"])
    session.run(None, {i.name: np.zeros(shape, np.float32) for i, shape in zip(session.get_inputs(), model.shapes)})
    return quantized


def predictions(model_bytes: bytes, images: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes, labels) of ONNX Runtime running the model on every image, one at a time."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    predicted, labels = [], []
    for i in range(len(images)):
        x, y = images[i]
        predicted.append(int(np.argmax(session.run(None, {name: x.unsqueeze(0).numpy()})[0])))
        labels.append(int(y))
    return np.array(predicted), np.array(labels)


@dataclass
class QuantizedAccuracy:
    """Test accuracy (%) of the fp32 and the int8 network on the same images, and how often
    their predictions agree."""

    images: int
    fp32: float
    int8: float
    agreement: float

    @property
    def drop(self) -> float:
        return self.fp32 - self.int8

    def describe(self) -> str:
        flag = f"; the drop is over {MAX_DROP_POINTS:g} point: check the calibration data" \
            if self.drop > MAX_DROP_POINTS else ""
        return (f"test accuracy on {self.images} images: int8 {self.int8:.2f}%, fp32 {self.fp32:.2f}% "
                f"({self.int8 - self.fp32:+.2f} points); their predictions agree on {self.agreement:.1f}%{flag}")

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "drop": self.drop, "flagged": self.drop > MAX_DROP_POINTS}


def compare_accuracy(fp32: bytes, int8: bytes, test: Dataset) -> QuantizedAccuracy:
    """Both networks on the test images."""
    p32, labels = predictions(fp32, test)
    p8, _ = predictions(int8, test)
    return QuantizedAccuracy(len(labels), 100 * float(np.mean(p32 == labels)), 100 * float(np.mean(p8 == labels)),
                             100 * float(np.mean(p32 == p8)))
