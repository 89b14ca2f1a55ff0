"""Fine-tune a token tagger on labelled examples (the ``nuner finetune`` entry point).

Its hyper-parameters, ``FinetuneConfig``, live in ``nuner.core.hyperparameters``
(imported here too), where the CLI and the job API read the same defaults.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast, get_linear_schedule_with_warmup

from nuner.core.alignment import AlignmentReport
from nuner.core.backbones import PRETRAINING_FILE
from nuner.core.encoding import TextEncoder
from nuner.core.hyperparameters import HEAD_DEFAULTS, FinetuneConfig
from nuner.core.labels import LabelSet
from nuner.core.types import Example
from nuner.training.augment import with_replaced_mentions
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.data import TrainingWindow, build_windows, mask_mentions, shuffled_batches
from nuner.training.frozen import CachedWindow, encode_windows, head_losses
from nuner.training.metrics import EntityReport
from nuner.training.model import NunerTagger, dropout_disagreement, tagging_loss
from nuner.training.predict import evaluate_pipeline, torch_pipeline
from nuner.training.pretrain.model import is_dual_encoder
from nuner.training.warm_start import label_name_scorer, warm_head_parameters

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    model: NunerTagger
    epochs_run: int
    best_epoch: int
    train_seconds: float
    alignment: AlignmentReport
    dev_report: EntityReport | None = None
    history: list[dict] = field(default_factory=list)
    backbone_pretraining: dict | None = None
    fold_history: list[dict] | None = None  # the dev-fold run that chose the epochs
    warm_start_reads: dict[str, str] | None = None  # type -> name read, where warm-started

    def training_info(self, config: FinetuneConfig, base_model: str, data: dict) -> dict:
        """What a checkpoint's training.json records (and a bundle manifest carries on)."""
        return {
            "config": config.model_dump(),
            "base_model": base_model,
            "data": data,
            "alignment": self.alignment.to_dict(),
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "dev_metrics": self.dev_report.to_dict() if self.dev_report else None,
            "backbone_pretraining": self.backbone_pretraining,
            "fold_history": self.fold_history,
            "warm_start_reads": self.warm_start_reads,
        }


def backbone_pretraining(backbone: str) -> dict | None:
    """What a `nuner pretrain` backbone was trained on, and under which licences."""
    path = Path(backbone) / PRETRAINING_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    return {k: info.get(k) for k in ("base_model", "data", "licences")}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def finetune(
    backbone: str,
    train: Sequence[Example],
    config: FinetuneConfig,
    dev: Sequence[Example] | None = None,
    labels: Sequence[str] | None = None,
    show_progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    label_reads: Mapping[str, str] | None = None,
) -> FinetuneResult:
    """Train a tagger; with a dev set, keep the best epoch and stop early.
    ``label_reads``: what a warm start's concept encoder reads for each type."""
    label_set = LabelSet.from_types(labels or {label for e in train for label in e.labels})
    if config.dev_fold and not dev:
        fold = _fold_run(backbone, train, config, label_set, label_reads)
        epochs = _best_fold_epoch(fold.history)
        config = config.model_copy(update={"epochs": epochs, "dev_fold": 0.0})
        result = finetune(
            backbone,
            train,
            config,
            None,
            label_set.entity_types,
            show_progress,
            on_epoch,
            label_reads,
        )
        result.fold_history = fold.history
        result.train_seconds += fold.train_seconds
        return result
    seed_everything(config.seed)
    warm = config.warm_start and config.head_can_warm_start and is_dual_encoder(backbone)
    tokenizer = load_fast_tokenizer(backbone)
    encoder = text_encoder_for(tokenizer, config.max_length, config.stride)
    model = NunerTagger.from_backbone(
        backbone,
        label_set.tags,
        head=config.head,
        features=config.features,
        shape_features=config.shape_features,
        classifier_dropout=config.classifier_dropout,
        window_length=config.max_length,
        window_stride=config.stride,
        normalize_features=warm,
    )
    reads = None
    if warm:
        scorer = label_name_scorer(backbone, label_set, label_reads)
        reads = scorer.reads
        # the threshold head taggers decode at (chosen on dev: docs/heads.md)
        model.set_head(*warm_head_parameters(scorer, HEAD_DEFAULTS.threshold))
    model.freeze_encoder(config.freeze_encoder)
    if config.freeze_word_embeddings:
        model.freeze_word_embeddings()
    start = copy.deepcopy(model.state_dict()) if warm and config.weight_interpolation < 1 else None
    device = pick_device(config.device)
    model.to(device)

    augmented = with_replaced_mentions(train, config.augment_copies, config.seed)
    windows, alignment = build_windows(
        augmented, encoder, label_set, config.misaligned, config.tagging
    )
    if not windows:
        raise ValueError("no training examples")
    generator = torch.Generator().manual_seed(config.seed)
    cached = None
    if config.freeze_encoder:
        cached = encode_windows(model, windows, encoder.pad_id, device)
    elif config.probe_epochs:
        probe = encode_windows(model, windows, encoder.pad_id, device)
        _linear_probe(model, probe, config, generator)

    training = _Training(model, windows, encoder.pad_id, config, warm, cached, _mask_id(tokenizer))
    evaluation = _Evaluation(encoder, dev, show_progress, on_epoch)
    soup_start = copy.deepcopy(model.state_dict()) if config.soup > 1 else None
    outcomes = []
    for ingredient in range(config.soup):
        if ingredient:  # the same start, another batch order and dropout
            model.load_state_dict(soup_start)
            torch.manual_seed(config.seed + ingredient)
            generator = torch.Generator().manual_seed(config.seed + ingredient)
        outcomes.append(_train(training, evaluation, generator, device))
    outcome = outcomes[0]
    dev_report = outcome.dev_report
    if len(outcomes) > 1:
        _average_weights(model, [each.state for each in outcomes])
    if start is not None:
        _interpolate_weights(model, start, config.weight_interpolation)
    model.eval()
    if dev and (len(outcomes) > 1 or start is not None):  # the dev score of what is returned
        dev_report = evaluate_pipeline(
            torch_pipeline(model, encoder, config.aggregation, decoding=config.decoding), dev
        )
    return FinetuneResult(
        model=model,
        epochs_run=outcome.epochs_run,
        best_epoch=outcome.best_epoch,
        train_seconds=sum(o.seconds for o in outcomes),
        alignment=alignment,
        dev_report=dev_report,
        history=outcome.history,
        backbone_pretraining=backbone_pretraining(backbone),
        warm_start_reads=reads,
    )


