"""Few-shot levers for the product default, each judged on dev data only (issue 20).

Every candidate is the default ``FinetuneConfig`` with a few fields set
(each names every field it changed from the default of its day, so a rerun
reproduces it); each runs the few-shot protocol at k=8 on the *dev* splits
of conll2003 and wnut2017 (seeds 100-103, the seeds of bench/decoding.py),
the later ones also on mit_movie and mit_restaurant, which have no dev split,
on a sample held out of train (nuner.core.datasets.selection_split); test is
never read here. A lever is
kept when its mean dev F1 beats its baseline's on the same draws by at least
NOISE_POINTS.

    python bench/levers.py select [--only NAME ...]   # resumable -> docs/levers_runs.jsonl
    python bench/levers.py report                     # -> docs/levers.{json,md}
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

import typer
from common import (
    BATCH8,
    DOCS,
    EARLIER_STARTER,
    RESULT_DATASETS,
    SELECTION_DATASETS,
    TRAINED_EMBEDDINGS,
    bench_backbone,
    machine,
    read_log,
    run_logged_fewshot,
    write_report,
)
from transformers.utils import logging as hf_logging
from zeroshot import LABEL_NAMES

from nuner.core.hyperparameters import FinetuneConfig

LOG = DOCS / "levers_runs.jsonl"
SEEDS, K = (100, 101, 102, 103), 8


@dataclass(frozen=True)
class Lever:
    changes: dict  # FinetuneConfig fields that differ from the default
    why: str
    backbone: str | None = None  # None: the default backbone
    seeds: tuple[int, ...] = SEEDS  # fewer for a backbone too slow for all four
    baseline: str = "default"  # the candidate it is compared with, on the same seeds
    k: int = K  # the baseline must be run at the same k
    datasets: tuple[str, ...] = SELECTION_DATASETS  # the baseline must be run on them too

    def config(self) -> FinetuneConfig:
        # batch 8 until f0-bs4, sub-word embeddings trained until f0-frozen-emb
        return FinetuneConfig(**{**BATCH8, **TRAINED_EMBEDDINGS, **self.changes})


# The default's decoding until viterbi-join replaced it: pinned where it was measured.
VITERBI = {"decoding": "viterbi"}
# The warm-start rates of the default since 2026-12-03 (warm-lr1e-4), pinned likewise.
WARM_RATES = {"learning_rate": 1e-4, "head_learning_rate": 2e-3}
# The default since 2026-12-06 (f0-frozen-emb), pinned as the base of the levers on it.
FROZEN_EMB = {**WARM_RATES, "batch_size": 4, "freeze_word_embeddings": True}


def on_four_sets(
    changes: dict, why: str, baseline: str = "now-f0", k: int = K, backbone: str = "starter-f0"
) -> Lever:
    """A lever on the default since starter-f0, judged on all four sets (against now-f0,
    its k=4 twin now-f0-k4, or f0-bs4: the default since 2026-12-04, its runs made with
    the per-tensor AdamW, which trains the same taggers, docs/optimizer.md)."""
    return Lever(changes, why, backbone=backbone, baseline=baseline, datasets=RESULT_DATASETS, k=k)


LEVERS: dict[str, Lever] = {
    "default": Lever(
        {**VITERBI, "shape_features": "none"},
        "the product default before word shapes: full fine-tune, Viterbi decoding",
    ),
    "shape-input": Lever(
        {**VITERBI, "shape_features": "input", "shape_learning_rate": 2e-4},
        "word shapes added to the input embeddings (zero-started), at the encoder's rate",
    ),
    "shape-head": Lever(
        {**VITERBI, "shape_features": "head"}, "word shapes one-hot beside the head's features"
    ),
    "shape-input-hlr2e-3": Lever(
        {
            **VITERBI,
            "shape_features": "input",
            "head_learning_rate": 2e-3,
            "shape_learning_rate": 2e-3,
        },
        "shapes in the input, head and shape embeddings at 10x the encoder's rate",
    ),
    "shape-head-hlr2e-3": Lever(
        {**VITERBI, "shape_features": "head", "head_learning_rate": 2e-3},
        "shapes one-hot beside the features, the head at 10x the encoder's rate",
    ),
    "hlr2e-3": Lever(
        {**VITERBI, "shape_features": "none", "head_learning_rate": 2e-3},
        "the control: the head at 10x the encoder's rate, no shapes",
    ),
    "shape-input-slr2e-3": Lever(
        {**VITERBI, "shape_features": "input", "shape_learning_rate": 2e-3},
        "shapes in the input, their embeddings alone at 10x the encoder's rate",
    ),
    "llrd0.8": Lever(
        {**VITERBI, "layer_lr_decay": 0.8},
        "layer-wise rates: each encoder layer at 0.8x the one above (embeddings at 0.26x)",
        baseline="shape-input-slr2e-3",
    ),
    "augment1-e15": Lever(
        {**VITERBI, "augment_copies": 1, "epochs": 15},
        "one mention-replaced copy of each example, half the epochs: the same steps and time",
        baseline="shape-input-slr2e-3",
    ),
    "augment3-e8": Lever(
        {**VITERBI, "augment_copies": 3, "epochs": 8},
        "three mention-replaced copies, a quarter of the epochs: about the same steps",
        baseline="shape-input-slr2e-3",
    ),
    "augment1": Lever(
        {**VITERBI, "augment_copies": 1},
        "one mention-replaced copy at the default epochs: twice the steps and time",
        baseline="shape-input-slr2e-3",
    ),
    "viterbi-join": Lever(
        {"decoding": "viterbi-join"},
        "Viterbi, then same-type entities with only whitespace between them made one",
        baseline="shape-input-slr2e-3",
    ),
    "io": Lever(
        {"tagging": "io", "decoding": "viterbi-join"},
        "one tag a type (every entity token trained on B-X), entities from the join of "
        "viterbi-join, which now also joins words with nothing between them (U.K.)",
        baseline="shape-input-slr2e-3",
    ),
    "probe50": Lever(
        {**VITERBI, "probe_epochs": 50},
        "linear probe, then fine-tune: 50 epochs of the head alone on frozen features first "
        "(stopped after one draw per set: -16 points on the first)",
        seeds=SEEDS[:1],
        baseline="shape-input-slr2e-3",
    ),
    "bs4": Lever(
        {**VITERBI, "batch_size": 4},
        "batches of 4: about twice the optimiser steps over the same sentences",
        baseline="shape-input-slr2e-3",
    ),
    "now": Lever(
        {},
        "the product default of 2026-12-02 (viterbi-join, joining also words with nothing "
        "between them), the baseline of the levers below",
        baseline="shape-input-slr2e-3",
    ),
    "two-emb": Lever(
        {"features": "two_emb"},
        "the head reads the last and the middle layer concatenated (the model cards' two-emb "
        "trick)",
        baseline="now",
    ),
    "epochs50": Lever({"epochs": 50}, "50 epochs instead of 30", baseline="now"),
    "ls0.1": Lever(
        {"label_smoothing": 0.1},
        "label smoothing 0.1: a tenth of each target spread over all tags",
        baseline="now",
    ),
    "fold25": Lever(
        {"dev_fold": 0.25},
        "early stopping on a dev fold carved from the k examples: a quarter held out "
        "chooses the epochs (all 30 scored, the later of ties), then all are trained again",
        baseline="now",
    ),
    "starter": Lever(
        {"warm_start": False},
        "the starter encoder's text encoder (the MIT sample, 3 epochs of concept "
        "pre-training) as the backbone, a random head as usual",
        backbone=EARLIER_STARTER,
        baseline="now",
    ),
    "warm-starter": Lever(
        {"warm_start": True, "learning_rate": 2e-4, "head_learning_rate": 2e-4},
        "head then fine-tune: the head starts as the starter's zero-shot scorer of the "
        "written-out label names (bench/zeroshot.py LABEL_NAMES) over unit features",
        backbone=EARLIER_STARTER,
        baseline="starter",
    ),
    "warm-starter-hlr2e-3": Lever(
        {"warm_start": True, "learning_rate": 2e-4, "head_learning_rate": 2e-3},
        "the warm start with the head at 10x the encoder's rate, so the examples can move it",
        backbone=EARLIER_STARTER,
        baseline="starter",
    ),
    # Levers on warm-starter-hlr2e-3, the first warm default; warm-lr1e-4 won and is the
    # fine-tune default of 2026-12-03 (backbone auto = starter, warm start, those rates).
    "warm-lr1e-4": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "the encoder at half the rate (1e-4) under the warm head at 2e-3: the head "
        "starts useful, so the encoder may need to move less",
        backbone=EARLIER_STARTER,
        baseline="warm-starter-hlr2e-3",
    ),
    # Levers on warm-lr1e-4, the fine-tune default of 2026-12-03 (its rates pinned here).
    "warm-lr5e-5": Lever(
        {"learning_rate": 5e-5, "head_learning_rate": 2e-3},
        "the encoder at half the rate again (5e-5), the trend of warm-lr1e-4 continued",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4",
    ),
    "warm-hlr5e-3": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 5e-3},
        "the warm head at 5e-3, 50x the encoder's rate",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4",
    ),
    "warm-e20": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3, "epochs": 20},
        "20 epochs instead of 30: a warm head starts useful, and a third less time",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4",
    ),
    "warm-lr1e-4-again": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "warm-lr1e-4 once more on one draw per set, on the starter rebuilt in a later "
        "session: whether the build reproduces the starter the levers above ran on",
        backbone=EARLIER_STARTER,
        seeds=SEEDS[:1],
        baseline="warm-lr1e-4",
    ),
    "warm-lr5e-5-e20": Lever(
        {"learning_rate": 5e-5, "head_learning_rate": 2e-3, "epochs": 20},
        "both levers that moved the encoder less, warm-lr5e-5 and warm-e20, together",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4",
    ),
    # The two gains above at k=4 (dev, same draws), where fewer examples make fewer steps.
    "warm-lr1e-4-k4": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "the default of 2026-12-03 at k=4, the baseline of the two below",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4-k4",
        k=4,
    ),
    "warm-lr5e-5-k4": Lever(
        {"learning_rate": 5e-5, "head_learning_rate": 2e-3},
        "warm-lr5e-5 at k=4",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4-k4",
        k=4,
    ),
    "warm-e20-k4": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3, "epochs": 20},
        "warm-e20 at k=4",
        backbone=EARLIER_STARTER,
        baseline="warm-lr1e-4-k4",
        k=4,
    ),
    "starter-e6": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "a starter pre-trained 6 epochs instead of 3 (about 3 more minutes of first start)",
        backbone="starter-e6",
        baseline="warm-lr1e-4",
    ),
    "starter-f0": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "a starter pre-trained with no layer frozen (half are by default)",
        backbone="starter-f0",
        baseline="warm-lr1e-4",
    ),
    "starter-f0-k4": Lever(
        {"learning_rate": 1e-4, "head_learning_rate": 2e-3},
        "starter-f0 at k=4",
        backbone="starter-f0",
        baseline="warm-lr1e-4-k4",
        k=4,
    ),
    # From here on, levers are judged on all four sets: the MIT corpora, which have no
    # dev split, on a seeded 1,000-sentence sample held out of their train splits
    # (nuner.core.datasets.selection_split), the few-shot examples drawn from the rest.
    "now-f0": on_four_sets(
        WARM_RATES,
        "the product default of 2026-12-03 (starter-f0) on the four sets, the baseline "
        "of the levers below",
    ),
    "f0-aug1-e15": on_four_sets(
        {**WARM_RATES, "augment_copies": 1, "epochs": 15},
        "one mention-replaced copy of each example, half the epochs (the same steps), "
        "now under the warm head and on slot-filling sets too",
    ),
    "f0-wise0.7": on_four_sets(
        {**WARM_RATES, "weight_interpolation": 0.7},
        "WiSE-FT: the final weights 70% of the way from the zero-shot tagger (the warm "
        "start) to the fine-tuned one, for what the label names knew beyond the examples",
    ),
    "f0-lr2e-4": on_four_sets(
        {"learning_rate": 2e-4, "head_learning_rate": 2e-3},
        "the encoder at 2e-4 under the warm head: warm-lr1e-4 halved it on conll2003 and "
        "wnut2017 alone, where the label names already tag well; the MIT sets start further off",
    ),
    "f0-e20": on_four_sets(
        {**WARM_RATES, "epochs": 20},
        "20 epochs instead of 30 on four sets (warm-e20 gained 0.68 on two): a candidate "
        "for a faster named mode, a third less training",
    ),
    "f0-bs4": on_four_sets(
        {**WARM_RATES, "batch_size": 4},
        "batches of 4 under the warm head: twice the steps over the same sentences (bs4 "
        "lost 0.81 from a random head, which moves further per step)",
    ),
    "f0-bs4-e20": on_four_sets(
        {**WARM_RATES, "batch_size": 4, "epochs": 20},
        "f0-bs4 at 20 epochs: a third more steps than the default for about a third "
        "more time, where f0-bs4 took twice both",
    ),
    "f0-bs2": on_four_sets(
        {**WARM_RATES, "batch_size": 2},
        "batches of 2: twice the steps of f0-bs4, whose gain over batches of 8 came with "
        "twice the steps (f0-bs4-e20, a third more, kept under half of it)",
        baseline="f0-bs4",
    ),
    "f0-bs4-e45": on_four_sets(
        {**WARM_RATES, "batch_size": 4, "epochs": 45},
        "f0-bs4 at 45 epochs: half as many steps again, each over the same batches",
        baseline="f0-bs4",
    ),
    "f0-soup2": on_four_sets(
        {**WARM_RATES, "batch_size": 4, "soup": 2},
        "a soup of two: f0-bs4 twice from the same warm start, another batch order and "
        "dropout each, the weights averaged (one tagger to serve, twice the training)",
        baseline="f0-bs4",
    ),
    "pile-nc-f0": on_four_sets(
        {**WARM_RATES, "batch_size": 4},
        "f0-bs4 on a backbone pre-trained as starter-f0 is, but on all shared annotated "
        "sets (5,407 sentences against 893, most under CC BY-NC 4.0): what more "
        "pre-training text would give; an operator's non-commercial choice, never the default",
        baseline="f0-bs4",
        backbone="pile-nc-f0",
    ),
    "f0-frozen-emb": on_four_sets(
        FROZEN_EMB,
        "f0-bs4 with the sub-word embeddings kept as pre-trained: the words of the few "
        "examples then stay where the unseen words of the same kind are",
        baseline="f0-bs4",
    ),
    "f0-mask0.3": on_four_sets(
        {**WARM_RATES, "batch_size": 4, "mention_masking": 0.3},
        "f0-bs4 with three in ten of the examples' entity sub-words masked in each batch: "
        "entities learnt by their context and shape, as unseen names must be found",
        baseline="f0-bs4",
    ),
    "frozen-emb-rdrop1": on_four_sets(
        {**FROZEN_EMB, "rdrop_weight": 1.0},
        "R-Drop under f0-frozen-emb: each batch twice, the two dropout passes' tag "
        "distributions pulled together (weight 1), in about the time of f0-bs4",
        baseline="f0-frozen-emb",
    ),
    "frozen-emb-warmup0": on_four_sets(
        {**FROZEN_EMB, "warmup_ratio": 0.0},
        "f0-frozen-emb without the warm-up: a warm-started head is useful from its first "
        "step, and a tenth of ~150-500 steps at a low rate may be steps lost",
        baseline="f0-frozen-emb",
    ),
    "frozen-emb-drop0": on_four_sets(
        {**FROZEN_EMB, "classifier_dropout": 0.0},
        "f0-frozen-emb without dropout before the head: the warm head was computed on whole "
        "feature vectors",
        baseline="f0-frozen-emb",
    ),
    "frozen-emb-lr5e-5": on_four_sets(
        {**FROZEN_EMB, "learning_rate": 5e-5},
        "the encoder at half the rate under f0-frozen-emb: warm-lr5e-5 gained 0.78 on two "
        "sets at batches of 8, where batches of 4 now take twice the steps",
        baseline="f0-frozen-emb",
    ),
    "mpnet-now": Lever(
        {"batch_size": 4, "freeze_word_embeddings": True},
        "all-mpnet-base-v2 under today's defaults (no concept encoder, so a random head at "
        "2e-4), two draws per set for CPU time: what the larger backbone gives now",
        backbone="all-mpnet-base-v2",
        seeds=SEEDS[:2],
        baseline="f0-frozen-emb",
        datasets=RESULT_DATASETS,
    ),
    "now-f0-k4": on_four_sets(
        WARM_RATES, "now-f0 at k=4, the baseline of k=4 levers on four sets", "now-f0-k4", k=4
    ),
    "f0-bs4-k4": on_four_sets({**WARM_RATES, "batch_size": 4}, "f0-bs4 at k=4", "now-f0-k4", k=4),
    "f0-frozen-emb-k4": on_four_sets(
        FROZEN_EMB,
        "f0-frozen-emb at k=4",
        "f0-bs4-k4",
        k=4,
    ),
    "mpnet": Lever(
        {**VITERBI, "shape_features": "input", "shape_learning_rate": 2e-3},
        "the larger backbone (`nuner install-backbone all-mpnet-base-v2`), with the "
        "fine-tune defaults of shape-input-slr2e-3, compared with MiniLM under them",
        backbone="all-mpnet-base-v2",
        seeds=SEEDS[:1],
        baseline="shape-input-slr2e-3",
    ),
    "mpnet-lr5e-5": Lever(
        {**VITERBI, "shape_features": "input", "shape_learning_rate": 2e-3, "learning_rate": 5e-5},
        "MPNet at a quarter of MiniLM's rate, after `mpnet` found no wnut2017 entity at 2e-4",
        backbone="all-mpnet-base-v2",
        seeds=SEEDS[:1],
        baseline="shape-input-slr2e-3",
    ),
}

NOISE_POINTS = 0.5  # a round floor, not a significance test


def _verdict(gain: float) -> str:
    if gain >= NOISE_POINTS:
        return "gain"
    return "loss" if gain <= -NOISE_POINTS else "within noise"


HEADER = (
    "| candidate | changes, backbone | seeds | dev F1 | compared with, same seeds | gain "
    "| per dataset | median train time | verdict |\n|---|---|---|---:|---:|---:|---|---:|---|"
)

app = typer.Typer(add_completion=False)


@app.command()
def select(
    only: list[str] = typer.Option(None, help="Run these candidates alone."),
    dataset: list[str] = typer.Option(
        None, help="Only these of their datasets (to split a candidate's runs over processes)."
    ),
) -> None:
    """Run every candidate (or ``--only``) on the dev splits; skips logged runs."""
    hf_logging.set_verbosity_error()
    for name, lever in LEVERS.items():
        if only and name not in only:
            continue
        config = lever.config()
        backbone = bench_backbone(lever.backbone)
        run_logged_fewshot(
            LOG,
            "lever",
            name,
            backbone,
            config,
            [d for d in lever.datasets if not dataset or d in dataset],
            [lever.k],
            lever.seeds,
            "selection",
            label_names=LABEL_NAMES,
        )


def _mean_f1(records: list[dict], name: str, lever: Lever) -> dict | None:
    """Mean selection F1 (points) of a candidate over the seeds and datasets of
    ``lever``, overall and per dataset; None until every one of those runs is logged."""
    runs = [
        r
        for r in records
        if r["lever"] == name and r["seed"] in lever.seeds and r["dataset"] in lever.datasets
    ]
    if len(runs) < len(lever.seeds) * len(lever.datasets):
        return None
    return {
        "mean": 100 * statistics.fmean(r["f1"] for r in runs),
        "per_dataset": {
            d: 100 * statistics.fmean(r["f1"] for r in runs if r["dataset"] == d)
            for d in lever.datasets
        },
        "train_seconds": statistics.median(r["train_seconds"] for r in runs),
    }


def _scores(records: list[dict]) -> dict[str, dict]:
    """Each finished candidate beside its baseline on the same seeds (same draws)."""
    scores = {}
    for name, lever in LEVERS.items():
        mine = _mean_f1(records, name, lever)
        base = _mean_f1(records, lever.baseline, lever)
        if mine is None or base is None:
            continue
        scores[name] = {
            **mine,
            "changes": lever.changes,
            "backbone": lever.backbone or "default",
            "why": lever.why,
            "seeds": lever.seeds,
            "k": lever.k,
            "baseline": lever.baseline,
            "baseline_mean": base["mean"],
            "gain": mine["mean"] - base["mean"],
        }
    return scores


@app.command()
def report() -> None:
    """docs/levers.json and docs/levers.md from the log."""
    scores = _scores(read_log(LOG))
    rows = []
    for name, s in scores.items():
        verdict = "-" if name == "default" else _verdict(s["gain"])
        per = ", ".join(f"{d} {v:.1f}" for d, v in s["per_dataset"].items())
        seeds = ", ".join(map(str, s["seeds"])) + ("" if s["k"] == K else f" (k={s['k']})")
        rows.append(
            f"| {name} | `{json.dumps(s['changes'])}` {s['backbone']} | {seeds} "
            f"| {s['mean']:.2f} | {s['baseline']} {s['baseline_mean']:.2f} | {s['gain']:+.2f} "
            f"| {per} "
            f"| {s['train_seconds']:.0f} s | {verdict} |"
        )
    (DOCS / "levers.json").write_text(
        json.dumps({"scores": scores, "machine": machine()}, indent=2)
    )
    table = "\n".join(rows)
    why = "\n".join(f"* `{n}`: {s['why']}" for n, s in scores.items())
    write_report(
        DOCS / "levers.md",
        f"""# Few-shot levers, judged on dev data

`python bench/levers.py select` then `report`. Each candidate changes a few
fields of the product default (`FinetuneConfig`; batches of 8, the default
until `f0-bs4`, and sub-word embeddings trained, the default until
`f0-frozen-emb`, where it sets neither), or its backbone, and runs
the few-shot protocol at k={K} (unless the table says otherwise) on the dev
splits of conll2003 and wnut2017, and from `now-f0` on also on mit_movie and
mit_restaurant, which have no dev split: there on a seeded 1,000-sentence
sample held out of train, the examples drawn from the rest (test splits are
never read here). One
k~2k draw per seed, the same draws for every candidate; strict entity F1,
mean over its runs, beside its baseline (the default before word shapes,
unless named) on the same seeds. A gain of at
least {NOISE_POINTS} points is a lever; a smaller difference either way is
within the seeds' noise.

{HEADER}
{table}

Why each was tried:

{why}
""",
    )
    typer.echo(table)


if __name__ == "__main__":
    app()
