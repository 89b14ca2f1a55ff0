"""Does NuNER pre-training help few-shot taggers here? (docs/pretrain.md)

Stages, each resumable (pre-training resumes from its epoch checkpoints;
every finished few-shot run is appended to a JSONL log):

1. ``pretrain --fraction F --candidate C``: pre-train the default backbone on
   the three shared LLM-annotated sets (a seeded share F of each) into
   ``.bench/pretrain-C-F``.
2. ``select-head``: the frozen-encoder protocol's head settings, compared on
   the *dev* splits of conll2003 and wnut2017 at k=8 (seeds 100, 101) with
   the base backbone; the fine-tuned protocol's settings are docs/fewshot.md's.
3. ``select --protocol P``: base backbone vs each pre-training candidate on
   the same dev data, never on test.
4. ``run --protocol P --candidate C``: the few-shot protocol of ``nuner
   evaluate`` (k~2k from train, train a tagger, score on test). Two protocols:
   ``frozen`` (only a linear head trains, on features the frozen encoder
   computes once: the paper's main tables) runs the base backbone too;
   ``finetune`` (the whole tagger trains, docs/fewshot.md's configuration)
   takes the base backbone's runs from docs/fewshot.json: same code,
   configuration, samples and seeds, and fine-tuning is deterministic
   (checked: ``bench/fewshot.py check`` reproduces them to the digit).
5. ``report``: docs/pretrain.md, .json and .png.

    python bench/pretrain.py pretrain --candidate e1-lr1e-4
    python bench/pretrain.py select-head
    python bench/pretrain.py select --protocol frozen
    python bench/pretrain.py run --protocol frozen --candidate e1-lr1e-4
    python bench/pretrain.py report
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import typer
from common import (
    BATCH8,
    DATASETS,
    DOCS,
    PRETRAINING_SETS,
    RESULT_DATASETS,
    SELECTION_DATASETS,
    TRAINED_EMBEDDINGS,
    WORK,
    read_log,
    run_logged_fewshot,
)
from pretrain_report import render
from transformers.utils import logging as hf_logging

from nuner.core.backbones import PRETRAINING_FILE, resolve_backbone
from nuner.training.fewshot import FewshotRun, summarize
from nuner.training.finetune import FinetuneConfig
from nuner.training.pretrain.data import load_sources
from nuner.training.pretrain.trainer import PretrainConfig, pretrain
from nuner.training.report import markdown_table, plot_f1_vs_k

# The protocols here were measured before warm starts became the default; pinned so
# that reruns reproduce the logged runs.
COLD_HEAD = {**BATCH8, **TRAINED_EMBEDDINGS, "warm_start": False}

# Both candidates were written down before any result was seen. e1 (one epoch:
# an epoch over the ~5.4k sentences, ~0.8M sub-word tokens, takes 13-25 minutes
# on these 2 CPU cores) ran the test protocol first; e3 was pre-trained later
# and the two are compared on dev data only (``select``).
# A third, written down after the dev check put both below base (a sign the
# pre-training moved the backbone away from what fine-tuning uses): train only
# the top 2 of the 6 layers, at the lower learning rate; judged on dev data.
CANDIDATES: dict[str, dict] = {
    "e1-lr1e-4": {"epochs": 1, "learning_rate": 1e-4},
    "e3-lr5e-5": {"epochs": 3, "learning_rate": 5e-5},
    "e1-top2-lr5e-5": {"epochs": 1, "learning_rate": 5e-5, "frozen_layers": 4},
}
DEFAULT_CANDIDATE = "e1-lr1e-4"

# The frozen-encoder protocol's head settings, written down before any run:
# a linear head on cached features is cheap, so 100 epochs; the rate is chosen
# on dev data with the base backbone (``select-head``), so any bias favours base.
FROZEN_HEADS: dict[str, dict] = {
    "frozen-lr1e-3": {"freeze_encoder": True, "learning_rate": 1e-3, "epochs": 100},
    "frozen-lr5e-3": {"freeze_encoder": True, "learning_rate": 5e-3, "epochs": 100},
    "frozen-lr2e-2": {"freeze_encoder": True, "learning_rate": 2e-2, "epochs": 100},
    "frozen-two_emb-lr5e-3": {
        "freeze_encoder": True,
        "features": "two_emb",
        "learning_rate": 5e-3,
        "epochs": 100,
    },
}
HEAD_SELECTION = DOCS / "pretrain_frozen_head.json"
HEAD_SELECTION_LOG = DOCS / "pretrain_frozen_head_runs.jsonl"

BASE = "base all-MiniLM-L6-v2"
SHOWN_SETTINGS = {"head", "features", "freeze_encoder", "learning_rate", "epochs", "batch_size"}
PLOT_TITLE = "Few-shot entity F1: base vs NuNER-style pre-trained backbone"


@dataclass(frozen=True)
class Protocol:
    """One way of training the few-shot taggers, with its own settings and logs."""

    name: str
    config_file: Path  # {"chosen", "config", "dev_mean_f1"}, chosen on dev data
    run_log: Path
    selection_log: Path
    selection_file: Path
    # Base backbone test runs logged elsewhere (same code, settings, samples and
    # seeds); None: ``run`` logs them in ``run_log`` beside the pre-trained ones.
    base_runs_file: Path | None = None

    def config(self) -> FinetuneConfig:
        chosen = json.loads(self.config_file.read_text())["config"]
        return FinetuneConfig(**{**COLD_HEAD, **chosen})

    def base_runs(self) -> list[dict]:
        if self.base_runs_file is None:
            return []
        runs = json.loads(self.base_runs_file.read_text())["runs"]
        return [{**run, "backbone": BASE} for run in runs]


PROTOCOLS = {
    "finetune": Protocol(
        "finetune",
        DOCS / "fewshot_selection.json",
        DOCS / "pretrain_runs.jsonl",
        DOCS / "pretrain_selection_runs.jsonl",
        DOCS / "pretrain_selection.json",
        base_runs_file=DOCS / "fewshot.json",
    ),
    "frozen": Protocol(
        "frozen",
        HEAD_SELECTION,
        DOCS / "pretrain_frozen_runs.jsonl",
        DOCS / "pretrain_frozen_selection_runs.jsonl",
        DOCS / "pretrain_frozen_selection.json",
    ),
}
ProtocolName = typer.Option("finetune", help="finetune (docs/fewshot.md) | frozen (encoder).")


def _protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise typer.BadParameter(f"protocol must be one of {sorted(PROTOCOLS)}, not {name!r}")
    return PROTOCOLS[name]


app = typer.Typer(add_completion=False)


def backbone_dir(fraction: float, candidate: str) -> Path:
    return WORK / f"pretrain-{candidate}-{round(100 * fraction)}"


def label(fraction: float, candidate: str) -> str:
    return f"pretrained {candidate} {round(100 * fraction)}%"


@app.command("pretrain")
def pretrain_command(
    fraction: float = typer.Option(1.0), candidate: str = typer.Option(DEFAULT_CANDIDATE)
) -> None:
    """Pre-train the default backbone on the shared annotated sets."""
    hf_logging.set_verbosity_error()
    examples, sources = load_sources([DATASETS / name for name in PRETRAINING_SETS], fraction)
    config = PretrainConfig(**CANDIDATES[candidate])
    result = pretrain(
        str(resolve_backbone(None)), examples, config, backbone_dir(fraction, candidate), sources
    )
    typer.echo(f"{len(examples)} sentences, {result.tokens_per_second:.0f} tokens/s")


def _dev_means(records: list[dict], key: str) -> dict[str, float]:
    return {
        name: statistics.fmean(r["f1"] for r in records if r[key] == name)
        for name in sorted({r[key] for r in records})
    }


@app.command("select-head")
def select_head(seeds: list[int] = typer.Option([100, 101])) -> None:
    """The frozen-encoder protocol's head settings, on dev data, base backbone, k=8."""
    hf_logging.set_verbosity_error()
    base = str(resolve_backbone(None))
    for name, overrides in FROZEN_HEADS.items():
        config = FinetuneConfig(**{**COLD_HEAD, **overrides})
        run_logged_fewshot(
            HEAD_SELECTION_LOG, "config", name, base, config, SELECTION_DATASETS, [8], seeds, "dev"
        )
    scores = _dev_means(read_log(HEAD_SELECTION_LOG), "config")
    best = max(scores, key=scores.get)
    choice = {"dev_mean_f1": scores, "chosen": best, "config": FROZEN_HEADS[best]}
    HEAD_SELECTION.write_text(json.dumps(choice, indent=2))
    typer.echo(f"chosen: {best} ({scores})")


