"""LLM annotation (METHOD.md section 1): raw text -> concept-annotated sentences
in the shared span format, ready for ``nuner pretrain``."""
