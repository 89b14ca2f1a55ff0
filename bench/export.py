"""Throughput and accuracy of torch eager vs ONNX fp32 vs ONNX int8 (docs/export.md).

One tagger is fine-tuned from the default backbone on CoNLL-2003 train
sentences and exported with int8. Each repeat tags the same test sentences in
batches of 32 texts with every engine in turn (interleaved, so drift on a
shared machine hits all alike); we report the median sentences/s and the
ratio to torch eager measured in the same repeat, plus entity F1 on the full
test split.

    python bench/export.py [--train-sentences 1000] [--repeats 5]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
import typer
from common import CONLL, DOCS, conll_tagger, machine, write_report
from transformers.utils import logging as hf_logging

from nuner.core.datasets import read_jsonl
from nuner.core.inference import TaggerPipeline
from nuner.core.onnx_tagger import OnnxTagger
from nuner.training.checkpoint import load_checkpoint, window_encoder
from nuner.training.predict import evaluate_pipeline, torch_pipeline


def sentences_per_second(pipeline, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        pipeline(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["engines"])
    ratios = [results["engines"][n]["speedup_vs_torch_median"] for n in names]
    fig, axis = plt.subplots(figsize=(5, 3))
    bars = axis.bar(names, ratios, color=["#888", "#4a90d9", "#e67e22"])
    axis.bar_label(bars, fmt="%.2fx")
    axis.set_ylabel("throughput vs torch eager")
    axis.set_title(f"CoNLL-2003 test, batch {results['batch']}, {results['threads']} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    train_sentences: int = 1000,
    repeats: int = 5,
    batch: int = 32,
    throughput_sentences: int = 1024,
    threads: int = 2,
) -> None:
    hf_logging.set_verbosity_error()
    torch.set_num_threads(threads)
    checkpoint, bundle = conll_tagger(train_sentences, threads)
    model, tokenizer, _ = load_checkpoint(checkpoint)
    encoder = window_encoder(model, tokenizer)
    budget = batch * model.config.window_length
    engines: dict[str, TaggerPipeline | OnnxTagger] = {
        "torch eager": torch_pipeline(model, encoder, max_batch_tokens=budget),
        "onnx fp32": OnnxTagger(bundle, "fp32", "cpu", threads, max_batch_tokens=budget),
        "onnx int8": OnnxTagger(bundle, "int8", "cpu", threads, max_batch_tokens=budget),
    }
    test = read_jsonl(CONLL / "test.jsonl")
    texts = [x.text for x in test[:throughput_sentences]]
    for engine in engines.values():  # warm-up
        engine(texts[:batch])
    runs: dict[str, list[float]] = {name: [] for name in engines}
    ratios: dict[str, list[float]] = {name: [] for name in engines}
    for repeat in range(repeats):
        measured = {name: sentences_per_second(e, texts, batch) for name, e in engines.items()}
        for name, value in measured.items():
            runs[name].append(value)
            ratios[name].append(value / measured["torch eager"])
        typer.echo(f"repeat {repeat}: " + ", ".join(f"{n} {v:.1f}/s" for n, v in measured.items()))
    scores = {name: evaluate_pipeline(engine, test).micro.f1 for name, engine in engines.items()}
    results = {
        "batch": batch,
        "threads": threads,
        "repeats": repeats,
        "throughput_sentences": len(texts),
        "f1_sentences": len(test),
        "train_sentences": train_sentences,
        "machine": {**machine(), "torch": torch.__version__},
        "engines": {
            name: {
                "sentences_per_second_median": statistics.median(runs[name]),
                "sentences_per_second_runs": runs[name],
                "speedup_vs_torch_median": statistics.median(ratios[name]),
                "entity_f1": scores[name],
                "f1_delta_points_vs_torch": 100 * (scores[name] - scores["torch eager"]),
            }
            for name in engines
        },
    }
    DOCS.mkdir(exist_ok=True)
    (DOCS / "export.json").write_text(json.dumps(results, indent=2))
    plot(results, DOCS / "export.png")
    write_report(DOCS / "export.md", report(results))
    typer.echo(report(results))


def report(results: dict) -> str:
    rows = "\n".join(
        f"| {name} | {e['sentences_per_second_median']:.1f} | {e['speedup_vs_torch_median']:.2f}x "
        f"| {100 * e['entity_f1']:.2f} | {e['f1_delta_points_vs_torch']:+.2f} |"
        for name, e in results["engines"].items()
    )
    return f"""# Export: torch eager vs ONNX Runtime fp32 vs int8

Tagger: default backbone (all-MiniLM-L6-v2) fine-tuned for 3 epochs on the
first {results["train_sentences"]} CoNLL-2003 train sentences, exported with
`nuner export --int8` (each variant verified against torch on 300 dev
sentences before the bundle was written).

Throughput: {results["throughput_sentences"]} CoNLL-2003 test sentences,
batches of {results["batch"]} texts, end to end (tokenise, window, infer,
decode), {results["threads"]} CPU threads
({results["machine"].get("cpu_model", "CPU model not recorded")}), median of {results["repeats"]}
interleaved repeats; the ratio is taken against torch eager *within each
repeat*, then the median. Entity F1: strict micro F1 on all
{results["f1_sentences"]} test sentences.

| engine | sentences/s (median) | vs torch eager | entity F1 | F1 vs torch (points) |
|---|---:|---:|---:|---:|
{rows}

![throughput ratio](export.png)

Reproduce: `.venv/bin/python bench/export.py` (figures in `docs/export.json`).
"""


if __name__ == "__main__":
    typer.run(main)
