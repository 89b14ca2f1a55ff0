"""Checkpoint -> verified ONNX bundle -> torch-free loader, for both tokenizer families."""

import json
import shutil
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from nuner.cli import app
from nuner.core import bundle as bundle_module
from nuner.core.bundle import MANIFEST, BundleError, verify_bundle
from nuner.core.datasets import read_jsonl
from nuner.core.onnx_tagger import OnnxTagger
from nuner.export import bundle_writer
from nuner.export.bundle_writer import ExportRefused, write_bundle
from nuner.export.verify import Tolerances
from nuner.training.predict import load_pipeline
from tests.conftest import dataset_path, train_tiny_checkpoint

LOOSE = Tolerances(max_f1_drop_points=10, max_label_disagreement=0.1)


@pytest.fixture(scope="module")
def verification_sentences():
    return read_jsonl(dataset_path("conll2003", "dev"))[:60]


@pytest.fixture(scope="module", params=["tiny_bert_dir", "tiny_roberta_dir"])
def checkpoint(request, conll_sample, tmp_path_factory):
    """A tiny tagger trained for real on a few CoNLL sentences."""
    backbone = str(request.getfixturevalue(request.param))
    directory = tmp_path_factory.mktemp("ckpt") / request.param
    return train_tiny_checkpoint(backbone, conll_sample, directory, 64)


@pytest.fixture(scope="module")
def bundle(checkpoint, verification_sentences, tmp_path_factory):
    target = tmp_path_factory.mktemp("bundles") / "tagger"
    write_bundle(
        checkpoint,
        target,
        "conll-tiny",
        "1",
        verification_sentences,
        variants=["fp32", "int8", "fp16"],
        tolerances=LOOSE,
        licences=["research-only"],
    )
    return target


def test_bundle_has_every_variant_verified_and_hashed(bundle):
    manifest = verify_bundle(bundle)
    assert {p.name for p in bundle.iterdir()} == {
        MANIFEST,
        "tokenizer.json",
        "model.onnx",
        "model.int8.onnx",
        "model.fp16.onnx",
    }
    assert set(manifest.files) == {p.name for p in bundle.iterdir()} - {MANIFEST}
    assert manifest.labels == ["LOC", "MISC", "ORG", "PER"]
    assert manifest.tags[0] == "O" and manifest.max_length == 64
    assert manifest.training["licences"] == ["research-only"]
    fp32 = manifest.variants["fp32"].verification
    assert fp32["max_abs_logit_diff"] < 1e-3 and fp32["token_label_agreement"] == 1.0
    assert fp32["f1_drop_points"] == 0.0 and fp32["passed"] is True
    for variant in ("int8", "fp16"):
        report = manifest.variants[variant].verification
        assert report["sentences"] == 60 and report["tokens"] > 500
        assert report["token_label_agreement"] >= 0.9


def test_onnx_predictions_equal_the_checkpoint(bundle, checkpoint):
    texts = [e.text for e in read_jsonl(dataset_path("conll2003", "test"))[:80]]
    texts.append("  Long\ttext  " * 60)  # several windows at max_length 64
    expected = load_pipeline(checkpoint)(texts)
    actual = OnnxTagger(bundle, variant="fp32", threads=1)(texts)
    assert [[e.span for e in r] for r in actual] == [[e.span for e in r] for r in expected]
    scores = [(a.score, b.score) for ra, rb in zip(actual, expected) for a, b in zip(ra, rb)]
    assert scores and np.allclose(*zip(*scores), atol=1e-4)


def test_auto_variant_on_cpu_is_int8(bundle):
    tagger = OnnxTagger(bundle)
    assert (tagger.provider, tagger.variant) == ("CPUExecutionProvider", "int8")


def test_cuda_is_used_only_when_a_session_really_runs_there(bundle, monkeypatch):
    from nuner.core import onnx_tagger

    monkeypatch.setattr(onnx_tagger, "cuda_offered", lambda: True)
    real_open = onnx_tagger.open_session

    def failing_cuda(path, provider, threads=None, spinning=True):
        if provider == onnx_tagger.CUDA:
            raise BundleError("CUDAExecutionProvider did not initialise")
        return real_open(path, provider, threads, spinning)

    monkeypatch.setattr(onnx_tagger, "open_session", failing_cuda)
    tagger = OnnxTagger(bundle)
    assert tagger.provider == onnx_tagger.CPU and tagger.variant == "int8"
    with pytest.raises(BundleError, match="did not initialise"):
        OnnxTagger(bundle, device="cuda")


def copy_of(bundle, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def test_tampered_file_is_refused(bundle, tmp_path):
    tampered = copy_of(bundle, tmp_path)
    with (tampered / "model.onnx").open("r+b") as handle:
        handle.seek(-100, 2)
        byte = handle.read(1)
        handle.seek(-100, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        OnnxTagger(tampered)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "tokenizer.json").unlink(), "tokenizer.json is missing"),
        (lambda d: (d / MANIFEST).unlink(), "no manifest.json"),
        (lambda d: _edit_manifest(d, format_version=99), "format 99 is not supported"),
        (lambda d: _edit_manifest(d, files={"../outside": "0" * 64}), "does not list|outside"),
        (lambda d: (d / MANIFEST).write_text("{"), "not valid JSON"),
    ],
)
def test_incomplete_or_foreign_bundles_are_refused(bundle, tmp_path, damage, message):
    broken = copy_of(bundle, tmp_path)
    damage(broken)
    with pytest.raises(BundleError, match=message):
        OnnxTagger(broken)


