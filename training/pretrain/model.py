"""The two sub-networks and how their vectors meet.

Not published (METHOD.md), so chosen here and recorded: the concept vector
is the mean of the concept encoder's last layer over the name's tokens; both
vectors are L2-normalised and ``logit = scale * cos + bias`` with a learned
scale (init 10) and bias (init -5: positives are rare), which keeps the
sigmoid out of saturation at the start of training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel

from nuner.core.backbones import PRETRAINING_FILE
from nuner.training.checkpoint import CheckpointError

# What a `nuner pretrain` backbone directory holds beside the text encoder.
CONCEPT_ENCODER = "concept_encoder"


def load_encoder(path: str) -> PreTrainedModel:
    try:
        return AutoModel.from_pretrained(path, add_pooling_layer=False, local_files_only=True)
    except TypeError:
        return AutoModel.from_pretrained(path, local_files_only=True)


def encoder_layers(encoder: PreTrainedModel) -> nn.ModuleList:
    """The stack of transformer blocks (``encoder.layer`` in BERT and RoBERTa)."""
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == encoder.config.num_hidden_layers:
            return module
    raise ValueError(f"cannot find the transformer layers of {type(encoder).__name__}")


def freeze_bottom(encoder: PreTrainedModel, layers: int) -> None:
    """Embeddings and the bottom ``layers`` blocks stop learning (the paper: 6 of 12)."""
    if layers <= 0:
        return
    encoder.get_input_embeddings().requires_grad_(False)
    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is not None:
        embeddings.requires_grad_(False)
    for block in encoder_layers(encoder)[:layers]:
        block.requires_grad_(False)


class DualEncoder(nn.Module):
    def __init__(self, text_encoder: PreTrainedModel, concept_encoder: PreTrainedModel) -> None:
        super().__init__()
        self.text_encoder = text_encoder
        self.concept_encoder = concept_encoder
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    @classmethod
    def from_backbone(cls, backbone: str) -> DualEncoder:
        return cls(load_encoder(backbone), load_encoder(backbone))

    def token_vectors(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask)
        return F.normalize(hidden.last_hidden_state, dim=-1)

    def concept_vectors(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.concept_encoder(input_ids=input_ids, attention_mask=attention_mask)
        weights = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
        pooled = (hidden.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1)
        return F.normalize(pooled, dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        concept_ids: torch.Tensor,
        concept_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Logits ``(batch, tokens, concepts)``: every token against every concept."""
        tokens = self.token_vectors(input_ids, attention_mask)
        concepts = self.concept_vectors(concept_ids, concept_mask)
        return self.log_scale.exp() * tokens @ concepts.T + self.bias


def is_dual_encoder(backbone: str | Path) -> bool:
    root = Path(backbone)
    return (root / PRETRAINING_FILE).is_file() and (root / CONCEPT_ENCODER).is_dir()


def load_dual_encoder(backbone: str | Path) -> tuple[DualEncoder, dict]:
    """The dual encoder of a pre-trained backbone directory, with its scale and bias."""
    root = Path(backbone)
    if not is_dual_encoder(root):
        raise CheckpointError(
            f"{root} is not a pre-trained dual encoder ({PRETRAINING_FILE}, {CONCEPT_ENCODER}/)"
        )
    info = json.loads((root / PRETRAINING_FILE).read_text())
    dual = DualEncoder(load_encoder(str(root)), load_encoder(str(root / CONCEPT_ENCODER)))
    with torch.no_grad():
        dual.log_scale.fill_(math.log(info["logit_scale"]))
        dual.bias.fill_(info["logit_bias"])
    return dual.eval(), info
