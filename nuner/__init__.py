"""NuNER Service core: torch-free span types, dataset I/O, alignment and decoding.

Everything in this package runs in the serving image (numpy + tokenizers), so
it must never import torch or transformers at module level.
"""

__version__ = "0.1.0"
