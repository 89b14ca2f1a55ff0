"""Extraction load held while a fine-tune runs (docs/load.md).

A real ``nuner serve`` on the embedded default (SQLite, its worker process
beside it), on the same 2 cores as this load generator. A first job publishes
the tagger under load (k=8 CoNLL-2003, default hyper-parameters); a second,
larger job is submitted and, once it trains, CLIENTS closed-loop clients each
send one CoNLL-2003 test sentence per request for DURATION seconds. A 429 or
503 with ``Retry-After`` is deliberate back-pressure: the client waits as told
and goes on. Any other non-200 answer or a connection error is a failure. The
resident memory (VmRSS) of the API process and of the worker is sampled every
second; "start" is after WARMUP seconds of load.

    python bench/load.py [--clients 64] [--duration 120] [--repeats 2]
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer
from common import CONLL, DOCS, WORK, machine, percentile, start_service
from finetune import submit, wait_for_worker, wait_succeeded

from nuner.core.datasets import example_to_dict, read_jsonl
from nuner.training.sampling import sample_k_2k

TAGGER = "conll"
WINDOW_S = 10.0
BACKGROUND_JOB_EXAMPLES = 300  # CoNLL-2003 train sentences: minutes of fine-tuning here


@dataclass
class Record:
    """What the clients saw, stamped with seconds since the load started."""

    ok: list[tuple[float, float]] = field(default_factory=list)  # (sent at, latency)
    backpressure: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    rss: list[tuple[float, int, int]] = field(default_factory=list)  # (t, api kB, worker kB)
    job: list[tuple[float, str, float]] = field(default_factory=list)  # (t, state, progress)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


async def client_loop(session, body, first: int, stride: int, started, until, record):
    """One closed-loop client: request ``body(first)``, ``body(first + stride)``, ..."""
    import aiohttp

    index = first
    while time.monotonic() < until:
        payload = body(index)
        index += stride
        sent = time.monotonic()
        try:
            async with session.post("/v1/extract", json=payload) as answer:
                await answer.read()
                status, retry_after = answer.status, answer.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            record.failures.append((sent - started, type(error).__name__))
            continue
        if status == 200:
            record.ok.append((sent - started, time.monotonic() - sent))
        elif status in (429, 503) and retry_after is not None:
            record.backpressure.append(sent - started)
            await asyncio.sleep(float(retry_after))
        else:
            record.failures.append((sent - started, str(status)))


async def watch(base: str, job_id: str, pids: tuple[int, int], started, until, record) -> None:
    """Every second: RSS of the API and worker processes, and the background job's state."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < until:
            now = time.monotonic() - started
            record.rss.append((now, rss_kb(pids[0]), rss_kb(pids[1])))
            job = (await client.get(f"/v1/finetune/{job_id}")).json()
            record.job.append((now, job["state"], job["progress"]))
            await asyncio.sleep(1.0)


async def hold_load(base: str, texts: list[str], clients: int, duration: float, job_id, pids):
    import aiohttp

    record = Record()
    started = time.monotonic()
    until = started + duration

    def body(index: int) -> dict:
        return {"tagger": TAGGER, "text": texts[index % len(texts)]}

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            watch(base, job_id, pids, started, until, record),
            *[
                client_loop(session, body, i, clients, started, until, record)
                for i in range(clients)
            ],
        )
    return record


def worker_pid(client: httpx.Client) -> int:
    return int(wait_for_worker(client)["name"].rpartition(":")[2])


def background_job(client: httpx.Client) -> str:
    """A fine-tune long enough to outlast the load; returns its id once it trains."""
    examples = read_jsonl(CONLL / "train.jsonl")[:BACKGROUND_JOB_EXAMPLES]
    body = {
        "tagger": "background",
        "examples": [example_to_dict(e) for e in examples],
        "hyperparameters": {"epochs": 20},
    }
    job = client.post("/v1/finetune", json=body).raise_for_status().json()
    for _ in range(600):
        state = client.get(f"/v1/finetune/{job['id']}").json()
        if state["stage"] == "training" and state["progress"] > 0:
            return job["id"]
        time.sleep(0.5)
    raise TimeoutError("the background job did not start training")


def summarize(record: Record, duration: float, warmup: float) -> dict:
    latencies = [latency for _, latency in record.ok]
    after_warmup = [(t, a, w) for t, a, w in record.rss if t >= warmup]
    windows = []
    for start in range(0, int(duration), int(WINDOW_S)):
        inside = [lat for t, lat in record.ok if start <= t < start + WINDOW_S]
        windows.append(
            {
                "start_s": start,
                "requests_per_s": len(inside) / WINDOW_S,
                "p50_ms": 1000 * percentile(inside, 50) if inside else None,
                "p99_ms": 1000 * percentile(inside, 99) if inside else None,
            }
        )
    states = {state for _, state, _ in record.job}
    return {
        "requests_ok": len(latencies),
        "requests_per_s": len(latencies) / duration,
        "backpressure_429_503": len(record.backpressure),
        "failures": len(record.failures),
        "failure_kinds": sorted({kind for _, kind in record.failures}),
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99),
        "max_ms": 1000 * max(latencies),
        "api_rss_mb_start": after_warmup[0][1] / 1024,
        "api_rss_mb_end": after_warmup[-1][1] / 1024,
        "api_rss_mb_max": max(a for _, a, _ in after_warmup) / 1024,
        "worker_rss_mb_end": after_warmup[-1][2] / 1024,
        "job_states_seen": sorted(states),
        "job_progress": [record.job[0][2], record.job[-1][2]],
        "windows": windows,
        "rss_series": record.rss,
    }


