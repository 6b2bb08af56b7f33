"""Cost-faithful benchmarks of our engine against the reference face-swap pipeline (``python -m bench``)."""
