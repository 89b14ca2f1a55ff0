"""Head taggers in the running service (docs/heads.md): a real ``nuner serve``
on the embedded default (SQLite, its worker process), on the same 2 cores as
the load generator, with an encoder bundle published as the default.

    python bench/heads_serving.py --encoder BUNDLE [--repeats 5]

1. submit-to-servable over HTTP at k=8 (CoNLL-2003): head jobs and, in the
   same run, full fine-tune jobs (the baseline), interleaved; from the POST
   until ``/v1/extract`` answers with the new version;
2. throughput with 1, 3 and 10 head taggers named in each request on the same
   texts (conditions interleaved, medians);
3. memory: RSS of the API process before and after 1,000 head taggers are
   published and each loaded once; ``GET /v1/taggers`` with 1,000 listed;
4. load: 64 closed-loop clients for 2 minutes, each request naming one of 200
   head taggers, while head fine-tune jobs run one after another.

Writes docs/heads_serving.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import typer
from common import CONLL, DOCS, WORK, http_load, machine, start_service
from finetune import submit, wait_for_worker, wait_servable, wait_succeeded
from load import Record, client_loop, rss_kb, summarize

from nuner.app.head_builder import HeadBuild, build_and_publish_head
from nuner.app.registry import Registry
from nuner.core.datasets import example_to_dict, read_jsonl
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.training.sampling import sample_k_2k

RESULT = DOCS / "heads_serving.json"
NAMES = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}


def head_job(client: httpx.Client, name: str, sample, seed: int) -> dict:
    body = {
        "tagger": name,
        "mode": "head",
        "examples": [example_to_dict(e) for e in sample],
        "descriptions": NAMES,
        "hyperparameters": {"seed": seed},
    }
    return client.post("/v1/finetune", json=body).raise_for_status().json()


def servable_seconds(client: httpx.Client, mode: str, name: str, seed: int) -> float:
    sample = sample_k_2k(read_jsonl(CONLL / "train.jsonl"), 8, seed=seed)
    started = time.perf_counter()
    job = (
        head_job(client, name, sample, seed)
        if mode == "head"
        else submit(client, name, sample, seed)
    )
    done = wait_succeeded(client, job["id"])
    wait_servable(client, done["result"])
    return time.perf_counter() - started


def measure_servable(client: httpx.Client, repeats: int, full_repeats: int) -> dict:
    runs: dict[str, list[float]] = {"head": [], "full": []}
    order = ["head"] * repeats + ["full"] * full_repeats
    random.Random(0).shuffle(order)
    for index, mode in enumerate(order):
        seconds = servable_seconds(client, mode, f"servable-{mode}-{index}", index)
        runs[mode].append(round(seconds, 2))
        print(mode, seconds, flush=True)
    head, full = statistics.median(runs["head"]), statistics.median(runs["full"])
    return {
        "runs_s": runs,
        "median_head_s": head,
        "median_full_s": full,
        "full_over_head": full / head,
    }


def publish_heads(home: Path, encoder_ref: str, count: int, prefix: str) -> list[str]:
    """``count`` head taggers fitted on k=8 samples (a few seeds, reused), published
    straight into the service's store as a worker would."""
    from nuner.app.settings import Settings

    registry = Registry.from_settings(Settings(home=home))
    version = registry.encoders.resolve(encoder_ref)
    encoder = OnnxEncoder(version.path, variant="auto", device="cpu")
    train = read_jsonl(CONLL / "train.jsonl")
    samples = [sample_k_2k(train, 8, seed=seed) for seed in range(5)]
    names = []
    for index in range(count):
        build = HeadBuild(f"{prefix}{index}", samples[index % 5], descriptions=NAMES)
        names.append(build_and_publish_head(registry, build, version, encoder).name)
    return names


def measure_throughput(base: str, heads: list[str], repeats: int) -> dict:
    texts = [e.text for e in read_jsonl(CONLL / "test.jsonl")[:400]]
    conditions = {n: heads[:n] for n in (1, 3, 10)}
    rates: dict[int, list[float]] = {n: [] for n in conditions}
    for _ in range(repeats):
        for n, taggers in conditions.items():

            def body(text: str, taggers=taggers) -> dict:
                return {"taggers": taggers, "text": text}

            rate, _, _, failures = asyncio.run(http_load(base, texts, 16, body))
            assert failures == 0
            rates[n].append(round(rate, 1))
    medians = {n: statistics.median(v) for n, v in rates.items()}
    return {
        "texts": len(texts),
        "clients": 16,
        "sentences_per_s": rates,
        "median_sentences_per_s": medians,
        "cost_3_over_1": medians[1] / medians[3],
        "cost_10_over_1": medians[1] / medians[10],
    }


