"""Fine-tune time by AdamW implementation, batch size and whether the sub-word
embeddings train: the fused step (the product's, nuner.training.finetune._adamw)
against torch's per-tensor default, and the embeddings kept as pre-trained (the
default since f0-frozen-emb), on one k=8 CoNLL-2003 sample, interleaved repeats,
the tagger scored on dev each time (the two implementations train the same tagger).

    python bench/optimizer.py   # writes docs/optimizer.json and docs/optimizer.md
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import typer
from common import CONLL, DOCS, bench_backbone, machine, write_report
from transformers.utils import logging as hf_logging

import nuner.training.finetune as finetune_module
from nuner.core.backbones import STARTER_BACKBONE
from nuner.core.hyperparameters import FinetuneConfig
from nuner.training.fewshot import run_fewshot


@dataclass(frozen=True)
class Setting:
    batch_size: int
    implementation: str  # "fused" or "per-tensor"
    embeddings: str  # "frozen" or "trained"


SETTINGS = (
    Setting(4, "fused", "frozen"),  # the product default since 2026-12-06
    Setting(4, "fused", "trained"),  # since 2026-12-04
    Setting(4, "per-tensor", "trained"),
    Setting(8, "fused", "trained"),
    Setting(8, "per-tensor", "trained"),  # until 2026-12-04: the baseline
)
BASELINE = SETTINGS[-1]
K, SEED, EVAL_SENTENCES = 8, 0, 500

app = typer.Typer(add_completion=False)


@contextmanager
def implementation(name: str) -> Iterator[None]:
    """The trainer's AdamW, or torch's default (foreach) one in its place."""
    fused = finetune_module._adamw
    if name == "per-tensor":
        finetune_module._adamw = lambda groups, config: torch.optim.AdamW(
            groups, weight_decay=config.weight_decay
        )
    try:
        yield
    finally:
        finetune_module._adamw = fused


def one_run(backbone: str, setting: Setting) -> dict:
    frozen = {"freeze_word_embeddings": setting.embeddings == "frozen"}
    with implementation(setting.implementation):
        (run,) = run_fewshot(
            CONLL,
            backbone,
            [K],
            [SEED],
            FinetuneConfig(batch_size=setting.batch_size, **frozen),
            split="selection",
            max_eval=EVAL_SENTENCES,
        )
    return {**asdict(setting), **asdict(run)}


@app.command()
def main(repeats: int = 3, threads: int = 2) -> None:
    hf_logging.set_verbosity_error()
    torch.set_num_threads(threads)
    backbone = bench_backbone(STARTER_BACKBONE)
    runs = [one_run(backbone, setting) for _ in range(repeats) for setting in SETTINGS]
    summary = summarize(runs)
    result = {"machine": machine(), "threads": threads, "summary": summary, "runs": runs}
    (DOCS / "optimizer.json").write_text(json.dumps(result, indent=2))
    write_report(DOCS / "optimizer.md", report(summary, result))


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for setting in SETTINGS:
        mine = [r for r in runs if _setting(r) == setting]
        rows.append(
            {
                **asdict(setting),
                "median_train_seconds": statistics.median(r["train_seconds"] for r in mine),
                "f1": [round(100 * r["f1"], 2) for r in mine],
                "sentences": mine[0]["train_sentences"],
            }
        )
    baseline = next(r for r in rows if _setting(r) == BASELINE)
    for row in rows:
        row["time_vs_bs8_per_tensor"] = (
            row["median_train_seconds"] / baseline["median_train_seconds"]
        )
    return rows


def _setting(record: dict) -> Setting:
    return Setting(record["batch_size"], record["implementation"], record["embeddings"])


def report(summary: list[dict], result: dict) -> str:
    lines = "\n".join(
        f"| {r['batch_size']} | {r['implementation']} | {r['embeddings']} "
        f"| {r['median_train_seconds']:.1f} | "
        f"{r['time_vs_bs8_per_tensor']:.2f} | {' / '.join(f'{f:.1f}' for f in r['f1'])} |"
        for r in summary
    )
    return f"""# Fine-tune time by AdamW implementation and what it updates

`python bench/optimizer.py` (writes optimizer.json). One k={K} CoNLL-2003 sample (seed {SEED},
{summary[0]["sentences"]} sentences), the product default hyper-parameters but the batch size
and whether the sub-word embeddings train,
backbone starter-f0, {result["threads"]} threads on {result["machine"]["cpu_count"]} cores
({result["machine"]["cpu_model"]}); each setting run {len(summary[0]["f1"])} times, interleaved.
F1 on the first {EVAL_SENTENCES} dev sentences, once per run.

| batch | AdamW | sub-word embeddings | median train s | time vs batch 8, per-tensor | F1 per run |
|---|---|---|---|---|---|
{lines}
"""


if __name__ == "__main__":
    app()
