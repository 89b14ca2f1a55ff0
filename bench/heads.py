"""Head taggers over a shared encoder bundle (docs/heads.md).

The encoder is the product's default: the starter (``nuner build-starter-encoder``
into ``--home``, built here when missing), or any bundle given with ``--encoder``.
Heads are fitted the way the service fits them (nuner.training.head) on the
token vectors of that ONNX encoder; evaluation splits are encoded once per run.

Stages (each appends records to a JSONL log and skips what is there):

1. ``select``: head settings (warm or cold start, steps, learning rate, L2
   pull, threshold) compared at k = 1, 2, 4, 8, 16 (3 seeds) on the selection
   splits: dev (conll2003, wnut2017) or a seeded 1,000-sentence train sample
   that the few-shot examples are then never drawn from (MIT sets); never test.
2. ``quality``: the chosen settings, cold and warm, at k = 1, 4, 8, 16 with
   5 seeds on the full test splits (the docs/fewshot.md protocol: k~2k
   sampling from train), beside k = 0 (warm start only: zero-shot).
3. ``report``: docs/heads.md, .json and .png.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer
from common import DATASETS, DOCS, RESULT_DATASETS, WORK, append_log, read_log
from zeroshot import LABEL_NAMES

from nuner.core.datasets import read_jsonl, selection_split
from nuner.core.head import HeadWeights, TokenVectors
from nuner.core.hyperparameters import HeadFitConfig
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.types import Example
from nuner.training.head import fit_head, head_report
from nuner.training.sampling import SamplingError, sample_k_2k

SELECTION_LOG = DOCS / "heads_selection.jsonl"
QUALITY_LOG = DOCS / "heads_runs.jsonl"
SELECT_KS, SELECT_SEEDS = (1, 2, 4, 8, 16), (0, 1, 2)
QUALITY_KS, QUALITY_SEEDS = (1, 4, 8, 16), (0, 1, 2, 3, 4)
# fit settings; each fitted head is scored at every decoding threshold below
CANDIDATES: dict[str, HeadFitConfig] = {
    f"{start}-l2-{l2:g}": HeadFitConfig(l2=l2, warm_start=start == "warm")
    for start in ("warm", "cold")
    for l2 in (1e-3, 3e-4, 1e-4, 3e-5)
}
# and the encoder's calibrated one ("encoder"); 0.1 and 0.15 were added once 0.2
# led the first round (only the two leading candidates were rerun with them)
THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
app = typer.Typer(add_completion=False)


def default_encoder(home: Path) -> Path:
    """The starter encoder bundle of ``home``, built there first if missing."""
    root = home / "bundles" / "_encoders" / "starter"
    if not root.is_dir():
        nuner = str(Path(sys.executable).with_name("nuner"))
        subprocess.run([nuner, "build-starter-encoder"], env={"NUNER_HOME": str(home)}, check=True)
    return max(root.iterdir(), key=lambda p: int(p.name))


def splits(dataset: str, selection: bool) -> tuple[str, list[Example], list[Example]]:
    """(name of the evaluation split, its examples, the pool few-shot examples come from)."""
    directory = DATASETS / dataset
    if not selection:
        return "test", read_jsonl(directory / "test.jsonl"), read_jsonl(directory / "train.jsonl")
    chosen = selection_split(directory)
    return chosen.name, chosen.examples, chosen.pool


def f1(head: tuple, gold: list[Example], features: TokenVectors, threshold: float) -> float:
    """Strict entity F1 of a head (labels, weights), decoded as the service does."""
    labels, weights = head
    return 100 * head_report(features, weights, labels, threshold, gold).micro.f1


def f1_by_threshold(
    head: tuple, gold, features, encoder: OnnxEncoder, config: HeadFitConfig, selection: bool
) -> dict[str, float]:
    """Selection: at every threshold of the grid; test: at the chosen one only."""
    cuts = {str(t): t for t in THRESHOLDS} | {"encoder": encoder.manifest.threshold}
    if not selection:
        cut = config.threshold
        cuts = {"encoder": encoder.manifest.threshold} if cut is None else {str(cut): cut}
    return {name: round(f1(head, gold, features, cut), 2) for name, cut in cuts.items()}


def one_run(
    encoder: OnnxEncoder,
    dataset: str,
    pool: list[Example],
    k: int,
    seed: int,
    config: HeadFitConfig,
) -> tuple[tuple, dict] | None:
    try:
        train = sample_k_2k(pool, k, seed) if k else []
    except SamplingError:
        return None
    started = time.perf_counter()
    names = LABEL_NAMES[dataset]
    if k == 0:  # no example: the warm start itself, every label of the dataset
        labels = sorted(names)
        weights = HeadWeights.from_labels(encoder, [names[label] for label in labels])
    else:
        fitted = fit_head(encoder, train, config, descriptions=names)
        labels, weights = fitted.labels, fitted.weights
    info = {
        "train_sentences": len(train),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "labels": len(labels),
    }
    return (labels, weights), info


def run_grid(
    log: Path, encoder_dir: Path, selection: bool, configs: dict[str, HeadFitConfig], ks, seeds
) -> None:
    encoder = OnnxEncoder(encoder_dir, variant="auto", device="cpu")
    done = {(r["dataset"], r["config"], r["k"], r["seed"]) for r in read_log(log)}
    for dataset in RESULT_DATASETS:
        split, evaluation, pool = splits(dataset, selection)
        features = None
        for name, config in configs.items():
            for k in ks:
                for seed in seeds if k else (0,):
                    if (dataset, name, k, seed) in done:
                        continue
                    if features is None:
                        features = encoder.encode_texts([e.text for e in evaluation])
                    outcome = one_run(encoder, dataset, pool, k, seed, config)
                    record = {"dataset": dataset, "split": split, "config": name, "k": k}
                    record |= {"seed": seed, "encoder": f"{encoder.manifest.name}@"}
                    record["encoder"] += encoder.manifest.version
                    if outcome is None:
                        record |= {"f1_by_threshold": None, "skipped": "k~2k sampling impossible"}
                    else:
                        head, info = outcome
                        scores = f1_by_threshold(
                            head, evaluation, features, encoder, config, selection
                        )
                        record |= {"f1_by_threshold": scores, **info}
                        record["settings"] = config.model_dump()
                    append_log(log, record)
                    done.add((dataset, name, k, seed))
                    print(json.dumps(record), flush=True)


@app.command()
def select(
    home: Path = typer.Option(WORK / "heads-home"),
    encoder: Path | None = None,
    only: list[str] | None = typer.Option(None, help="Candidates to run (default: all)."),
) -> None:
    """Head settings compared on the selection splits (never test)."""
    configs = {name: CANDIDATES[name] for name in only} if only else CANDIDATES
    bundle = encoder or default_encoder(home)
    run_grid(SELECTION_LOG, bundle, True, configs, SELECT_KS, SELECT_SEEDS)


def chosen(prefix: str) -> tuple[str, HeadFitConfig]:
    """The best (candidate, threshold) starting with ``prefix`` ("warm", "cold") on
    the selection splits: the highest F1 averaged over k, then datasets and seeds."""
    table = selection_table(read_log(SELECTION_LOG))
    best = max(
        (name for name in table if name.startswith(prefix)),
        key=lambda name: statistics.mean(table[name].values()),
    )
    config, _, cut = best.partition(" t=")
    threshold = None if cut == "encoder" else float(cut)
    return best, CANDIDATES[config].model_copy(update={"threshold": threshold})


@app.command()
def quality(home: Path = typer.Option(WORK / "heads-home"), encoder: Path | None = None) -> None:
    """The chosen warm and cold settings on the test splits (5 seeds), and k=0."""
    bundle = encoder or default_encoder(home)
    configs = dict(chosen(start) for start in ("warm", "cold"))
    run_grid(QUALITY_LOG, bundle, False, configs, QUALITY_KS, QUALITY_SEEDS)
    warm = next(iter(configs))
    run_grid(QUALITY_LOG, bundle, False, {warm: configs[warm]}, (0,), (0,))  # zero-shot


def selection_table(records: list[dict]) -> dict[str, dict[int, float]]:
    """(candidate, threshold) -> k -> F1 averaged over seeds, then over datasets."""
    per: dict[tuple, list[float]] = {}
    for record in records:
        for cut, value in (record.get("f1_by_threshold") or {}).items():
            key = (f"{record['config']} t={cut}", record["k"], record["dataset"])
            per.setdefault(key, []).append(value)
    table: dict[str, dict[int, list[float]]] = {}
    for (name, k, _dataset), values in per.items():
        table.setdefault(name, {}).setdefault(k, []).append(statistics.mean(values))
    return {
        name: {k: round(statistics.mean(v), 2) for k, v in sorted(by_k.items())}
        for name, by_k in table.items()
    }


@app.command()
def summary() -> None:
    """The selection table: mean F1 per (candidate, threshold) and k, best first."""
    table = selection_table(read_log(SELECTION_LOG))
    for name, cells in sorted(table.items(), key=lambda item: -statistics.mean(item[1].values())):
        print(f"{name:28s} {cells} mean {statistics.mean(cells.values()):.2f}")


if __name__ == "__main__":
    app()
