"""Submit-to-servable time of fine-tune jobs, and the F1 of what they publish
(docs/finetune.md).

A real ``nuner serve`` process on the embedded default (SQLite, its worker
process beside it). For each seed: k~2k sampling of k=8 CoNLL-2003 train
sentences, exactly as ``nuner evaluate`` samples them; ``POST /v1/finetune``
with default hyper-parameters and that seed; poll the job; then poll
``/v1/extract`` until the new version answers (servable). The published
tagger is scored on the whole CoNLL-2003 test set through ``/v1/extract``
(int8, as the service serves on CPU), beside the F1 that ``nuner evaluate``
got for the same samples and seeds (the product default's runs,
docs/fewshot_default.json, torch fp32).

    python bench/finetune.py [--repeats 3] [--k 8]
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import time
from datetime import datetime
from pathlib import Path

import httpx
import typer
from common import CONLL, DOCS, WORK, entity_f1, link_starter_backbone, machine, start_service

from nuner.core.datasets import example_to_dict, read_jsonl
from nuner.core.types import Example, Span
from nuner.training.sampling import sample_k_2k

TARGET_SECONDS = 60.0
FEWSHOT = DOCS / "fewshot_default.json"  # the product default's protocol runs
STAGES = ("queued", "training", "exporting", "publishing", "servable")


def wait_for_worker(client: httpx.Client, timeout: float = 300) -> dict:
    """A service is warm once its worker process has imported the training stack."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = client.get("/v1/workers").json()["data"]
        if any(w["state"] == "idle" for w in workers):
            return workers[0]
        time.sleep(0.1)
    raise TimeoutError("no fine-tune worker became ready")


def submit(client: httpx.Client, name: str, sample: list[Example], seed: int) -> dict:
    body = {
        "tagger": name,
        "examples": [example_to_dict(e) for e in sample],
        "hyperparameters": {"seed": seed},
    }
    response = client.post("/v1/finetune", json=body)
    response.raise_for_status()
    return response.json()


def wait_succeeded(client: httpx.Client, job_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/finetune/{job_id}").json()
        if job["state"] == "succeeded":
            return job
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job_id} {job['state']}: {job['error']}")
        time.sleep(0.1)
    raise TimeoutError(job_id)


def wait_servable(client: httpx.Client, reference: str) -> None:
    """Until the tagger's alias answers with the new version (any replica's view)."""
    name = reference.split("@")[0]
    while True:
        response = client.post("/v1/extract", json={"tagger": name, "text": "Paris"})
        if response.status_code == 200 and response.json()["tagger"] == reference:
            return
        time.sleep(0.05)


def stage_seconds(client: httpx.Client, job: dict, servable_at: float, submitted_at: float):
    """Seconds in each stage, from the job's own event timestamps."""
    events = client.get(f"/v1/finetune/{job['id']}/events", params={"limit": 1000}).json()
    marks = {"queued": job["created_at"]}
    for event in events["data"]:
        message = event["message"]
        if message.startswith("started on"):
            marks["training"] = event["created_at"]
        elif message in ("exporting", "publishing"):
            marks[message] = event["created_at"]
        elif message == "job succeeded":
            marks["servable"] = event["created_at"]
    times = {k: datetime.fromisoformat(v).timestamp() for k, v in marks.items()}
    order = [times[s] for s in STAGES[:-1]] + [times["servable"]]
    seconds = {s: round(b - a, 2) for s, a, b in zip(STAGES[:-1], order, order[1:], strict=False)}
    seconds["servable"] = round(servable_at - submitted_at - sum(seconds.values()), 2)
    return seconds


def served_f1(client: httpx.Client, tagger: str, test: list[Example], batch: int = 64) -> float:
    predicted = []
    for start in range(0, len(test), batch):
        texts = [e.text for e in test[start : start + batch]]
        response = client.post("/v1/extract", json={"tagger": tagger, "texts": texts})
        response.raise_for_status()
        for result in response.json()["results"]:
            predicted.append([Span(e["start"], e["end"], e["label"]) for e in result["entities"]])
    return entity_f1(test, predicted)


