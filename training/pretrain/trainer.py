"""``nuner pretrain``: the training loop, checkpoints and resume, and the
backbone directory it leaves behind.

Single process by default; under ``torchrun`` / ``accelerate launch``
(``WORLD_SIZE`` > 1) each rank trains on its shard of the windows inside
DistributedDataParallel and rank 0 writes. Mixed precision (bf16) on GPU.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from nuner.core.backbones import PRETRAINING_FILE
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.finetune import apply_gradients, seed_everything
from nuner.training.pretrain.data import (
    AnnotatedExample,
    ConceptVocabulary,
    PretrainWindow,
    build_windows,
)
from nuner.training.pretrain.loss import masked_bce, targets_and_mask
from nuner.training.pretrain.model import (
    CONCEPT_ENCODER,
    DualEncoder,
    encoder_layers,
    freeze_bottom,
)
from nuner.training.pretrain.negatives import NegativeSampler

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


class PretrainConfig(BaseModel):
    """Not published in the paper unless noted; chosen as docs/pretrain.md records."""

    epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=16, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    max_length: int = Field(default=128, ge=16)
    stride: int = Field(default=16, ge=0)
    negatives: int = Field(default=64, ge=0, description="Sampled concepts beyond the batch's.")
    negative_alpha: float = Field(default=0.75, ge=0, le=1, description="count ** alpha.")
    frozen_layers: int | None = Field(
        default=None, ge=0, description="Bottom text-encoder layers frozen; default half."
    )
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = Field(default=True, description="bf16 autocast on GPU.")


@dataclass
class PretrainResult:
    output: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        return cls(int(os.environ.get("RANK", "0")), world)

    @property
    def main(self) -> bool:
        return self.rank == 0


def pretrain(
    backbone: str,
    examples: Sequence[AnnotatedExample],
    config: PretrainConfig,
    output: str | Path,
    data_sources: Sequence[dict] = (),
    resume: bool = True,
    show_progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> PretrainResult:
    """Train, checkpoint every epoch (resuming from the last one), write the backbone."""
    output = Path(output)
    dist = Distributed.from_env()
    seed_everything(config.seed)
    device = _device(config.device, dist)
    tokenizer = load_fast_tokenizer(backbone)
    encoder = text_encoder_for(tokenizer, config.max_length, config.stride)
    vocabulary = ConceptVocabulary.from_examples(examples)
    windows = _shard(build_windows(examples, encoder, vocabulary), dist)
    if not windows or not len(vocabulary):
        raise ValueError("no annotated windows to pre-train on")
    concept_ids = [
        tokenizer(name, truncation=True, max_length=16)["input_ids"] for name in vocabulary.names
    ]

    model = DualEncoder.from_backbone(backbone)
    layers = len(encoder_layers(model.text_encoder))
    frozen = layers // 2 if config.frozen_layers is None else min(config.frozen_layers, layers)
    freeze_bottom(model.text_encoder, frozen)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = math.ceil(len(windows) / config.batch_size) * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    state = _resume(output, model, optimizer, scheduler) if resume else {}
    history: list[dict] = state.get("history", [])
    network = torch.nn.parallel.DistributedDataParallel(model) if dist.world > 1 else model

    result = PretrainResult(output, history)
    started = time.perf_counter()
    for epoch in range(state.get("epoch", 0) + 1, config.epochs + 1):
        loss, tokens = _train_epoch(
            network,
            model,
            windows,
            concept_ids,
            vocabulary,
            config,
            epoch,
            optimizer,
            scheduler,
            device,
            tokenizer.pad_token_id or 0,
            show_progress and dist.main,
        )
        record = {"epoch": epoch, "loss": loss, "tokens": tokens * dist.world}
        history.append(record)
        result.tokens += record["tokens"]
        if dist.main:
            _save_state(output, epoch, model, optimizer, scheduler, history)
        if on_epoch:
            on_epoch(record)
    result.seconds = time.perf_counter() - started
    if dist.main:
        info = {
            "base_model": backbone,
            "config": config.model_dump(),
            "frozen_layers": frozen,
            "data": list(data_sources),
            "licences": sorted({s["licence"] for s in data_sources if s.get("licence")}),
            "concepts": len(vocabulary),
            "windows": len(windows) * dist.world,
            "history": history,
            "logit_scale": model.log_scale.detach().exp().item(),
            "logit_bias": model.bias.detach().item(),
            "seconds_this_run": round(result.seconds, 1),
            "tokens_per_second_this_run": round(result.tokens_per_second, 1),
        }
        write_backbone(output, model, tokenizer, info)
    return result


def _train_epoch(
    network: torch.nn.Module,
    model: DualEncoder,
    windows: list[PretrainWindow],
    concept_ids: list[list[int]],
    vocabulary: ConceptVocabulary,
    config: PretrainConfig,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: torch.device,
    pad_id: int,
    show_progress: bool,
) -> tuple[float, int]:
    """One pass; the shuffle and the negatives depend only on (seed, epoch), so a
    resumed run repeats exactly what an uninterrupted one would do."""
    network.train()
    torch.manual_seed(config.seed * 100_003 + epoch)  # dropout masks, also after a resume
    order = np.random.default_rng([config.seed, epoch]).permutation(len(windows))
    sampler = NegativeSampler(vocabulary.counts, config.negative_alpha, seed=config.seed + epoch)
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    losses, tokens = [], 0
    bar = tqdm(batches, desc=f"pre-train epoch {epoch}", disable=not show_progress)
    amp = uses_bf16_autocast(config, device)
    for indices in bar:
        batch = [windows[i] for i in indices]
        concepts = batch_concepts(batch, sampler, config.negatives)
        inputs = _collate(batch, pad_id, device)
        concept_inputs = _pad([concept_ids[c] for c in concepts], pad_id, device)
        targets, mask = targets_and_mask(batch, concepts, inputs["input_ids"].shape[1])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = network(inputs["input_ids"], inputs["attention_mask"], *concept_inputs)
        loss = masked_bce(logits.float(), targets.to(device), mask.to(device))
        apply_gradients(loss, model, optimizer, scheduler)
        losses.append(loss.item())
        tokens += int(inputs["attention_mask"].sum())
        elapsed = bar.format_dict.get("elapsed") or 0
        bar.set_postfix(
            loss=f"{np.mean(losses[-50:]):.4f}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}"
        )
    return float(np.mean(losses)), tokens


def uses_bf16_autocast(config: PretrainConfig, device: torch.device) -> bool:
    """GPU only: on CPUs without bf16 units autocast is slower than fp32."""
    return config.mixed_precision and device.type == "cuda"


def _shard(windows: list[PretrainWindow], dist: Distributed) -> list[PretrainWindow]:
    """Equal shares: a rank with one batch more would wait forever in DDP's all-reduce."""
    usable = len(windows) - len(windows) % dist.world
    return windows[:usable][dist.rank :: dist.world]


