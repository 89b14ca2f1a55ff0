"""The token tagger: any Hugging Face encoder plus a small classification head.

A ``PreTrainedModel`` subclass with its own config, so a checkpoint is one
plain HF directory (``config.json`` + ``model.safetensors`` + tokenizer) that
``from_pretrained`` reloads and the ONNX exporter can trace as a whole.

Heads: ``linear`` (dropout + linear) or ``mlp``, the paper's two-layer
fully-connected head. Features: ``last`` (last hidden layer) or ``two_emb``,
NuNER's "two-emb trick": the last layer concatenated with a middle one
(``hidden_states[-7]`` for a 12-layer model; in general layer
``num_layers - num_layers // 2``, overridable with ``middle_layer``).
Shape features (``nuner.core.shapes``): ``input`` adds a learned, zero-started
embedding of each token's word shape to its input embedding, so the encoder
reads case in context; ``head`` puts a one-hot of it beside the head's features.
``normalize_features``: the head reads unit vectors, as the zero-shot scorer
does, so a head started from the label names (nuner.training.warm_start)
begins as the zero-shot tagger.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput

from nuner.core.hyperparameters import FeatureKind, HeadKind, ShapeFeatures
from nuner.core.labels import IGNORE_INDEX
from nuner.core.shapes import NUM_SHAPES


class NunerTaggerConfig(PretrainedConfig):
    model_type = "nuner-tagger"

    def __init__(
        self,
        encoder: dict | None = None,
        tags: list[str] | None = None,
        head: HeadKind = "linear",
        features: FeatureKind = "last",
        shape_features: ShapeFeatures = "none",
        middle_layer: int | None = None,
        normalize_features: bool = False,
        head_hidden_size: int | None = None,
        classifier_dropout: float = 0.1,
        window_length: int = 256,
        window_stride: int = 32,
        base_model: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = dict(encoder or {})
        self.tags = list(tags or ["O"])
        # so Hugging Face's token-classification pipeline can read the tags too
        self.id2label = dict(enumerate(self.tags))
        self.label2id = {tag: i for i, tag in enumerate(self.tags)}
        self.head = head
        self.features = features
        self.shape_features = shape_features
        self.middle_layer = middle_layer
        self.normalize_features = normalize_features
        self.head_hidden_size = head_hidden_size
        self.classifier_dropout = classifier_dropout
        # Not ``max_length``: PretrainedConfig reserves that name for generation.
        self.window_length = window_length
        self.window_stride = window_stride
        self.base_model = base_model

    def encoder_config(self) -> PretrainedConfig:
        settings = dict(self.encoder)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


def _build_encoder(config: PretrainedConfig) -> PreTrainedModel:
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler (e.g. DistilBERT)
        return AutoModel.from_config(config)


class NunerTagger(PreTrainedModel):
    config_class = NunerTaggerConfig
    base_model_prefix = "encoder"

    def __init__(self, config: NunerTaggerConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        self.encoder = encoder if encoder is not None else _build_encoder(config.encoder_config())
        hidden = self.encoder.config.hidden_size
        width = hidden * (2 if config.features == "two_emb" else 1)
        self.shape_embeddings = self._build_shape_embeddings(config.shape_features, hidden)
        if config.shape_features == "head":
            width += NUM_SHAPES
        self.head = self._build_head(config, width, len(config.tags))
        self.head.apply(self._init_head)

    @staticmethod
    def _build_shape_embeddings(kind: ShapeFeatures, hidden: int) -> nn.Embedding | None:
        if kind == "input":  # zero: the encoder starts exactly as pre-trained
            return nn.Embedding(NUM_SHAPES, hidden, _weight=torch.zeros(NUM_SHAPES, hidden))
        if kind == "head":
            return nn.Embedding.from_pretrained(torch.eye(NUM_SHAPES), freeze=True)
        return None

    @staticmethod
    def _build_head(config: NunerTaggerConfig, width: int, num_tags: int) -> nn.Sequential:
        dropout = nn.Dropout(config.classifier_dropout)
        if config.head == "linear":
            return nn.Sequential(dropout, nn.Linear(width, num_tags))
        inner = config.head_hidden_size or width
        return nn.Sequential(
            dropout,
            nn.Linear(width, inner),
            nn.GELU(),
            nn.Dropout(config.classifier_dropout),
            nn.Linear(inner, num_tags),
        )

    def _init_head(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=0.02)
            module.bias.data.zero_()

    def _init_weights(self, module: nn.Module) -> None:
        self._init_head(module)

    @classmethod
    def from_backbone(
        cls, backbone: str, tags: list[str], local_files_only: bool = True, **head_options
    ) -> NunerTagger:
        """A fresh head on pre-trained encoder weights."""
        try:
            encoder = AutoModel.from_pretrained(
                backbone, add_pooling_layer=False, local_files_only=local_files_only
            )
        except TypeError:
            encoder = AutoModel.from_pretrained(backbone, local_files_only=local_files_only)
        config = NunerTaggerConfig(
            encoder=encoder.config.to_dict(), tags=tags, base_model=backbone, **head_options
        )
        return cls(config, encoder=encoder)

    @property
    def middle_layer(self) -> int:
        layers = self.encoder.config.num_hidden_layers
        return self.config.middle_layer or layers - layers // 2

    def set_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Start the head's (last) linear layer from given weights (a warm start)."""
        linear = self.head[-1]
        if linear.weight.shape != weight.shape:
            raise ValueError(f"head weights {tuple(weight.shape)} do not fit this tagger's head")
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)

    def freeze_encoder(self, frozen: bool = True) -> None:
        self.encoder.requires_grad_(not frozen)

    def freeze_word_embeddings(self, frozen: bool = True) -> None:
        self.encoder.get_input_embeddings().requires_grad_(not frozen)

    def features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        shape_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        two_emb = self.config.features == "two_emb"
        shapes = self.config.shape_features
        if shapes != "none" and shape_ids is None:
            raise ValueError("this tagger reads word shapes: pass shape_ids")
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        if shapes == "input":
            embedded = self.encoder.get_input_embeddings()(input_ids)
            extra["inputs_embeds"] = embedded + self.shape_embeddings(shape_ids)
        else:
            extra["input_ids"] = input_ids
        output = self.encoder(attention_mask=attention_mask, output_hidden_states=two_emb, **extra)
        features = output.last_hidden_state
        if two_emb:
            middle = output.hidden_states[self.middle_layer]
            features = torch.cat([features, middle], dim=-1)
        if self.config.normalize_features:
            features = nn.functional.normalize(features, dim=-1)
        if shapes == "head":
            features = torch.cat([features, self.shape_embeddings(shape_ids)], dim=-1)
        return features

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        shape_ids: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        """``token_type_ids`` is optional (zeros when absent, as in export and serving);
        ``shape_ids`` is read only by taggers made with shape features."""
        features = self.features(input_ids, attention_mask, token_type_ids, shape_ids)
        logits = self.head(features)
        loss = None if labels is None else tagging_loss(logits, labels)
        return TokenClassifierOutput(loss=loss, logits=logits)


def tagging_loss(
    logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy over tags; ``IGNORE_INDEX`` marks padding and special or
    whitespace-only tokens."""
    return nn.functional.cross_entropy(
        logits.view(-1, logits.shape[-1]),
        labels.view(-1),
        ignore_index=IGNORE_INDEX,
        label_smoothing=label_smoothing,
    )


def dropout_disagreement(
    first: torch.Tensor, second: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Symmetric KL divergence between two dropout passes' tag distributions over the
    labelled tokens (R-Drop, Liang et al., 2021): a tagger whose answer depends on which
    units dropped out has fitted its few examples by chance features."""
    keep = labels.view(-1) != IGNORE_INDEX
    p = first.view(-1, first.shape[-1])[keep].log_softmax(-1)
    q = second.view(-1, second.shape[-1])[keep].log_softmax(-1)
    forward = nn.functional.kl_div(p, q, reduction="batchmean", log_target=True)
    backward = nn.functional.kl_div(q, p, reduction="batchmean", log_target=True)
    return (forward + backward) / 2
