"""Speed and memory of the backbones a tagger can be fine-tuned from (issue 20).

For each backbone, in a process of its own (so its peak memory is its own):
parameters, the tagger's size in fp32, tag throughput of a freshly built
tagger over CoNLL-2003 dev sentences (torch fp32, 2 CPU cores, median of
several passes), and the process's peak RSS. Few-shot F1 and fine-tuning
time come from the dev runs of bench/levers.py (docs/levers.json).

    python bench/backbones.py            # -> docs/backbones.json (+ a table on stdout)
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import typer
from common import CONLL, DOCS, machine

from nuner.core.datasets import read_jsonl
from nuner.core.settings import NunerSettings

BACKBONES = ("default", "all-mpnet-base-v2")
SENTENCES, PASSES = 400, 5

app = typer.Typer(add_completion=False)


@app.command()
def measure(backbone: str) -> None:
    """One backbone, in this process: prints a JSON line."""
    from transformers.utils import logging as hf_logging

    from nuner.core.backbones import resolve_backbone
    from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
    from nuner.training.model import NunerTagger
    from nuner.training.predict import torch_pipeline
    from nuner.training.torch_setup import prepare_torch

    hf_logging.set_verbosity_error()
    prepare_torch(None)
    path = resolve_backbone(backbone, backbones_dir=NunerSettings().backbones_dir)
    tags = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    model = NunerTagger.from_backbone(path, tags).eval()
    encoder = text_encoder_for(load_fast_tokenizer(path), 256, 32)
    pipeline = torch_pipeline(model, encoder)
    texts = [e.text for e in read_jsonl(CONLL / "dev.jsonl")[:SENTENCES]]
    pipeline(texts[:32])  # warm-up
    seconds = []
    for _ in range(PASSES):
        started = time.perf_counter()
        pipeline(texts)
        seconds.append(time.perf_counter() - started)
    parameters = sum(p.numel() for p in model.parameters())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "backbone": backbone,
                "parameters": parameters,
                "fp32_mb": parameters * 4 / 1e6,
                "layers": model.encoder.config.num_hidden_layers,
                "hidden": model.encoder.config.hidden_size,
                "sentences_per_s": SENTENCES / statistics.median(seconds),
                "pass_seconds": seconds,
                "peak_rss_mb": peak_kib / 1024,
            }
        )
    )


@app.command()
def run() -> None:
    """Every backbone in its own process, then docs/backbones.json."""
    results = []
    for backbone in BACKBONES:
        finished = subprocess.run(
            [sys.executable, __file__, "measure", backbone],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    base = results[0]
    for result in results:
        result["speed_vs_default"] = result["sentences_per_s"] / base["sentences_per_s"]
        result["memory_vs_default"] = result["peak_rss_mb"] / base["peak_rss_mb"]
    (DOCS / "backbones.json").write_text(
        json.dumps({"backbones": results, "machine": machine()}, indent=2)
    )
    for r in results:
        typer.echo(
            f"{r['backbone']}: {r['parameters'] / 1e6:.1f}M parameters, "
            f"{r['sentences_per_s']:.1f} sentences/s ({r['speed_vs_default']:.2f}x), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB ({r['memory_vs_default']:.2f}x)"
        )


if __name__ == "__main__":
    app()
