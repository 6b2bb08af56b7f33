"""Face swap inference: InsightFace buffalo_l + inswapper_128 on ONNX Runtime."""

__version__ = "0.1.0"