@app.command()
def select(seeds: list[int] = typer.Option([100, 101]), protocol: str = ProtocolName) -> None:
    """Base backbone vs each pre-training candidate on dev data, k=8."""
    hf_logging.set_verbosity_error()
    chosen = _protocol(protocol)
    config = chosen.config()
    backbones = {"base": str(resolve_backbone(None))}
    for candidate in CANDIDATES:
        directory = backbone_dir(1.0, candidate)
        if (directory / PRETRAINING_FILE).is_file():
            backbones[label(1.0, candidate)] = str(directory)
    for name, backbone in backbones.items():
        run_logged_fewshot(
            chosen.selection_log,
            "backbone",
            name,
            backbone,
            config,
            SELECTION_DATASETS,
            [8],
            seeds,
            "dev",
        )
    scores = _dev_means(read_log(chosen.selection_log), "backbone")
    chosen.selection_file.write_text(json.dumps({"dev_mean_f1": scores}, indent=2))
    typer.echo(json.dumps(scores, indent=2))


@app.command()
def run(
    fraction: float = typer.Option(1.0),
    candidate: str = typer.Option(DEFAULT_CANDIDATE),
    ks: list[int] = typer.Option([4, 8, 16]),
    seeds: list[int] = typer.Option([0, 1, 2, 3, 4]),
    datasets: list[str] = typer.Option(list(RESULT_DATASETS)),
    protocol: str = ProtocolName,
) -> None:
    """The few-shot protocol on test splits with a pre-trained backbone (and, for a
    protocol without logged base runs, with the base backbone first)."""
    hf_logging.set_verbosity_error()
    chosen = _protocol(protocol)
    config = chosen.config()
    backbones = {label(fraction, candidate): str(backbone_dir(fraction, candidate))}
    if chosen.base_runs_file is None:
        backbones = {BASE: str(resolve_backbone(None)), **backbones}
    for name, backbone in backbones.items():
        run_logged_fewshot(
            chosen.run_log, "backbone", name, backbone, config, datasets, ks, seeds, "test"
        )


