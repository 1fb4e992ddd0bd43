"""Measured latency as a cost: op profiling with ONNX Runtime, lookup tables, a surrogate model,
and validation of the additive latency model against whole networks."""
