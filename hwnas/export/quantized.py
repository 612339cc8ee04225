"""An exported network at int8 or fp16: converted, checked in ONNX Runtime, and its test
accuracy set beside the fp32 network's.

The conversion is the device layer's (:func:`hwnas.device.precision.at_precision`: ONNX
Runtime's static QDQ quantization with per-channel weights; onnxconverter-common's fp16). int8
is calibrated here on images of the training split rather than random data, because accuracy,
unlike latency, depends on the scales the calibration sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import numpy as np
from torch.utils.data import Dataset

from hwnas.device import Model
from hwnas.device.agent.timing import input_dtype
from hwnas.device.precision import at_precision

CALIBRATION_IMAGES = 128  # one image per calibration feed: the export's batch is 1
MAX_DROP_POINTS = 1.0  # an accuracy drop above this is flagged


def calibration_batches(train: Dataset, count: int = CALIBRATION_IMAGES, seed: int = 0) -> List[List[np.ndarray]]:
    """``count`` training images (seeded choice), each as a one-image batch."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(train), size=min(count, len(train)), replace=False)
    return [[train[int(i)][0].unsqueeze(0).numpy().astype(np.float32)] for i in picks]


def quantize(model: Model, train: Dataset | None = None, precision: str = "int8") -> Model:
    """``model`` at ``precision`` (int8: calibrated on ``train`` images, random data where none
    are given), checked to run in ONNX Runtime."""
    import onnxruntime as ort

    batches = calibration_batches(train) if train is not None and precision == "int8" else None
    converted = at_precision(model, precision, batches)
    session = ort.InferenceSession(converted.onnx, providers=["CPUExecutionProvider"])
    session.run(None, {i.name: np.zeros(shape, input_dtype(i)) for i, shape in zip(session.get_inputs(), model.shapes)})
    return converted


def accuracy_splits(space: Any, dataset: str = "digits", data_dir: Optional[str] = None, download: bool = False,
                seed: int = 0, limit: Optional[int] = None, image_size: int = 32) -> Any:
    """The data set's splits for an accuracy check, refused in one line where its images or
    classes do not fit ``space``'s network."""
    from hwnas.core.data import load_splits

    splits = load_splits(dataset, data_dir=data_dir, download=download, seed=seed, limit=limit, image_size=image_size)
    info, shape = splits.info, space.input_shape
    if (info.in_channels, info.input_size, info.input_size, info.num_classes) != (*shape, space.config()["num_classes"]):
        raise ValueError(f"--accuracy: {dataset} has {info.input_size}x{info.input_size}x{info.in_channels} images "
                         f"of {info.num_classes} classes, the network takes {shape[1]}x{shape[2]}x{shape[0]} and has "
                         f"{space.config()['num_classes']}: pass --input-size {info.input_size} --in-channels "
                         f"{info.in_channels} --num-classes {info.num_classes} (as it was trained)")
    return splits


def predictions(model_bytes: bytes, images: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes, labels) of ONNX Runtime running the model on every image, one at a time."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name, dtype = session.get_inputs()[0].name, input_dtype(session.get_inputs()[0])
    predicted, labels = [], []
    for i in range(len(images)):
        x, y = images[i]
        predicted.append(int(np.argmax(session.run(None, {name: x.unsqueeze(0).numpy().astype(dtype)})[0])))
        labels.append(int(y))
    return np.array(predicted), np.array(labels)


@dataclass
class ReducedAccuracy:
    """Test accuracy (%) of the fp32 network and of the same network at a reduced ``precision``
    (int8, fp16) on the same images, and how often their predictions agree."""

    images: int
    precision: str
    fp32: float
    reduced: float
    agreement: float

    @property
    def drop(self) -> float:
        return self.fp32 - self.reduced

    def describe(self) -> str:
        flag = f"; the drop is over {MAX_DROP_POINTS:g} point: check the calibration data" \
            if self.drop > MAX_DROP_POINTS else ""
        return (f"test accuracy on {self.images} images: {self.precision} {self.reduced:.2f}%, fp32 {self.fp32:.2f}% "
                f"({self.reduced - self.fp32:+.2f} points); their predictions agree on {self.agreement:.1f}%{flag}")

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "drop": self.drop, "flagged": self.drop > MAX_DROP_POINTS}


def compare_accuracy(fp32: bytes, reduced: bytes, test: Dataset, precision: str = "int8") -> ReducedAccuracy:
    """Both networks on the test images."""
    p32, labels = predictions(fp32, test)
    low, _ = predictions(reduced, test)
    return ReducedAccuracy(len(labels), precision, 100 * float(np.mean(p32 == labels)),
                           100 * float(np.mean(low == labels)), 100 * float(np.mean(p32 == low)))
