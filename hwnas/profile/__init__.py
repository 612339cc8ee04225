"""Stage 1, the device's latency table: pieces timed in ONNX Runtime (``timing``,
``onnx_runtime``), the table built and resumed (``build``), checked and calibrated against
whole networks (``calibrate``), with other processes' load watched (``machine_load``)."""
