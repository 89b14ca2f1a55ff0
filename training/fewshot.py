"""The few-shot protocol: for each k and seed, sample k~2k from train, fine-tune,
score on the evaluation split; then mean ± std over seeds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nuner.core.datasets import load_dataset_dir, selection_split
from nuner.core.types import Example
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.finetune import FinetuneConfig, finetune
from nuner.training.predict import evaluate_pipeline, torch_pipeline
from nuner.training.sampling import Sample, mention_totals, sample_best_effort, sample_k_2k


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
    best_effort: bool = False  # the k~2k budget could not be met (mentions_per_type says how)
    mentions_per_type: dict[str, int] = field(default_factory=dict)


def evaluation_split(directory: str | Path, split: str) -> tuple[list[Example], list[Example]]:
    """(the pool few-shot examples are drawn from, the examples scored): ``split`` is
    train, dev or test, or ``selection`` (dev, else a held-out train sample)."""
    if split == "selection":
        selection = selection_split(directory)
        return selection.pool, selection.examples
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
    best_effort: bool = False,
    label_reads: Mapping[str, str] | None = None,
) -> list[FewshotRun]:
    """``best_effort``: where no k~2k draw exists (small dense sets), train on the
    closest one (nuner.training.sampling.sample_best_effort), marked in each run.
    ``label_reads``: the types' written-out names, for a warm start."""
    name = Path(dataset_dir).name
    train, evaluation = evaluation_split(dataset_dir, split)
    evaluation = evaluation[:max_eval] if max_eval else evaluation
    labels = sorted({label for e in train for label in e.labels})
    encoder = text_encoder_for(load_fast_tokenizer(backbone), config.max_length, config.stride)
    runs = []
    for k in ks:
        for seed in seeds:
            if best_effort:
                drawn = sample_best_effort(train, k, seed=seed, types=labels)
            else:
                examples = sample_k_2k(train, k, seed=seed, types=labels)
                drawn = Sample(examples, mention_totals(examples, labels), k, best_effort=False)
            sample = drawn.examples
            run_config = config.model_copy(update={"seed": seed})
            result = finetune(
                backbone,
                sample,
                run_config,
                labels=labels,
                show_progress=show_progress,
                label_reads=label_reads,
            )
            pipeline = torch_pipeline(
                result.model, encoder, config.aggregation, decoding=config.decoding
            )
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
                best_effort=drawn.best_effort,
                mentions_per_type=drawn.counts,
            )
            runs.append(run)
            if on_run:
                on_run(run)
    return runs


def summarize(runs: Sequence[FewshotRun]) -> dict[str, dict[int, dict[str, float]]]:
    """``{dataset: {k: {mean, std, n, best_effort}}}`` of micro F1 (sample std; 0
    for one seed; ``best_effort``: how many of the n runs trained on a best-effort draw)."""
    grouped: dict[str, dict[int, list[FewshotRun]]] = {}
    for run in runs:
        grouped.setdefault(run.dataset, {}).setdefault(run.k, []).append(run)
    return {
        dataset: {
            k: {
                "mean": statistics.fmean(r.f1 for r in group),
                "std": statistics.stdev(r.f1 for r in group) if len(group) > 1 else 0.0,
                "n": len(group),
                "best_effort": sum(r.best_effort for r in group),
            }
            for k, group in sorted(by_k.items())
        }
        for dataset, by_k in grouped.items()
    }


def runs_to_dicts(runs: Sequence[FewshotRun]) -> list[dict]:
    return [asdict(run) for run in runs]