def _by_data_share(name: str) -> tuple[str, float]:
    """ "pretrained e1-lr1e-4 25%" before "... 50%" before "... 100%"."""
    candidate, _, share = name.rpartition(" ")
    return candidate, float(share.rstrip("%"))


def _summary(records: list[dict], name: str) -> dict:
    runs = [
        FewshotRun(**{k: v for k, v in r.items() if k not in ("backbone", "config")})
        for r in records
        if r["backbone"] == name
    ]
    return summarize(runs)


def _protocol_result(protocol: Protocol, candidate: str) -> dict:
    """Summaries, gains over base, data scaling and the dev check of one protocol."""
    records = protocol.base_runs() + read_log(protocol.run_log)
    pretrained = sorted({r["backbone"] for r in records} - {BASE}, key=_by_data_share)
    shares = [name for name in pretrained if name.startswith(f"pretrained {candidate} ")]
    return {
        "config": protocol.config().model_dump(include=SHOWN_SETTINGS),
        "summaries": {name: _summary(records, name) for name in [BASE, *pretrained]},
        "gains_vs_base": {name: _gains(records, name) for name in pretrained},
        "scaling_k8_common_seeds": _scaling(records, shares),
        "median_train_seconds": statistics.median(r["train_seconds"] for r in records),
        "selection": _read_json(protocol.selection_file),
    }


