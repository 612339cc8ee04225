"""Stage 1, the device's latency table: pieces timed on the device's target (``build``), the
table checked and calibrated against whole networks (``calibrate``). Timing and the target
itself are the device layer's (:mod:`hwnas.device`)."""
