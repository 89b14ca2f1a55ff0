"""Zero-shot entity F1 and speed of encoder bundles (docs/zeroshot.md).

The encoders are made with the product's own commands (each resumable):

    nuner build-starter-encoder                     # the starter: MIT sample, 3 epochs
    nuner pretrain D/pile_ner_slimer391 D/nuner_sample1k D/pile_ner_sentences \
        --out .bench/zs-all-e2-lr1e-4 --epochs 2 --lr 1e-4
    nuner export-encoder .bench/zs-all-e2-lr1e-4 --out .bench/zs-bundles/all-e2 \
        --name pile-nc --verify-data D/conll2003/dev.jsonl \
        --calibration-data D/wnut2017/dev.jsonl

Stages (``quality`` appends one record per encoder x dataset to
``docs/zeroshot_runs.jsonl`` and skips what is there):

1. ``select --encoder NAME=BUNDLE``: the word pooling of the decoding policy
   compared on the selection splits (dev, or a train sample), never test.
2. ``quality --encoder NAME=BUNDLE``: per dataset, the threshold is chosen on
   dev data (conll2003, wnut2017) or on a seeded 1,000-sentence sample of
   train (the MIT sets have no dev split), never on test; then strict entity
   F1 on the full test split at that threshold, and at the bundle's own
   calibrated threshold (what a request without ``threshold`` gets).
3. ``speed --encoder BUNDLE``: in process, 1 / 10 / 100 labels on the same
   texts (label vectors cached) against a fine-tuned tagger on the same
   backbone, conditions interleaved, medians; then the same over HTTP.
4. ``report``: docs/zeroshot.md, .json and .png.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer
from common import (
    DATASETS,
    DOCS,
    RESULT_DATASETS,
    WORK,
    conll_tagger,
    http_load,
    start_service,
    tagger_body,
)

from nuner.core.datasets import read_jsonl
from nuner.core.datasets import selection_split as dataset_selection
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.onnx_tagger import OnnxTagger
from nuner.core.types import Example, Span
from nuner.core.zero_shot import decode_zero_shot
from nuner.export.calibrate import f1_by_threshold, score_examples, zero_shot_f1

RUNS = DOCS / "zeroshot_runs.jsonl"
SPEED = DOCS / "zeroshot_speed.json"
# The label names each dataset's tags are offered as, written out once before
# any run (the baseline used these); nothing here is tuned on test.
LABEL_NAMES: dict[str, dict[str, str]] = {
    "conll2003": {
        "PER": "person",
        "LOC": "location",
        "ORG": "organization",
        "MISC": "miscellaneous",
    },
    "wnut2017": {
        "person": "person",
        "location": "location",
        "corporation": "corporation",
        "group": "group",
        "product": "product",
        "creative-work": "creative work",
    },
    "mit_movie": {
        "ACTOR": "actor",
        "CHARACTER": "character",
        "DIRECTOR": "director",
        "GENRE": "genre",
        "PLOT": "plot",
        "RATING": "rating",
        "RATINGS_AVERAGE": "ratings average",
        "REVIEW": "review",
        "SONG": "song",
        "TITLE": "title",
        "TRAILER": "trailer",
        "YEAR": "year",
    },
    "mit_restaurant": {
        "Amenity": "amenity",
        "Cuisine": "cuisine",
        "Dish": "dish",
        "Hours": "hours",
        "Location": "location",
        "Price": "price",
        "Rating": "rating",
        "Restaurant_Name": "restaurant name",
    },
}
# Published zero-shot figures of peer systems: other models, other data, other
# compute; shown for orientation only.
PEERS = [
    (
        "GLiNER-L (Zaratiana et al. 2023)",
        "entity F1, average of CrossNER's 5 domains and MIT movie/restaurant",
        60.9,
    ),
    (
        "NuNER Zero (model card, NuZero_token_token_metrics.txt)",
        "token-level F1: CrossNER + MIT average 68.0; mit-movie 65.2, mit-restaurant 53.6; "
        "CoNLL 2003 66.0",
        68.0,
    ),
]

app = typer.Typer(add_completion=False)


def renamed(examples: list[Example], names: dict[str, str]) -> list[Example]:
    """Gold spans under the names offered to the encoder."""
    return [
        Example(e.text, tuple(Span(s.start, s.end, names[s.label]) for s in e.spans), e.tokens)
        for e in examples
    ]


def selection_split(dataset: str) -> tuple[str, list[Example]]:
    selection = dataset_selection(DATASETS / dataset)
    return selection.name, selection.examples


def evaluate(encoder: OnnxEncoder, dataset: str) -> dict:
    names = LABEL_NAMES[dataset]
    offered = list(names.values())
    split, selection = selection_split(dataset)
    selection = renamed(selection, names)
    chosen_f1s = zero_shot_f1(encoder, selection, [offered] * len(selection))
    chosen = max(chosen_f1s, key=lambda t: (chosen_f1s[t], -t))
    test = renamed(read_jsonl(DATASETS / dataset / "test.jsonl"), names)
    calibrated = encoder.manifest.threshold
    grid = sorted({chosen, calibrated})
    started = time.perf_counter()
    test_f1s = zero_shot_f1(encoder, test, [offered] * len(test), thresholds=grid)
    return {
        "dataset": dataset,
        "selection_split": split,
        "selection_f1_by_threshold": {str(t): f for t, f in chosen_f1s.items()},
        "threshold": chosen,
        "test_f1": 100 * test_f1s[chosen],
        "calibrated_threshold": calibrated,
        "test_f1_at_calibrated": 100 * test_f1s[calibrated],
        "test_sentences": len(test),
        "seconds": time.perf_counter() - started,
    }


def read_runs() -> list[dict]:
    if not RUNS.exists():
        return []
    return [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]


POOLINGS = ("average", "first", "max")
HTTP_RUNS = 7
SELECTION = DOCS / "zeroshot_selection.json"


@app.command()
def select(
    encoder: str = typer.Option(..., help="NAME=BUNDLE_DIR of an encoder bundle."),
    threads: int | None = typer.Option(None),
) -> None:
    """Word pooling of the decoding policy, chosen on dev / train samples of
    the four sets (best threshold of each), never on test."""
    name, _, directory = encoder.partition("=")
    model = OnnxEncoder(Path(directory).expanduser(), variant="fp32", device="cpu", threads=threads)
    per_dataset = {}
    for dataset in RESULT_DATASETS:
        offered = list(LABEL_NAMES[dataset].values())
        split, examples = selection_split(dataset)
        examples = renamed(examples, LABEL_NAMES[dataset])
        labels = [offered] * len(examples)
        scored = score_examples(model, examples, labels)
        per_dataset[dataset] = {
            "split": split,
            **{
                p: max(f1_by_threshold(scored, examples, labels, pooling=p).values())
                for p in POOLINGS
            },
        }
        typer.echo(f"{dataset}: {per_dataset[dataset]}")
    means = {p: statistics.mean(100 * d[p] for d in per_dataset.values()) for p in POOLINGS}
    chosen = max(means, key=means.get)
    selections = json.loads(SELECTION.read_text()) if SELECTION.exists() else {}
    selections[name] = {"per_dataset": per_dataset, "mean_f1": means, "chosen": chosen}
    SELECTION.write_text(json.dumps(selections, indent=2))
    typer.echo(f"mean best-threshold F1 by pooling: {means}; chosen: {chosen}")


@app.command()
def quality(
    encoder: str = typer.Option(..., help="NAME=BUNDLE_DIR of an encoder bundle."),
    datasets: list[str] = typer.Option(list(RESULT_DATASETS)),  # noqa: B008
    threads: int | None = typer.Option(None),
) -> None:
    """Zero-shot F1 on the test splits, threshold chosen on dev/train."""
    name, _, directory = encoder.partition("=")
    model = OnnxEncoder(Path(directory).expanduser(), variant="fp32", device="cpu", threads=threads)
    done = {(r["encoder"], r["dataset"]) for r in read_runs()}
    for dataset in datasets:
        if (name, dataset) in done:
            continue
        record = {
            "encoder": name,
            "bundle": f"{model.manifest.name}@{model.manifest.version}",
            "licences": model.manifest.licences,
            "pretraining": {k: model.manifest.pretraining.get(k) for k in ("data", "config")},
            **evaluate(model, dataset),
        }
        with RUNS.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        typer.echo(f"{name} {dataset}: {record['test_f1']:.1f} at {record['threshold']}")


def interleaved_medians(runs: dict, repeats: int = 9) -> dict:
    """Median seconds of each run, the runs taken in turn (a slow spell of this
    shared machine then slows every condition, not one)."""
    times: dict = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


@app.command()
def speed(
    encoder: str = typer.Option(..., help="Encoder bundle directory."),
    texts: int = typer.Option(400, help="conll2003 test sentences per run."),
    threads: int | None = typer.Option(None),
    over_http: bool = typer.Option(True, "--http/--no-http", help="Also through nuner serve."),
) -> None:
    """Cost of 1 / 10 / 100 labels, and zero-shot vs a fine-tuned tagger."""
    model = OnnxEncoder(Path(encoder).expanduser(), variant="fp32", device="cpu", threads=threads)
    sentences = [e.text for e in read_jsonl(DATASETS / "conll2003" / "test.jsonl")[:texts]]
    vocabulary = [f"{name} {i}" for i in range(34) for name in ("person", "place", "thing")]
    label_sets = {1: vocabulary[:1], 10: vocabulary[:10], 100: vocabulary[:100]}
    cached = {n: model.label_vectors(labels) for n, labels in label_sets.items()}

    def zero_shot(n: int):
        def run():
            for encoded, vectors in model.encode_texts(sentences):
                decode_zero_shot(encoded, model.score(vectors, cached[n]), label_sets[n], 0.5)

        return run

    _, tagger_dir = conll_tagger(threads=threads)
    tagger = OnnxTagger(tagger_dir, variant="fp32", device="cpu", threads=threads)
    medians = interleaved_medians(
        {"tagger": lambda: tagger(sentences)} | {n: zero_shot(n) for n in label_sets}
    )
    tagger_seconds = medians.pop("tagger")
    seconds = medians
    http = (
        http_speed(Path(encoder).expanduser(), tagger_dir, sentences, label_sets)
        if over_http
        else None
    )
    result = {
        "texts": len(sentences),
        "encoder": f"{model.manifest.name}@{model.manifest.version}",
        "variant": "fp32",
        "seconds_by_labels": seconds,
        "ratio_100_vs_1": seconds[100] / seconds[1],
        "ratio_10_vs_1": seconds[10] / seconds[1],
        "tagger_seconds": tagger_seconds,
        "tagger_base_model": json.loads((tagger_dir / "manifest.json").read_text())["base_model"],
        "zero_shot_throughput_vs_tagger": tagger_seconds / seconds[1],
        "http": http,
    }
    SPEED.write_text(json.dumps(result, indent=2))
    typer.echo(json.dumps(result, indent=2))


def zero_shot_body(labels: list[str], text: str) -> dict:
    return {"labels": labels, "text": text}


def http_speed(
    encoder: Path, tagger: Path, texts: list[str], label_sets: dict, clients: int = 16
) -> dict:
    """Sentences/s through ``nuner serve`` (one sentence per request, ``clients``
    at once), fp32 for both models; conditions interleaved, median of the runs."""
    home = WORK / "zeroshot-http-home"
    shutil.rmtree(home, ignore_errors=True)
    env = {
        "NUNER_HOME": str(home),
        "NUNER_STARTER_ENCODER": "false",
        "NUNER_EMBEDDED_WORKER": "false",
        "NUNER_VARIANT": "fp32",
    }
    nuner = str(Path(sys.executable).with_name("nuner"))
    for command in (["publish", str(tagger)], ["publish-encoder", str(encoder)]):
        subprocess.run(
            [nuner, *command], env={**os.environ, **env}, check=True, capture_output=True
        )
    bodies = {"tagger": tagger_body} | {
        f"{n} labels": functools.partial(zero_shot_body, labels) for n, labels in label_sets.items()
    }
    process, base = start_service(env, WORK / "zeroshot-http.log")
    try:
        runs: dict[str, list[float]] = {name: [] for name in bodies}
        for body in bodies.values():  # warm-up: loads, label vectors cached
            asyncio.run(http_load(base, texts[:20], 4, body))
        for _ in range(HTTP_RUNS):
            for name, body in bodies.items():
                runs[name].append(asyncio.run(http_load(base, texts, clients, body))[0])
    finally:
        process.terminate()
        process.wait(timeout=30)
    sps = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "clients": clients,
        "sentences_per_second": sps,
        "runs": runs,
        "zero_shot_1_label_vs_tagger": sps["1 labels"] / sps["tagger"],
        "cost_100_vs_1_labels": sps["1 labels"] / sps["100 labels"],
    }


@app.command()
def report() -> None:
    from zeroshot_report import render

    speed = json.loads(SPEED.read_text()) if SPEED.exists() else None
    selections = json.loads(SELECTION.read_text()) if SELECTION.exists() else {}
    render(read_runs(), speed, selections, PEERS)


if __name__ == "__main__":
    WORK.mkdir(exist_ok=True)
    app()