@app.command()
def report(candidate: str = typer.Option(DEFAULT_CANDIDATE)) -> None:
    """docs/pretrain.md, .json and .png from the logs."""
    if not HEAD_SELECTION.is_file():
        raise typer.BadParameter("no frozen-encoder head chosen yet: run select-head first")
    protocols = {name: _protocol_result(p, candidate) for name, p in PROTOCOLS.items()}
    protocols["frozen"]["head"] = _read_json(HEAD_SELECTION)
    result = {"protocols": protocols, "pretraining": _provenance()}
    (DOCS / "pretrain.json").write_text(json.dumps(result, indent=2))
    main = label(1.0, candidate)
    plotted = {
        f"{'base' if name == BASE else candidate} ({protocol})": summary
        for protocol, part in protocols.items()
        for name, summary in part["summaries"].items()
        if name in (BASE, main)
    }
    plot_f1_vs_k(plotted, DOCS / "pretrain.png", PLOT_TITLE)
    (DOCS / "pretrain.md").write_text(render(result, CANDIDATES))
    for part in protocols.values():
        typer.echo(markdown_table(part["summaries"]))


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _provenance() -> dict:
    """Each pre-training run's record: from its backbone directory under .bench/, or,
    for one no longer there (a new checkout), as the last report recorded it."""
    previous = (_read_json(DOCS / "pretrain.json") or {}).get("pretraining") or {}
    found = dict(previous)
    for directory in sorted(WORK.glob("pretrain-*")):
        info = _read_json(directory / PRETRAINING_FILE)
        if info:
            keep = (
                "data",
                "licences",
                "config",
                "history",
                "concepts",
                "windows",
                "frozen_layers",
                "seconds_this_run",
                "tokens_per_second_this_run",
            )
            found[directory.name] = {k: info.get(k) for k in keep}
    return found


def _gains(records: list[dict], name: str) -> dict:
    """Mean F1 gain in points per k over datasets, against the base runs with the
    same dataset, k and seed (so a 3-seed run is compared with the same 3 seeds)."""
    base = {(r["dataset"], r["k"], r["seed"]): r["f1"] for r in records if r["backbone"] == BASE}
    by_k: dict[int, dict[str, list[float]]] = {}
    for r in records:
        key = (r["dataset"], r["k"], r["seed"])
        if r["backbone"] == name and key in base:
            by_k.setdefault(r["k"], {}).setdefault(r["dataset"], []).append(r["f1"] - base[key])
    return {
        k: {
            "points": round(100 * statistics.fmean(statistics.fmean(v) for v in per.values()), 2),
            "per_dataset": {d: round(100 * statistics.fmean(v), 2) for d, v in per.items()},
            "seeds": sorted({len(v) for v in per.values()}),
        }
        for k, per in sorted(by_k.items())
    }


def _scaling(records: list[dict], names: list[str], k: int = 8) -> dict:
    """Gain at k for every pre-training run on the seeds all of them have: how the
    gain grows with the amount of pre-training data, like for like."""
    seeds = None
    for name in names:
        have = {r["seed"] for r in records if r["backbone"] == name and r["k"] == k}
        seeds = have if seeds is None else seeds & have
    if not seeds:
        return {}
    common = [r for r in records if r["seed"] in seeds]
    return {
        "seeds": sorted(seeds),
        "gain_points": {n: _gains(common, n).get(k, {}).get("points") for n in names},
    }


if __name__ == "__main__":
    app()
