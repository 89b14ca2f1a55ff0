"""Pre-training under torchrun: two CPU processes (gloo), DistributedDataParallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATASETS


def test_torchrun_two_processes(tiny_bert_dir, tmp_path):
    lines = (DATASETS / "nuner_sample1k" / "train.jsonl").read_text().splitlines()[:40]
    data = tmp_path / "sample.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "backbone"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun),
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "nuner.cli",
        "pretrain",
        str(data),
        "--out",
        str(out),
        "--backbone",
        str(tiny_bert_dir),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--max-length",
        "48",
        "--negatives",
        "8",
        "--threads",
        "1",
        "--licence",
        "sample=MIT",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    info = json.loads((out / "pretraining.json").read_text())
    assert [h["epoch"] for h in info["history"]] == [1, 2]
    assert info["windows"] >= 40 and info["licences"] == ["MIT"]
    assert (out / "model.safetensors").is_file()
