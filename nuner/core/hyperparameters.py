"""Fine-tune hyper-parameters and their defaults: the one source that the
trainer (``nuner.training.finetune``), the CLI options and the /v1/finetune
schema (``nuner.app.jobs.schemas``, with narrower ranges for the API) all read.
Torch-free, so the serving image validates job requests without training code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nuner.core.alignment import MisalignedPolicy
from nuner.core.decoding import Aggregation, Decoding

HeadKind = Literal["linear", "mlp"]
FeatureKind = Literal["last", "two_emb"]
# Word shapes of the original characters (nuner.core.shapes): none; added to the
# input embeddings (the encoder reads them in context); or one-hot beside the head's features.
ShapeFeatures = Literal["none", "input", "head"]
# bio: B-X opens an entity, I-X continues it; io: every entity token is trained on B-X,
# one tag a type, and the decoding's join makes the entities (gold spans of one type
# are next to each other for under 1% of mentions in the shared sets)
Tagging = Literal["bio", "io"]
Device = Literal["auto", "cpu", "cuda"]


# Learning rates by how the head starts (both chosen on dev): a random head learns at
# the encoder's rate (2e-4: docs/fewshot.md); a head warm-started from the label names
# starts useful and must move within ~120 steps, while the encoder beneath it need
# move less (docs/levers.md: warm-starter-hlr2e-3, warm-lr1e-4).
COLD_ENCODER_RATE = 2e-4
WARM_ENCODER_RATE = 1e-4
WARM_HEAD_RATE = 2e-3


class FinetuneConfig(BaseModel):
    """Hyper-parameters; defaults chosen on dev data (docs/fewshot.md)."""

    head: HeadKind = "linear"
    features: FeatureKind = "last"
    shape_features: ShapeFeatures = Field(
        default="input",
        description="Give the tagger each token's word shape (case, digits) from the text as "
        "written, which uncased tokenizers lose (input, chosen on dev: docs/levers.md).",
    )
    freeze_encoder: bool = Field(
        default=False, description="Train only the head, on features computed once."
    )
    freeze_word_embeddings: bool = Field(
        default=True,
        description="Keep the encoder's sub-word embeddings as pre-trained: as accurate as "
        "training them (chosen on dev: docs/levers.md, f0-frozen-emb) in 0.73x the time "
        "(docs/optimizer.md), the embedding table being half of a small encoder's weights.",
    )
    learning_rate: float | None = Field(
        default=None,
        gt=0,
        le=1e-1,
        description="Rate of the encoder; default: 1e-4 under a warm-started head, else 2e-4.",
    )
    head_learning_rate: float | None = Field(
        default=None,
        gt=0,
        le=1.0,
        description="Rate of the head; default: 2e-3 for a warm-started head, else the "
        "encoder's rate.",
    )
    shape_learning_rate: float = Field(
        default=2e-3,
        gt=0,
        le=1.0,
        description="Rate of the word-shape embeddings (shape_features input), which start "
        "at zero and must grow within a few steps.",
    )
    layer_lr_decay: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Each encoder layer below the top learns at this factor of the one above "
        "(1: one rate for all), so few examples move the general lower layers least.",
    )
    tagging: Tagging = Field(
        default="bio",
        description="Training targets: B-X then I-X per entity (bio), or one tag a type (io, "
        "for the joining decoding: viterbi-join).",
    )
    augment_copies: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Train also on this many copies of each labelled example in which every "
        "mention is swapped for another of its type from the examples (nuner.training.augment).",
    )
    probe_epochs: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Epochs of the head alone on the frozen encoder's features before the "
        "fine-tune (linear probe, then fine-tune), so the encoder's first steps follow a "
        "head that already separates the types instead of a random one.",
    )
    probe_learning_rate: float = Field(default=5e-3, gt=0, le=1.0)
    warm_start: bool = Field(
        default=True,
        description="Where the backbone has a concept encoder (a `nuner pretrain` backbone "
        "such as the starter's), start the head from its vectors of the label names, so the "
        "tagger begins as that backbone's zero-shot tagger (chosen on dev: docs/levers.md); "
        "a backbone without one, or a head other than linear on the last layer, starts "
        "from a random head (nuner.training.warm_start).",
    )
    weight_interpolation: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="For a warm-started tagger: its final weights are this share of the way "
        "from the zero-shot tagger it started as to the fine-tuned one (1: the fine-tuned "
        "weights), which keeps some of what the label names knew (WiSE-FT, Wortsman et al., "
        "2022); a random head is no tagger to go back to, so it is ignored there.",
    )
    soup: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Fine-tunes from the same start, each on its own seed (batch order, "
        "dropout), whose weights are averaged into one tagger (a uniform model soup, "
        "Wortsman et al., 2022): the serving cost of one tagger for n times the training.",
    )
    mention_masking: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of the examples' entity sub-words replaced by the mask token in "
        "each training batch, so the tagger learns entities by context and word shape, not "
        "only by the few names it was shown.",
    )
    rdrop_weight: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Weight of the disagreement between two dropout passes of each batch "
        "(R-Drop, Liang et al., 2021; 0: one pass), which twice the training time buys.",
    )
    label_smoothing: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of each training target spread over all tags, so a tagger fitted "
        "to a few sentences is less sure of every tag it saw.",
    )
    epochs: int = Field(default=30, ge=1, le=1000)
    batch_size: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Sentences (windows) a step: 4, chosen on dev (docs/levers.md: f0-bs4), "
        "twice the steps of 8 over the same few examples for the warm-started head.",
    )
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    classifier_dropout: float = Field(default=0.1, ge=0, lt=1)
    max_length: int = Field(default=256, ge=16, le=8192)
    stride: int = Field(default=32, ge=0)
    misaligned: MisalignedPolicy = "expand"
    aggregation: Aggregation = "average"
    decoding: Decoding = Field(
        default="viterbi-join",
        description="Entities from tag distributions: the most probable valid BIO sequence, "
        "same-type entities with only whitespace or nothing between them joined (viterbi-join, "
        "chosen on dev: docs/levers.md); without the join (viterbi); or each word on its own "
        "(lenient).",
    )
    patience: int = Field(default=5, ge=1, description="Epochs without dev gain before stopping.")
    dev_fold: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="With no dev set: the share of the examples held out to choose the "
        "epochs (the best dev epoch, stopping early), after which the tagger is trained "
        "again on all of them for that many epochs (0: train the set epochs).",
    )
    seed: int = 0
    device: Device = "auto"

    def encoder_rate(self, warm: bool) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return WARM_ENCODER_RATE if warm else COLD_ENCODER_RATE

    def head_rate(self, warm: bool) -> float:
        if self.head_learning_rate is not None:
            return self.head_learning_rate
        return WARM_HEAD_RATE if warm else self.encoder_rate(warm)

    @property
    def head_can_warm_start(self) -> bool:
        """The zero-shot scorer is linear in the last layer's unit vectors."""
        return self.head == "linear" and self.features == "last" and self.shape_features != "head"


DEFAULTS = FinetuneConfig()


class HeadFitConfig(BaseModel):
    """How a head tagger is fitted on a shared encoder's token vectors
    (``nuner.training.head``); defaults chosen on dev data (docs/heads.md)."""

    model_config = ConfigDict(frozen=True)

    warm_start: bool = Field(
        default=True, description="Start from the zero-shot vectors of the label names."
    )
    steps: int = Field(default=200, ge=0, le=100_000, description="Full-batch Adam steps.")
    learning_rate: float = Field(default=0.05, gt=0, le=10)
    l2: float = Field(default=1e-4, ge=0, description="Pull towards the start weights.")
    threshold: float | None = Field(
        default=0.2, ge=0, le=1, description="Decoding threshold; None: the encoder's."
    )


HEAD_DEFAULTS = HeadFitConfig()
