"""Process-wide torch set-up, shared by every command and the fine-tune worker."""

from __future__ import annotations


def prepare_torch(threads: int | None) -> None:
    """Quiet transformers' warnings and cap torch's CPU threads (None: torch's default)."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if threads:
        torch.set_num_threads(threads)