def bundle_f1(bundle: Path, variant: str, test: list[Example], batch: int = 64) -> float:
    """The same published bundle, another variant, scored in this process."""
    from nuner.core.onnx_tagger import OnnxTagger

    tagger = OnnxTagger(bundle, variant=variant)
    predicted = []
    for start in range(0, len(test), batch):
        entities = tagger([e.text for e in test[start : start + batch]])
        predicted += [[e.span for e in found] for found in entities]
    return entity_f1(test, predicted)


def protocol_f1(k: int, seeds: list[int]) -> dict[int, float]:
    """What `nuner evaluate` measured for these samples (same sampler, seeds, config)."""
    if not FEWSHOT.exists():
        return {}
    runs = json.loads(FEWSHOT.read_text())["runs"]
    return {
        r["seed"]: r["f1"]
        for r in runs
        if r["dataset"] == "conll2003" and r["k"] == k and r["seed"] in seeds
    }


def run_jobs(
    base: str, bundles: Path, k: int, seeds: list[int], test: list[Example]
) -> tuple[list[dict], float]:
    """Returns the runs and the seconds the worker took to get ready after /readyz."""
    train = read_jsonl(CONLL / "train.jsonl")
    types = sorted({label for e in train for label in e.labels})
    runs = []
    with httpx.Client(base_url=base, timeout=120) as client:
        started = time.monotonic()
        worker = wait_for_worker(client)
        ready_s = round(time.monotonic() - started, 2)
        typer.echo(f"worker {worker['name']} ready {ready_s} s after the API")
        for seed in seeds:
            sample = sample_k_2k(train, k, seed=seed, types=types)
            submitted_at = time.time()
            job = submit(client, f"conll-k{k}-s{seed}", sample, seed)
            job = wait_succeeded(client, job["id"])
            wait_servable(client, job["result"])
            servable_at = time.time()
            run = {
                "seed": seed,
                "job": job["id"],
                "result": job["result"],
                "sentences": len(sample),
                "mentions": sum(len(e.spans) for e in sample),
                "submit_to_servable_s": round(servable_at - submitted_at, 2),
                "stages_s": stage_seconds(client, job, servable_at, submitted_at),
                "epochs_run": job["metrics"]["epochs_run"],
                "variants": sorted(job["metrics"]["variants"]),
                "f1_served": served_f1(client, job["result"], test),
                "f1_fp32_variant": bundle_f1(
                    bundles.joinpath(*job["result"].split("@")), "fp32", test
                ),
            }
            typer.echo(json.dumps(run))
            runs.append(run)
    return runs, ready_s


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.2))
    labels = [f"seed {r['seed']}" for r in runs]
    left = [0.0] * len(runs)
    for stage in STAGES:
        widths = [r["stages_s"][stage] for r in runs]
        axis.barh(labels, widths, left=left, label=stage)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axis.axvline(TARGET_SECONDS, color="black", linestyle="--", linewidth=1, label="target")
    axis.set_xlabel("seconds from POST /v1/finetune")
    axis.legend(ncol=6, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    axis.set_title("Fine-tune job: submit to servable (k=8 CoNLL-2003, default backbone)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def report(result: dict) -> str:
    s = result["summary"]
    lines = [
        "# Fine-tune jobs: submit to servable",
        "",
        "`python bench/finetune.py` (writes finetune.json and finetune.png). A real "
        "`nuner serve` on the embedded default (SQLite, worker process beside the API), "
        f"{result['machine']['cpu_count']} CPU cores, no GPU. Each job: k~2k sampling of "
        f"k={result['k']} CoNLL-2003 train sentences (the `nuner evaluate` sampler and seed), "
        "default backbone (`auto`: the starter's pre-trained encoder, built beforehand "
        "as the first `nuner serve` builds it) and hyper-parameters (docs/fewshot.md), export "
        "fp32 + int8 with verification, publish, alias moved. *Servable* = the first "
        "`/v1/extract` by alias that the new version answers. Jobs are submitted once the "
        "worker reports ready (`GET /v1/workers`); its warm-up (importing the training "
        f"stack) took {result['worker_ready_after_api_s']:.1f} s after the API was ready.",
        "",
        f"**Median submit-to-servable: {s['median_submit_to_servable_s']:.1f} s** over "
        f"{len(result['runs'])} jobs (target {TARGET_SECONDS:.0f} s: "
        f"{'met' if s['median_submit_to_servable_s'] <= TARGET_SECONDS else 'missed'}).",
        "",
        "| seed | sentences | submit→servable s | queued | training | exporting | publishing "
        "| servable | F1 served (int8) | F1 same bundle, fp32 | F1 `nuner evaluate` |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        st = r["stages_s"]
        ref = result["protocol_f1"].get(str(r["seed"]))
        lines.append(
            f"| {r['seed']} | {r['sentences']} | {r['submit_to_servable_s']:.1f} | "
            + " | ".join(f"{st[x]:.1f}" for x in STAGES)
            + f" | {100 * r['f1_served']:.1f} | {100 * r['f1_fp32_variant']:.1f} | {_points(ref)} |"
        )
    lines += [
        "",
        f"Mean F1 of the served taggers on the {result['test_sentences']} CoNLL-2003 test "
        f"sentences: **{_points(s['mean_f1_served'])}** as served (int8, the CPU default), "
        f"**{_points(s['mean_f1_fp32_variant'])}** for the fp32 variant of the same bundles; "
        f"`nuner evaluate` on the same samples and seeds: {_points(s['mean_f1_protocol'])} "
        f"(5-seed mean in docs/fewshot.md: {_points(result['fewshot_mean_k'])}).",
        "",
        "Fine-tuning is deterministic and the export verified, so the fp32 variant of each "
        "published bundle should score what `nuner evaluate` scores for the same sample and "
        "seed (compare the last two columns). The service serves int8 on CPU by default "
        "(1.8x the throughput, docs/export.md), which costs "
        f"{_points(s['mean_f1_fp32_variant'] - s['mean_f1_served'])} F1 points on average "
        "here; `NUNER_VARIANT=fp32` serves the fp32 variant of the same bundles instead.",
        "",
        "![stages](finetune.png)",
        "",
        "No GPU was lent to this measurement; on a GPU the worker fine-tunes on CUDA "
        "(`GET /v1/workers` shows the device).",
        "",
    ]
    return "\n".join(lines)


def _points(f1: float | None) -> str:
    return "n/a" if f1 is None else f"{100 * f1:.1f}"


def main(repeats: int = 3, k: int = 8, test_sentences: int | None = None) -> None:
    seeds = list(range(repeats))
    test = read_jsonl(CONLL / "test.jsonl")[:test_sentences]
    home = WORK / "finetune-home"
    shutil.rmtree(home, ignore_errors=True)
    link_starter_backbone(home)
    process, base = start_service({"NUNER_HOME": str(home)}, WORK / "finetune.log")
    try:
        runs, worker_ready_s = run_jobs(base, home / "bundles", k, seeds, test)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    reference = protocol_f1(k, seeds)
    fewshot = json.loads(FEWSHOT.read_text()) if reference else {}
    result = {
        "k": k,
        "test_sentences": len(test),
        "runs": runs,
        "worker_ready_after_api_s": worker_ready_s,
        "protocol_f1": {str(seed): f1 for seed, f1 in reference.items()},
        "fewshot_mean_k": fewshot.get("summary", {})
        .get("conll2003", {})
        .get(str(k), {})
        .get("mean"),
        "summary": {
            "median_submit_to_servable_s": statistics.median(
                r["submit_to_servable_s"] for r in runs
            ),
            "mean_f1_served": statistics.mean(r["f1_served"] for r in runs),
            "mean_f1_fp32_variant": statistics.mean(r["f1_fp32_variant"] for r in runs),
            "mean_f1_protocol": statistics.mean(reference.values()) if reference else None,
        },
        "machine": machine(),
    }
    (DOCS / "finetune.json").write_text(json.dumps(result, indent=2))
    plot(runs, DOCS / "finetune.png")
    (DOCS / "finetune.md").write_text(report(result))
    typer.echo(report(result))


if __name__ == "__main__":
    typer.run(main)