async def touch_all(base: str, names: list[str]) -> None:
    import aiohttp

    async with aiohttp.ClientSession(base) as session:
        queue = list(names)

        async def worker():
            while queue:
                name = queue.pop()
                async with session.post("/v1/extract", json={"tagger": name, "text": "Paris"}) as r:
                    assert r.status == 200, await r.text()

        await asyncio.gather(*[worker() for _ in range(16)])


def measure_memory(base: str, pid: int, home: Path, encoder_ref: str, count: int) -> dict:
    before = rss_kb(pid)
    started = time.perf_counter()
    names = publish_heads(home, encoder_ref, count, "many-")
    publish_s = time.perf_counter() - started
    registered = rss_kb(pid)
    asyncio.run(touch_all(base, names))
    loaded = rss_kb(pid)
    with httpx.Client(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        listed = client.get("/v1/taggers").json()["taggers"]
        list_s = time.perf_counter() - started
        gauge = [
            line
            for line in client.get("/metrics").text.splitlines()
            if line.startswith("nuner_loaded_heads")
        ]
    return {
        "heads": count,
        "publish_seconds_total": round(publish_s, 1),
        "api_rss_mb_before": before / 1024,
        "api_rss_mb_registered": registered / 1024,
        "api_rss_mb_loaded": loaded / 1024,
        "kb_per_loaded_head": (loaded - registered) / count,
        "taggers_listed": len(listed),
        "list_seconds": round(list_s, 3),
        "loaded_heads_gauge": gauge,
    }


def head_jobs_loop(base: str, stop: threading.Event, done: list[float]) -> None:
    sample = sample_k_2k(read_jsonl(CONLL / "train.jsonl"), 8, seed=0)
    with httpx.Client(base_url=base, timeout=60) as client:
        index = 0
        while not stop.is_set():
            started = time.perf_counter()
            job = head_job(client, f"under-load-{index}", sample, index)
            wait_succeeded(client, job["id"])
            done.append(round(time.perf_counter() - started, 2))
            index += 1


async def load_clients(base: str, heads: list[str], clients: int, duration: float, pids) -> Record:
    import aiohttp

    texts = [e.text for e in read_jsonl(CONLL / "test.jsonl")[:2000]]
    record = Record()
    started = time.monotonic()
    until = started + duration

    def body(index: int) -> dict:
        return {"tagger": heads[index % len(heads)], "text": texts[index % len(texts)]}

    async def watch() -> None:
        while time.monotonic() < until:
            record.rss.append((time.monotonic() - started, rss_kb(pids[0]), rss_kb(pids[1])))
            record.job.append((time.monotonic() - started, "running", 0.0))
            await asyncio.sleep(1.0)

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        loops = [
            client_loop(session, body, i, clients, started, until, record) for i in range(clients)
        ]
        await asyncio.gather(watch(), *loops)
    return record


def measure_load(base: str, heads: list[str], pids, clients: int, duration: float) -> dict:
    stop, jobs = threading.Event(), []
    background = threading.Thread(target=head_jobs_loop, args=(base, stop, jobs), daemon=True)
    background.start()
    record = asyncio.run(load_clients(base, heads, clients, duration, pids))
    stop.set()
    background.join(timeout=120)
    result = summarize(record, duration, warmup=10.0)
    result.pop("job_states_seen"), result.pop("job_progress")
    return {
        **result,
        "clients": clients,
        "head_taggers": len(heads),
        "head_jobs_done": len(jobs),
        "head_job_seconds": jobs,
    }


def main(
    encoder: Path = typer.Option(..., help="An encoder bundle to publish as the default."),
    repeats: int = 5,
    full_repeats: int = 2,
    heads_loaded: int = 1000,
    clients: int = 64,
    duration: float = 120.0,
) -> None:
    home = WORK / "heads-serving-home"
    shutil.rmtree(home, ignore_errors=True)
    nuner = str(Path(sys.executable).with_name("nuner"))
    env = {"NUNER_HOME": str(home)}
    publish = [nuner, "publish-encoder", str(encoder), "--default"]
    subprocess.run(publish, check=True, env={**os.environ, **env})
    process, base = start_service(env, WORK / "heads-serving.log")
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            pids = (process.pid, int(wait_for_worker(client)["name"].rpartition(":")[2]))
            encoder_ref = client.get("/v1/encoders").json()["default"]
            result = {"machine": machine(), "encoder": encoder_ref}
            result["servable"] = measure_servable(client, repeats, full_repeats)
        heads = publish_heads(home, encoder_ref, 200, "spread-")
        result["throughput"] = measure_throughput(base, heads, repeats)
        result["load"] = measure_load(base, heads, pids, clients, duration)
        result["memory"] = measure_memory(base, process.pid, home, encoder_ref, heads_loaded)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "load"}, indent=2))


if __name__ == "__main__":
    typer.run(main)
