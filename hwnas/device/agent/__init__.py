"""The part of hwnas that runs on a target: timing, host facts, ONNX Runtime sessions, and the
loop that serves them over a runner's stdin and stdout. It needs Python >= 3.8, NumPy and ONNX
Runtime only: these modules are sent to the target as source (see :mod:`hwnas.device.runner`),
and in-process targets import them as they are, so every target is timed by the same code."""
