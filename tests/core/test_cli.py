"""The ``nuner`` command line: help everywhere, and the commands end to end."""

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from nuner.cli import app
from nuner.core.datasets import read_conll, read_jsonl
from tests.conftest import DATASETS, ROOT, dataset_path

runner = CliRunner()
COMMANDS = list(typer.main.get_command(app).commands)  # the names a user types


def test_every_subcommand_has_help():
    assert set(COMMANDS) >= {"info", "convert", "sample", "finetune", "evaluate", "predict"}
    assert {"install-backbone", "create-tagger", "export-encoder"} <= set(COMMANDS)
    for command in COMMANDS:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_help_and_core_commands_do_not_import_torch():
    code = (
        "import sys; from nuner.cli import app; from typer.testing import CliRunner; "
        "CliRunner().invoke(app, ['--help']); CliRunner().invoke(app, ['info']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_convert_and_sample(tmp_path):
    source = dataset_path("wnut2017", "dev")
    assert runner.invoke(app, ["convert", str(source), str(tmp_path / "dev.conll")]).exit_code == 0
    assert (
        runner.invoke(
            app, ["convert", str(tmp_path / "dev.conll"), str(tmp_path / "back.jsonl")]
        ).exit_code
        == 0
    )
    assert [e.spans for e in read_jsonl(tmp_path / "back.jsonl")] == [
        e.spans for e in read_jsonl(source)
    ]
    assert len(read_conll(tmp_path / "dev.conll")) == 1009
    result = runner.invoke(
        app, ["sample", str(source), "--out", str(tmp_path / "s.jsonl"), "--k", "2", "--seed", "1"]
    )
    assert result.exit_code == 0 and "sampled" in result.output
    assert read_jsonl(tmp_path / "s.jsonl")


def test_finetune_evaluate_predict_with_a_tiny_backbone(tiny_bert_dir, tmp_path):
    train = tmp_path / "train.jsonl"
    runner.invoke(
        app, ["sample", str(dataset_path("conll2003", "train")), "--out", str(train), "--k", "2"]
    )
    checkpoint = tmp_path / "ckpt"
    result = runner.invoke(
        app,
        [
            "finetune",
            "--train",
            str(train),
            "--out",
            str(checkpoint),
            "--backbone",
            str(tiny_bert_dir),
            "--epochs",
            "2",
            "--max-length",
            "64",
            "--lr",
            "1e-3",
            "--soup",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((checkpoint / "training.json").read_text())
    assert info["alignment"]["spans"] > 0 and len(info["history"]) == 2
    assert info["config"]["soup"] == 2

    result = runner.invoke(
        app,
        [
            "evaluate",
            str(DATASETS / "conll2003"),
            "--checkpoint",
            str(checkpoint),
            "--max-eval",
            "20",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert {"micro", "per_type", "macro_f1"} <= set(scores)

    result = runner.invoke(app, ["predict", str(checkpoint), "Peter lives in Berlin ."])
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output.strip().splitlines()[-1])
    assert isinstance(entities, list)
    assert all("Peter lives in Berlin ."[e["start"] : e["end"]] == e["text"] for e in entities)


def test_fewshot_evaluate_writes_json_markdown_and_plot(tiny_bert_dir, tmp_path):
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(DATASETS / "wnut2017"),
            "--backbone",
            str(tiny_bert_dir),
            "--k",
            "1",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--max-eval",
            "20",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "fewshot.json").read_text())
    assert data["summary"]["wnut2017"]["1"]["n"] == 2
    assert "| wnut2017 | 1 |" in (tmp_path / "fewshot.md").read_text()
    assert (tmp_path / "fewshot.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_backbone_is_refused_without_download(tmp_path):
    result = runner.invoke(
        app,
        [
            "finetune",
            "--train",
            str(dataset_path("wnut2017", "dev")),
            "--out",
            str(tmp_path / "x"),
            "--backbone",
            "no-such/model",
        ],
    )
    assert result.exit_code != 0
    assert "hub downloads are disabled" in str(result.exception)


def test_console_script_runs():
    script = Path(sys.executable).with_name("nuner")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "finetune" in out.stdout and "evaluate" in out.stdout