def _mask_id(tokenizer: PreTrainedTokenizerFast) -> int:
    """The mask token where the tokenizer has one (BERT, RoBERTa), else the unknown one."""
    return tokenizer.unk_token_id if tokenizer.mask_token_id is None else tokenizer.mask_token_id


@dataclass
class _Training:
    """What every ingredient of a soup trains alike."""

    model: NunerTagger
    windows: Sequence[TrainingWindow]
    pad_id: int
    config: FinetuneConfig
    warm: bool
    cached: Sequence[CachedWindow] | None  # the frozen encoder's features
    mask_id: int  # what config.mention_masking puts in place of a mention's sub-words


@dataclass
class _Evaluation:
    encoder: TextEncoder
    dev: Sequence[Example] | None
    show_progress: bool
    on_epoch: Callable[[dict], None] | None


@dataclass
class _Outcome:
    state: dict  # the weights kept: the best dev epoch's, else the last
    epochs_run: int
    best_epoch: int
    seconds: float
    dev_report: EntityReport | None
    history: list[dict]


def _train(
    training: _Training,
    evaluation: _Evaluation,
    generator: torch.Generator,
    device: torch.device,
) -> _Outcome:
    """Epochs from the model's current weights; with dev data, the best epoch's
    weights are kept and training stops after ``patience`` epochs without gain."""
    model, config, dev = training.model, training.config, evaluation.dev
    optimizer = _optimizer(model, config, training.warm)
    masking = torch.Generator().manual_seed(generator.initial_seed() + 1)
    total_steps = math.ceil(len(training.windows) / config.batch_size) * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps
    )
    best_f1, best_epoch, best_state, history = -1.0, 0, None, []
    dev_report = None
    started = time.perf_counter()
    progress = tqdm(
        range(1, config.epochs + 1), desc="fine-tune", disable=not evaluation.show_progress
    )
    epoch = 0
    for epoch in progress:
        if training.cached is None:
            batches = shuffled_batches(
                training.windows, config.batch_size, training.pad_id, generator
            )
            if config.mention_masking:
                rate, mask_id = config.mention_masking, training.mask_id
                batches = (mask_mentions(b, rate, mask_id, masking) for b in batches)
            losses = (batch_loss(model, b, device, config) for b in batches)
        else:
            losses = head_losses(
                model, training.cached, config.batch_size, generator, config.label_smoothing
            )
        record = {"epoch": epoch, "loss": _train_epoch(model, losses, optimizer, scheduler)}
        if dev:
            model.eval()
            pipeline = torch_pipeline(
                model, evaluation.encoder, config.aggregation, decoding=config.decoding
            )
            report = evaluate_pipeline(pipeline, dev)
            record["dev_f1"] = report.micro.f1
            if report.micro.f1 > best_f1:
                best_f1, best_epoch, dev_report = report.micro.f1, epoch, report
                best_state = copy.deepcopy(model.state_dict())
        history.append(record)
        progress.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
        if evaluation.on_epoch:
            evaluation.on_epoch(record)
        if dev and epoch - best_epoch >= config.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return _Outcome(
        state=copy.deepcopy(model.state_dict()) if config.soup > 1 else {},
        epochs_run=epoch,
        best_epoch=best_epoch or epoch,
        seconds=time.perf_counter() - started,
        dev_report=dev_report,
        history=history,
    )


