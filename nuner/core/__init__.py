"""The torch-free core: span types, dataset I/O, tokenisation windows, span <->
sub-word alignment, decoding, the inference pipeline, bundle formats, settings.

Everything here runs in the serving image (numpy + tokenizers): it imports
nothing of the other layers, nor torch or transformers (the import-linter
contracts in ``.importlinter`` hold it to that).
"""