def one_run(clients: int, duration: float, warmup: float, texts: list[str]) -> dict:
    home = WORK / "load-home"
    shutil.rmtree(home, ignore_errors=True)
    process, base = start_service({"NUNER_HOME": str(home)}, WORK / "load.log")
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            pids = (process.pid, worker_pid(client))
            sample = sample_k_2k(read_jsonl(CONLL / "train.jsonl"), 8, seed=0)
            first = submit(client, TAGGER, sample, seed=0)
            wait_succeeded(client, first["id"])
            job_id = background_job(client)
            record = asyncio.run(hold_load(base, texts, clients, duration, job_id, pids))
            client.post(f"/v1/finetune/{job_id}/cancel")  # it has served its purpose
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    return summarize(record, duration, warmup)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, mem) = plt.subplots(1, 2, figsize=(11, 3.8))
    for number, run in enumerate(runs, 1):
        starts = [w["start_s"] + WINDOW_S / 2 for w in run["windows"]]
        for key, style in (("p99_ms", "-"), ("p50_ms", "--")):
            values = [w[key] for w in run["windows"]]
            lat.plot(starts, values, linestyle=style, label=f"{key[:3]}, run {number}")
        seconds = [t for t, _, _ in run["rss_series"]]
        for column, (name, style) in enumerate((("API", "-"), ("worker", ":")), 1):
            megabytes = [row[column] / 1024 for row in run["rss_series"]]
            mem.plot(seconds, megabytes, linestyle=style, label=f"{name}, run {number}")
    lat.set(xlabel="seconds into the load", ylabel="latency per request, ms (10 s windows)")
    mem.set(xlabel="seconds into the load", ylabel="resident memory, MB")
    lat.legend(fontsize=8)
    mem.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(result: dict, name: str) -> str:
    rows = "\n".join(
        f"| {n} | {r['requests_ok']:,} | {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | "
        f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | "
        f"{r['backpressure_429_503']} | {r['failures']} | "
        f"{r['api_rss_mb_start']:.0f} → {r['api_rss_mb_end']:.0f} "
        f"(max {r['api_rss_mb_max']:.0f}) | "
        f"{', '.join(r['job_states_seen'])}, progress {r['job_progress'][0]:.2f} → "
        f"{r['job_progress'][1]:.2f} |"
        for n, r in enumerate(result["runs"], 1)
    )
    s = result["summary"]
    return f"""# Load held during a fine-tune

{result["clients"]} concurrent clients for {result["duration_s"]:.0f} s on `POST /v1/extract`
(one CoNLL-2003 test sentence per request, closed loop, aiohttp) against
`nuner serve` on the embedded default, while its worker fine-tunes a
{BACKGROUND_JOB_EXAMPLES}-sentence tagger on the same {result["machine"]["cpu_count"]} CPU
cores (the load generator shares them too). Served tagger: k=8 CoNLL-2003,
published by a fine-tune job just before, int8 (the CPU default). RSS "start"
is after {result["warmup_s"]:.0f} s of load.

| run | answered | req/s | p50 ms | p95 ms | p99 ms | max ms | 429/503 | failed \
| API RSS MB start → end | fine-tune job during the load |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|
{rows}

Median over runs: p99 **{s["p99_ms"]:.0f} ms**, {s["requests_per_s"]:.1f} requests/s,
failed requests **{s["failures"]}** (other than deliberate 429/503:
{s["backpressure_429_503"]}), API RSS change after warm-up
**{s["api_rss_mb_change"]:+.1f} MB**.

![latency and memory over the load]({name}.png)

Reproduce: `.venv/bin/python bench/load.py --duration {result["duration_s"]:.0f} \
--repeats {len(result["runs"])} --name {name}` (figures in `docs/{name}.json`).
"""


def main(
    clients: int = 64,
    duration: float = 120.0,
    warmup: float = 15.0,
    repeats: int = 2,
    name: str = "load",
) -> None:
    """Writes docs/NAME.json, .md and .png."""
    texts = [e.text for e in read_jsonl(CONLL / "test.jsonl") if e.text.strip()]
    runs = [one_run(clients, duration, warmup, texts) for _ in range(repeats)]

    def middle(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    result = {
        "clients": clients,
        "duration_s": duration,
        "warmup_s": warmup,
        "runs": runs,
        "summary": {
            "p99_ms": middle("p99_ms"),
            "requests_per_s": middle("requests_per_s"),
            "failures": sum(r["failures"] for r in runs),
            "backpressure_429_503": sum(r["backpressure_429_503"] for r in runs),
            "api_rss_mb_change": statistics.median(
                r["api_rss_mb_end"] - r["api_rss_mb_start"] for r in runs
            ),
        },
        "machine": machine(),
    }
    (DOCS / f"{name}.json").write_text(json.dumps(result, indent=2))
    plot(runs, DOCS / f"{name}.png")
    (DOCS / f"{name}.md").write_text(report(result, name))
    typer.echo(report(result, name))


if __name__ == "__main__":
    typer.run(main)