def _average_weights(model: NunerTagger, states: Sequence[dict]) -> None:
    """The uniform soup: each floating-point weight the mean of the ingredients'."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.stack([state[name] for state in states]).mean(dim=0))


def _interpolate_weights(model: NunerTagger, start: dict, share: float) -> None:
    """Weights ``share`` of the way from ``start`` to the model's own (WiSE-FT)."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.lerp(start[name].to(tensor.device), tensor, share))


def _fold_run(
    backbone: str,
    train: Sequence[Example],
    config: FinetuneConfig,
    label_set: LabelSet,
    label_reads: Mapping[str, str] | None,
) -> FinetuneResult:
    """Every epoch on all but a seeded ``dev_fold`` share of the examples, each
    scored on that share (no early stop: a few held-out sentences score 0 for the
    first epochs)."""
    shuffled = random.Random(config.seed).sample(list(train), len(train))
    held = min(max(1, round(config.dev_fold * len(shuffled))), len(shuffled) - 1)
    if held < 1:
        raise ValueError("a dev fold needs at least two examples")
    fold_config = config.model_copy(update={"dev_fold": 0.0, "patience": config.epochs})
    return finetune(
        backbone,
        shuffled[held:],
        fold_config,
        dev=shuffled[:held],
        labels=label_set.entity_types,
        show_progress=False,
        label_reads=label_reads,
    )


def _best_fold_epoch(history: Sequence[dict]) -> int:
    """The last epoch of the best fold F1: scores on a few sentences tie often, and
    the later of two equal epochs has seen the examples more."""
    return max(history, key=lambda record: (record["dev_f1"], record["epoch"]))["epoch"]


def _linear_probe(
    model: NunerTagger,
    cached: Sequence[CachedWindow],
    config: FinetuneConfig,
    generator: torch.Generator,
) -> None:
    """The head alone on frozen features, at a constant rate (Kumar et al., 2022:
    fine-tuning from a random head distorts the pre-trained features)."""
    optimizer = _adamw(
        [{"params": list(model.head.parameters()), "lr": config.probe_learning_rate}], config
    )
    model.train()
    for _ in range(config.probe_epochs):
        for loss in head_losses(model, cached, config.batch_size, generator):
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)


def batch_loss(
    model: NunerTagger, batch: dict, device: torch.device, config: FinetuneConfig
) -> torch.Tensor:
    """One collated batch's training loss: label smoothing and R-Drop are for training
    only, so they live here and not in the model's forward."""
    inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
    labels = batch["labels"].to(device)
    logits = model(**inputs).logits
    loss = tagging_loss(logits, labels, config.label_smoothing)
    if not config.rdrop_weight:
        return loss
    again = model(**inputs).logits  # another dropout mask
    mean = (loss + tagging_loss(again, labels, config.label_smoothing)) / 2
    return mean + config.rdrop_weight * dropout_disagreement(logits, again, labels)


def _train_epoch(
    model: NunerTagger,
    losses: Iterator[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """One optimisation step per batch loss; returns the mean loss."""
    model.train()
    values = []
    for loss in losses:
        apply_gradients(loss, model, optimizer, scheduler)
        values.append(loss.item())
    return float(np.mean(values))


def apply_gradients(
    loss: torch.Tensor,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    """One optimisation step (gradients clipped to norm 1), shared with pre-training."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _optimizer(model: NunerTagger, config: FinetuneConfig, warm: bool) -> torch.optim.Optimizer:
    groups = [{"params": list(model.head.parameters()), "lr": config.head_rate(warm)}]
    shapes = model.shape_embeddings
    if shapes is not None and shapes.weight.requires_grad:
        groups.append({"params": [shapes.weight], "lr": config.shape_learning_rate})
    groups += _encoder_groups(model, config.encoder_rate(warm), config.layer_lr_decay)
    return _adamw(groups, config)


def _adamw(groups: list[dict], config: FinetuneConfig) -> torch.optim.Optimizer:
    """AdamW with the fused kernel, the same update in one pass over the weights: with
    the few sentences of a batch here, the default per-tensor loop took about as long
    as the forward and backward pass on CPU (docs/optimizer.md)."""
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay, fused=True)


def _encoder_groups(model: NunerTagger, rate: float, decay: float) -> list[dict]:
    """Trainable encoder parameters by depth (embeddings 0, layer i at i + 1, the
    rest on top), each depth at ``rate * decay ** (top - depth)``."""
    top = model.encoder.config.num_hidden_layers
    by_depth: dict[int, list[torch.nn.Parameter]] = {}
    for name, parameter in model.encoder.named_parameters():
        if not parameter.requires_grad:
            continue
        layer = re.search(r"\blayers?\.(\d+)\.", name)
        depth = int(layer.group(1)) + 1 if layer else 0 if "embeddings" in name else top
        by_depth.setdefault(depth, []).append(parameter)
    return [
        {"params": params, "lr": rate * decay ** (top - depth)}
        for depth, params in sorted(by_depth.items())
    ]
