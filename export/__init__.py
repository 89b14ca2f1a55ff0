"""Checkpoint -> verified ONNX tagger bundles (issue 3; not built yet)."""
