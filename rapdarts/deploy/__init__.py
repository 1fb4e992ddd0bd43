"""Deployment: ONNX export checked against torch, and ONNX Runtime timing (the torch-free part of which,
:mod:`rapdarts.ondevice`, also runs alone on a target device)."""
