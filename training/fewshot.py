"""The few-shot protocol: for each k and seed, sample k~2k from train, fine-tune,
score on the evaluation split; then mean ± std over seeds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from nuner.core.datasets import load_dataset_dir
from nuner.core.types import Example
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.finetune import FinetuneConfig, finetune
from nuner.training.predict import evaluate_pipeline, torch_pipeline
from nuner.training.sampling import sample_k_2k


@dataclass(frozen=True)
class FewshotRun:
    dataset: str
    k: int
    seed: int
    f1: float
    precision: float
    recall: float
    train_sentences: int
    train_mentions: int
    eval_sentences: int
    train_seconds: float
    per_type_f1: dict[str, float]


def evaluation_split(directory: str | Path, split: str) -> tuple[list[Example], list[Example]]:
    splits = load_dataset_dir(directory)
    examples = getattr(splits, split)
    if not examples:
        raise ValueError(f"{directory} has no {split} split")
    return splits.train, examples


def run_fewshot(
    dataset_dir: str | Path,
    backbone: str,
    ks: Sequence[int],
    seeds: Sequence[int],
    config: FinetuneConfig,
    split: str = "test",
    max_eval: int | None = None,
    on_run: Callable[[FewshotRun], None] | None = None,
    show_progress: bool = False,
) -> list[FewshotRun]:
    name = Path(dataset_dir).name
    train, evaluation = evaluation_split(dataset_dir, split)
    evaluation = evaluation[:max_eval] if max_eval else evaluation
    labels = sorted({label for e in train for label in e.labels})
    encoder = text_encoder_for(load_fast_tokenizer(backbone), config.max_length, config.stride)
    runs = []
    for k in ks:
        for seed in seeds:
            sample = sample_k_2k(train, k, seed=seed, types=labels)
            run_config = config.model_copy(update={"seed": seed})
            result = finetune(
                backbone, sample, run_config, labels=labels, show_progress=show_progress
            )
            pipeline = torch_pipeline(result.model, encoder, config.aggregation)
            report = evaluate_pipeline(pipeline, evaluation)
            run = FewshotRun(
                dataset=name,
                k=k,
                seed=seed,
                f1=report.micro.f1,
                precision=report.micro.precision,
                recall=report.micro.recall,
                train_sentences=len(sample),
                train_mentions=sum(len(e.spans) for e in sample),
                eval_sentences=len(evaluation),
                train_seconds=result.train_seconds,
                per_type_f1={t: s.f1 for t, s in sorted(report.per_type.items())},
            )
            runs.append(run)
            if on_run:
                on_run(run)
    return runs


def summarize(runs: Sequence[FewshotRun]) -> dict[str, dict[int, dict[str, float]]]:
    """``{dataset: {k: {mean, std, n}}}`` of micro F1 (sample std; 0 for one seed)."""
    grouped: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        grouped.setdefault(run.dataset, {}).setdefault(run.k, []).append(run.f1)
    return {
        dataset: {
            k: {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
            for k, values in sorted(by_k.items())
        }
        for dataset, by_k in grouped.items()
    }


def runs_to_dicts(runs: Sequence[FewshotRun]) -> list[dict]:
    return [asdict(run) for run in runs]
