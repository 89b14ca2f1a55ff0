"""Wall time of the README's quick-start tagger (docs/create_tagger.md).

``nuner create-tagger conll --train SAMPLE`` as a user runs it, a new process
each time (imports, fine-tune, ONNX export and verification, publish), on the
k=8 CoNLL-2003 sample that ``nuner sample --k 8`` draws. Beside it, interleaved
in the same run, ``--mode head`` (a head over the published starter encoder):
the fast path, and the baseline the full mode's time is given against, since
on these shared machines one absolute time means little.

Each run gets a fresh ``NUNER_HOME`` holding this machine's built starter (its
backbone linked, its encoder bundle published), so every run publishes
``conll@1``, as a user's first tagger.

    python bench/create_tagger.py [--repeats 3]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer
from common import CONLL, DOCS, WORK, link_starter_backbone, machine, write_report

from nuner.app.registry import Registry
from nuner.app.settings import Settings

NUNER = str(Path(sys.executable).with_name("nuner"))
MODES = ("full", "head")
HERE = WORK / "create-tagger"


def nuner(home: Path, *args: str) -> str:
    """One ``nuner`` command in its own process on ``home``; its output."""
    env = {**os.environ, "NUNER_HOME": str(home)}
    done = subprocess.run([NUNER, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def fresh_home(name: str, encoder_bundle: Path) -> Path:
    """A store as a user's is after the first start: the starter built."""
    home = HERE / name
    shutil.rmtree(home, ignore_errors=True)
    link_starter_backbone(home)
    nuner(home, "publish-encoder", str(encoder_bundle))
    return home


def timed_create(home: Path, train: Path, mode: str) -> float:
    started = time.perf_counter()
    output = nuner(home, "create-tagger", "conll", "--train", str(train), "--mode", mode)
    seconds = time.perf_counter() - started
    if "published conll@1" not in output:
        raise SystemExit(f"create-tagger --mode {mode} did not publish conll@1: {output}")
    return seconds


def main(repeats: int = 3) -> None:
    encoder_bundle = Registry.from_settings(Settings()).encoders.resolve(None).path
    HERE.mkdir(parents=True, exist_ok=True)
    train = HERE / "train.jsonl"
    nuner(HERE, "sample", str(CONLL / "train.jsonl"), "--k", "8", "--out", str(train))
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for repeat in range(repeats):
        for mode in MODES:
            home = fresh_home(f"home-{mode}-{repeat}", encoder_bundle)
            seconds[mode].append(timed_create(home, train, mode))
            print(f"{mode} #{repeat + 1}: {seconds[mode][-1]:.1f} s", flush=True)
    medians = {mode: statistics.median(values) for mode, values in seconds.items()}
    result = {
        "repeats": repeats,
        "seconds": seconds,
        "median_s": medians,
        "full_over_head": medians["full"] / medians["head"],
        "machine": machine(),
    }
    (DOCS / "create_tagger.json").write_text(json.dumps(result, indent=2))
    write_report(DOCS / "create_tagger.md", report(result))
    print(report(result))


def report(result: dict) -> str:
    rows = "\n".join(
        f"| {mode} | {result['median_s'][mode]:.1f} | "
        f"{', '.join(f'{s:.1f}' for s in result['seconds'][mode])} |"
        for mode in MODES
    )
    return f"""# The quick-start tagger: `nuner create-tagger` wall time

`python bench/create_tagger.py` (docstring: what runs). The README's first
tagger, k=8 CoNLL-2003 mentions per type, a new process per run, interleaved;
{result["machine"]["cpu_count"]} cores, {result["machine"]["cpu_model"]}.

| mode | median s | runs |
|---|---:|---|
{rows}

The full fine-tune takes **{result["full_over_head"]:.1f}x** the head mode's time
in the same run.
"""


if __name__ == "__main__":
    typer.run(main)
