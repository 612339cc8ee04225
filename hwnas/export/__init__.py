"""Stage 4, export: a network as a checked ONNX file (``exporter``) and its end-to-end latency
measured beside the table's prediction (``measure``)."""