def _edit_manifest(directory, **changes):
    data = json.loads((directory / MANIFEST).read_text())
    data.update(changes)
    (directory / MANIFEST).write_text(json.dumps(data))


def _sabotaging_converter(source, target):
    """An 'int8' variant whose classifier weights are negated: a broken conversion."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    last = model.graph.initializer[-1]
    last.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(last), last.name))
    onnx.save(model, str(target))
    return target


def test_a_variant_that_loses_accuracy_is_refused_and_nothing_is_written(
    checkpoint, verification_sentences, tmp_path, monkeypatch
):
    monkeypatch.setitem(bundle_writer.CONVERTERS, "int8", _sabotaging_converter)
    with pytest.raises(ExportRefused, match="int8 variant refused") as refusal:
        write_bundle(
            checkpoint,
            tmp_path / "out",
            "t",
            "1",
            verification_sentences,
            variants=["fp32", "int8"],
        )
    assert refusal.value.report.token_label_agreement < 0.99
    assert list(tmp_path.iterdir()) == []


def test_a_crash_midway_leaves_nothing_that_loads(
    checkpoint, verification_sentences, tmp_path, monkeypatch
):
    def crash(path):
        raise KeyboardInterrupt("killed while hashing")

    monkeypatch.setattr(bundle_module, "sha256_file", crash)  # what file_hashes calls
    with pytest.raises(KeyboardInterrupt):
        write_bundle(checkpoint, tmp_path / "out", "t", "1", verification_sentences)
    assert list(tmp_path.iterdir()) == []


def test_leftover_staging_directory_is_not_a_bundle(bundle, tmp_path):
    leftover = copy_of(bundle, tmp_path)
    (leftover / MANIFEST).unlink()  # what a SIGKILL before the manifest leaves
    with pytest.raises(BundleError, match="not a tagger bundle"):
        OnnxTagger(leftover)


def test_existing_bundle_and_unsafe_names_are_refused(
    bundle, checkpoint, verification_sentences, tmp_path
):
    with pytest.raises(BundleError, match="immutable"):
        write_bundle(checkpoint, bundle, "t", "1", verification_sentences)
    for name in ("../evil", "a/b", "", ".."):
        with pytest.raises(BundleError, match="invalid tagger name"):
            write_bundle(checkpoint, tmp_path / "x", name, "1", verification_sentences)


def test_cli_export_and_predict_with_the_bundle(checkpoint, tmp_path):
    runner = CliRunner()
    target = tmp_path / "bundle"
    result = runner.invoke(
        app,
        [
            "export",
            str(checkpoint),
            "--out",
            str(target),
            "--name",
            "cli-tagger",
            "--int8",
            "--verify-data",
            str(dataset_path("conll2003", "dev")),
            "--verify-samples",
            "40",
            "--max-f1-drop",
            "10",
            "--max-disagreement",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert verify_bundle(target).name == "cli-tagger"
    result = runner.invoke(app, ["predict", str(target), "Peter Blackburn went to Paris ."])
    assert result.exit_code == 0, result.output
    entities = json.loads(result.output.strip().splitlines()[-1])
    text = "Peter Blackburn went to Paris ."
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


def test_an_optional_variant_that_fails_is_left_out(
    checkpoint, verification_sentences, tmp_path, monkeypatch
):
    monkeypatch.setitem(bundle_writer.CONVERTERS, "int8", _sabotaging_converter)
    manifest = write_bundle(
        checkpoint,
        tmp_path / "out",
        "t",
        "1",
        verification_sentences,
        variants=["fp32", "int8"],
        optional_variants=["int8"],
    )
    assert set(manifest.variants) == {"fp32"}
    assert "token labels disagree" in manifest.training["refused_variants"]["int8"]
    assert verify_bundle(tmp_path / "out").variants.keys() == {"fp32"}
    assert not (tmp_path / "out" / "model.int8.onnx").exists()


def test_a_tagger_in_memory_exports_like_its_checkpoint(checkpoint, bundle, tmp_path):
    """What the fine-tune worker does now: export the model it just trained,
    without saving and reloading a checkpoint first."""
    from nuner.training.checkpoint import TrainedTagger

    in_memory = TrainedTagger.load(checkpoint)
    target = tmp_path / "from-memory"
    sentences = read_jsonl(dataset_path("conll2003", "dev"))[:60]
    write_bundle(in_memory, target, "conll-tiny", "1", sentences, tolerances=LOOSE)
    texts = [e.text for e in sentences[:20]]
    expected = [[e.to_dict() for e in row] for row in OnnxTagger(bundle, variant="fp32")(texts)]
    got = [[e.to_dict() for e in row] for row in OnnxTagger(target, variant="fp32")(texts)]
    assert got == expected
    tokenizer = json.loads((target / "tokenizer.json").read_text())
    assert tokenizer["model"] == json.loads((checkpoint / "tokenizer.json").read_text())["model"]


def test_the_export_shows_users_no_tracer_warnings(checkpoint, tmp_path):
    """The tracer's notes on values it keeps as constants are not for users to act
    on; the verification against torch is the check that the trace is right."""
    import torch

    from nuner.export.convert import export_fp32
    from nuner.training.checkpoint import TrainedTagger

    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        export_fp32(TrainedTagger.load(checkpoint).model, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").is_file()
