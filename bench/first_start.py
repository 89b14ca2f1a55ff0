"""Time from a fresh clone to the first zero-shot answer (README quick start).

Clones the repository into a temporary folder, runs ``bash scripts/serve.sh``
there with an empty ``NUNER_HOME`` (so it installs its virtual environment
and builds the starter encoder), and posts the README's zero-shot request
until it answers; then stops the server, starts it again on the same home,
and times the second first answer (the starter reused). Writes
docs/first_start.json and .md.

    python bench/first_start.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import typer
from common import DOCS, ROOT, WORK, free_port, machine

REQUEST = {
    "labels": ["person", "organization", "location"],
    "text": "Angela Merkel met Emmanuel Macron in Paris.",
}
MARKERS = {  # log line -> stage that starts there
    "first start: building the starter encoder": "starter build",
    "Uvicorn running": "serving",
}


def watch(process: subprocess.Popen, started: float, stages: dict, log: Path) -> None:
    with log.open("w") as out:
        for line in process.stdout:
            out.write(line)
            for marker, stage in MARKERS.items():
                if marker in line and stage not in stages:
                    stages[stage] = time.perf_counter() - started


def first_answer(clone: Path, home: Path, log: Path, timeout: float) -> dict:
    port = free_port()
    env = {**os.environ, "NUNER_HOME": str(home), "NUNER_PORT": str(port)}
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        ["bash", "scripts/serve.sh"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stages: dict[str, float] = {}
    threading.Thread(target=watch, args=(process, started, stages, log), daemon=True).start()
    answer = None
    try:
        while time.perf_counter() - started < timeout and process.poll() is None:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/v1/extract", json=REQUEST)
                if response.status_code == 200:
                    answer = response.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        seconds = time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    if answer is None:
        raise RuntimeError(f"no answer within {timeout} s; see {log}")
    return {"seconds_to_first_answer": seconds, "stages_started_at": stages, "answer": answer}


def main(timeout: float = typer.Option(1800.0)) -> None:
    WORK.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nuner-first-start-"))
    clone, home = work / "clone", work / "home"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    try:
        fresh = first_answer(clone, home, WORK / "first_start_fresh.log", timeout)
        again = first_answer(clone, home, WORK / "first_start_again.log", timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"machine": machine(), "fresh_clone": fresh, "second_start": again}
    (DOCS / "first_start.json").write_text(json.dumps(result, indent=2))
    (DOCS / "first_start.md").write_text(report(result))
    typer.echo(report(result))


def report(result: dict) -> str:
    fresh, again = result["fresh_clone"], result["second_start"]
    stages = fresh["stages_started_at"]
    return "\n".join(
        [
            "# Time to the first zero-shot answer",
            "",
            "`python bench/first_start.py`: a fresh `git clone`, an empty `NUNER_HOME`, "
            "`bash scripts/serve.sh`, then the README's zero-shot request every second "
            f"until it answers ({result['machine']['cpu_model']}, "
            f"{result['machine']['cpu_count']} cores). Package downloads come from this "
            "machine's package index and pip cache, so a first install elsewhere may take "
            "longer; the starter build is pure CPU and does not depend on it.",
            "",
            "| start | seconds to first answer | install done / starter build began | "
            "serving began |",
            "|---|---:|---:|---:|",
            f"| fresh clone, empty home | {fresh['seconds_to_first_answer']:.0f} | "
            f"{stages.get('starter build', float('nan')):.0f} | "
            f"{stages.get('serving', float('nan')):.0f} |",
            f"| second start, same home (starter reused) | "
            f"{again['seconds_to_first_answer']:.0f} | - | "
            f"{again['stages_started_at'].get('serving', float('nan')):.0f} |",
            "",
            "First answer: `" + json.dumps(fresh["answer"]) + "`",
            "",
        ]
    )


if __name__ == "__main__":
    typer.run(main)
