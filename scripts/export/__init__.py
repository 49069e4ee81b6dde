"""The steps after the quality gate: ONNX and suite parity, lineage, one model store version."""
