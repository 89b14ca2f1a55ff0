"""Few-shot levers for the product default, each judged on dev data only (issue 20).

Every candidate is the default ``FinetuneConfig`` with a few fields changed;
each runs the few-shot protocol at k=8 on the *dev* splits of conll2003 and
wnut2017 (seeds 100-103, the seeds of bench/decoding.py; the MIT corpora
have no dev split, and test is never read here). A lever is kept when its
mean dev F1 beats the default's on the same draws.

    python bench/levers.py select [--only NAME ...]   # resumable -> docs/levers_runs.jsonl
    python bench/levers.py report                     # -> docs/levers.{json,md}
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import typer
from common import DOCS, SELECTION_DATASETS, machine, read_log, run_logged_fewshot
from transformers.utils import logging as hf_logging

from nuner.core.backbones import resolve_backbone
from nuner.core.hyperparameters import FinetuneConfig
from nuner.core.settings import NunerSettings

LOG = DOCS / "levers_runs.jsonl"
SEEDS, K = (100, 101, 102, 103), 8


@dataclass(frozen=True)
class Lever:
    changes: dict  # FinetuneConfig fields that differ from the default
    why: str
    backbone: str | None = None  # None: the default backbone


LEVERS: dict[str, Lever] = {
    "default": Lever({}, "the product default: full fine-tune, Viterbi decoding"),
    "shape-input": Lever(
        {"shape_features": "input"},
        "word shapes added to the input embeddings (zero-started, head learning rate)",
    ),
    "shape-head": Lever(
        {"shape_features": "head"}, "word shapes one-hot beside the head's features"
    ),
    "shape-input-hlr2e-3": Lever(
        {"shape_features": "input", "head_learning_rate": 2e-3},
        "shapes in the input, head and shape embeddings at 10x the encoder's rate",
    ),
    "mpnet": Lever(
        {},
        "the larger backbone (`nuner install-backbone all-mpnet-base-v2`), default recipe",
        backbone="all-mpnet-base-v2",
    ),
}

app = typer.Typer(add_completion=False)


@app.command()
def select(only: list[str] = typer.Option(None, help="Run these candidates alone.")) -> None:
    """Run every candidate (or ``--only``) on the dev splits; skips logged runs."""
    hf_logging.set_verbosity_error()
    for name, lever in LEVERS.items():
        if only and name not in only:
            continue
        config = FinetuneConfig(**lever.changes)
        backbone = resolve_backbone(lever.backbone, backbones_dir=NunerSettings().backbones_dir)
        run_logged_fewshot(
            LOG, "lever", name, backbone, config, SELECTION_DATASETS, [K], SEEDS, "dev"
        )


def _scores(records: list[dict]) -> dict[str, dict]:
    """Per candidate with every run done: mean dev F1 overall and per dataset, in points."""
    scores = {}
    for name, lever in LEVERS.items():
        runs = [r for r in records if r["lever"] == name]
        if len(runs) < len(SEEDS) * len(SELECTION_DATASETS):
            continue
        per_dataset = {
            d: 100 * statistics.fmean(r["f1"] for r in runs if r["dataset"] == d)
            for d in SELECTION_DATASETS
        }
        scores[name] = {
            "changes": lever.changes,
            "backbone": lever.backbone or "default",
            "why": lever.why,
            "mean": 100 * statistics.fmean(r["f1"] for r in runs),
            "per_dataset": per_dataset,
            "train_seconds": statistics.median(r["train_seconds"] for r in runs),
        }
    return scores


@app.command()
def report() -> None:
    """docs/levers.json and docs/levers.md from the log."""
    import json

    scores = _scores(read_log(LOG))
    base = scores["default"]["mean"]
    rows = []
    for name, s in scores.items():
        gain = s["mean"] - base
        verdict = "-" if name == "default" else ("kept" if gain > 0 else "dropped")
        per = ", ".join(f"{d} {v:.1f}" for d, v in s["per_dataset"].items())
        rows.append(
            f"| {name} | `{json.dumps(s['changes'])}` {s['backbone']} | {s['mean']:.2f} "
            f"| {gain:+.2f} | {per} | {s['train_seconds']:.0f} s | {verdict} |"
        )
    (DOCS / "levers.json").write_text(
        json.dumps({"k": K, "seeds": SEEDS, "scores": scores, "machine": machine()}, indent=2)
    )
    table = "\n".join(rows)
    (DOCS / "levers.md").write_text(f"""# Few-shot levers, judged on dev data

`python bench/levers.py select` then `report`. Each candidate changes a few
fields of the product default (`FinetuneConfig`) and runs the few-shot
protocol at k={K} on the dev splits of conll2003 and wnut2017, seeds
{", ".join(map(str, SEEDS))} (the same k~2k draws for every candidate); strict
entity F1, mean over the {len(SEEDS) * len(SELECTION_DATASETS)} runs. Test
splits are never read here. Kept: a mean above the default's.

| candidate | changes, backbone | dev F1 | vs default | per dataset | median train time | verdict |
|---|---|---:|---:|---|---:|---|
{table}

Why each was tried:

{chr(10).join(f"* `{n}`: {s['why']}" for n, s in scores.items())}
""")
    typer.echo(table)


if __name__ == "__main__":
    app()
