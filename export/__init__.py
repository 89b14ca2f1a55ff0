"""Checkpoint -> verified ONNX tagger bundles (see docs/bundles.md)."""