def batch_concepts(
    batch: Sequence[PretrainWindow], sampler: NegativeSampler, negatives: int
) -> list[int]:
    """The concepts of the batch (labelled or queried) plus sampled negatives."""
    own = set()
    for window in batch:
        own.update(int(c) for c in window.positives[:, 1])
        own.update(window.queried or ())
    return sorted(own) + sorted(int(c) for c in sampler.sample(negatives, exclude=own))


def _collate(batch: Sequence[PretrainWindow], pad_id: int, device: torch.device) -> dict:
    ids, mask = _pad([w.ids.tolist() for w in batch], pad_id, device)
    return {"input_ids": ids, "attention_mask": mask}


def _pad(rows: list[list[int]], pad_id: int, device: torch.device):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def _save_state(output: Path, epoch: int, model, optimizer, scheduler, history) -> None:
    directory = output / CHECKPOINTS
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / f".epoch-{epoch}.pt"
    torch.save(
        {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
        },
        staging,
    )
    staging.rename(directory / f"epoch-{epoch}.pt")
    for older in directory.glob("epoch-*.pt"):
        if older.name != f"epoch-{epoch}.pt":
            older.unlink()


def _resume(output: Path, model, optimizer, scheduler) -> dict:
    saved = sorted(
        (output / CHECKPOINTS).glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1])
    )
    if not saved:
        return {}
    state = torch.load(saved[-1], map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    logger.info("resumed from %s (epoch %d)", saved[-1], state["epoch"])
    return state


def write_backbone(output: Path, model: DualEncoder, tokenizer, info: dict) -> Path:
    """The text encoder as a plain HF directory (what `nuner finetune` takes), the
    concept encoder beside it, the provenance and a model card."""
    output.mkdir(parents=True, exist_ok=True)
    model.text_encoder.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    concept_dir = output / CONCEPT_ENCODER
    shutil.rmtree(concept_dir, ignore_errors=True)
    model.concept_encoder.save_pretrained(concept_dir, safe_serialization=True)
    tokenizer.save_pretrained(concept_dir)
    (output / PRETRAINING_FILE).write_text(json.dumps(info, indent=2))
    (output / "README.md").write_text(model_card(info))
    return output


def model_card(info: dict) -> str:
    data = "\n".join(
        f"| {s['name']} | {s.get('sentences', '')} | {s.get('licence', 'unknown')} |"
        for s in info["data"]
    )
    licences = ", ".join(info["licences"]) or "unknown"
    return f"""# NuNER-style pre-trained text encoder

Contrastive concept pre-training (NuNER, arXiv 2402.15343) of `{info["base_model"]}`
with `nuner pretrain`. Use this directory as a backbone: `nuner finetune --backbone DIR`.
The concept encoder is in `{CONCEPT_ENCODER}/`.

## Training data

| data | sentences | licence |
|---|---|---|
{data}

**Licences of the training data: {licences}.** Weights trained on CC BY-NC data
inherit its non-commercial terms; check them before commercial use.

## Training

{json.dumps(info["config"], indent=2)}

Bottom {info["frozen_layers"]} text-encoder layers frozen; {info["concepts"]} concepts;
{info["windows"]} windows. Loss per epoch: {[round(h["loss"], 4) for h in info["history"]]}.
"""


def _device(choice: str, dist: Distributed) -> torch.device:
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    device = torch.device("cuda", dist.rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device
