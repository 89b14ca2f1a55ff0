"""`nuner annotate` against a real HTTP server on localhost that replays
recorded LLM answers, faults included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nuner.training.annotate.client import ChatClient, ClientSettings, retry_after
from nuner.training.annotate.parser import parse_answer
from nuner.training.annotate.pipeline import annotate_corpus, concept_stats
from nuner.training.pretrain.data import ConceptVocabulary, read_annotated
from tests.training.fake_llm import FakeLLM

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "annotate"
CORPUS = FIXTURES / "corpus.txt"
ANSWERS = json.loads((FIXTURES / "answers.json").read_text())
SECRET = "sk-test-secret-never-logged"


def span(text: str, entity: str, label: str, description: str | None = None, nth: int = 0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(entity, start + 1)
    found = {"start": start, "end": start + len(entity), "label": label}
    return {**found, "description": description} if description else found


def expected_kept() -> dict[str, list[dict]]:
    s1 = "Marie Curie won the Nobel Prize in Physics."
    s4 = "Quantum entanglement puzzles physicists."
    s5 = "Apple sued apple growers."
    s7 = "Paris is big and Paris is old."
    return {
        s1: [
            span(s1, "Marie Curie", "person", "a physicist and chemist"),
            span(s1, "Nobel Prize", "award", "an international prize"),
            span(s1, "Physics", "field of study"),
        ],
        "She was born in Warsaw.": [span("She was born in Warsaw.", "Warsaw", "city", "a capital")],
        s4: [
            span(s4, "Quantum entanglement", "physical phenomenon", "a quantum effect"),
            span(s4, "physicists", "occupation", "scientists of physics"),
        ],
        s5: [
            span(s5, "Apple", "company", "a tech company"),
            span(s5, "apple growers", "occupation", "people who grow apples"),
        ],
        "The meeting ended.": [span("The meeting ended.", "meeting", "event", "a gathering")],
        s7: [
            span(s7, "Paris", "city", "capital of France"),
            span(s7, "Paris", "city", "capital of France", nth=1),
        ],
        "The USA and the US differ.": [
            {"start": 16, "end": 18, "label": "country", "description": "United States"}
        ],
    }


def read_records(path: Path) -> dict[str, dict]:
    return {r["text"]: r for r in map(json.loads, path.read_text().splitlines())}


def client_for(server: FakeLLM, **changes) -> ChatClient:
    values = dict(
        base_url=server.base_url,
        model="gpt-test",
        api_key=SECRET,
        timeout_s=0.5,
        max_retries=4,
        backoff_base_s=0.05,
    )
    return ChatClient(ClientSettings(**{**values, **changes}))


def run(server: FakeLLM, output: Path, concurrency: int = 3, **client_changes):
    async def go():
        client = client_for(server, **client_changes)
        try:
            return await annotate_corpus(CORPUS, output, client, concurrency, show_progress=False)
        finally:
            await client.close()

    return asyncio.run(go())


def test_output_retries_and_report(tmp_path):
    faults = {
        "Quantum entanglement puzzles physicists.": [("status", 429, {"Retry-After": "1"})],
        "The meeting ended.": [("status", 500), ("drop",), ("slow", 1.5)],
    }
    out = tmp_path / "out.jsonl"
    with FakeLLM(ANSWERS, faults) as server:
        started = time.monotonic()
        report = run(server, out)
        elapsed = time.monotonic() - started
    records = read_records(out)
    assert {t: r["spans"] for t, r in records.items()} == expected_kept()
    assert all(r["llm_answer"] == ANSWERS[t] for t, r in records.items())
    rejected = read_records(tmp_path / "out.jsonl.rejected.jsonl")
    assert list(rejected) == ["The Nobel Prize is awarded in Stockholm."]
    assert server.requests["Quantum entanglement puzzles physicists."] == 2
    assert server.requests["The meeting ended."] == 4
    assert server.requests["Marie Curie won the Nobel Prize in Physics."] == 1  # duplicate skipped
    assert elapsed >= 1.0  # Retry-After honoured
    assert (report.sentences_seen, report.duplicates_skipped, report.annotated) == (9, 1, 8)
    assert (report.kept, report.filtered_concept, report.errors, report.retries) == (7, 1, 0, 4)
    stats = report.parse
    assert (stats.malformed, stats.not_found, stats.duplicates) == (2, 1, 1)
    assert (stats.case_insensitive, stats.multi_occurrence) == (1, 1)
    assert report.prompt_tokens == 800
    saved = json.loads((tmp_path / "out.jsonl.report.json").read_text())
    assert saved["distinct_concepts"] == 9 and saved["kept"] == 7
    examples = read_annotated(out)  # nuner pretrain takes it as is
    assert len(ConceptVocabulary.from_examples(examples)) == 9
    assert examples[0].spans[0].description is not None


def test_failed_sentences_are_retried_by_the_next_run(tmp_path):
    out = tmp_path / "out.jsonl"
    with FakeLLM(ANSWERS, {"She was born in Warsaw.": [("status", 400)]}) as server:
        first = run(server, out)
        assert (first.errors, first.kept) == (1, 6)
        second = run(server, out)
        assert (second.already_done, second.annotated, second.kept) == (7, 1, 1)
        assert server.requests["She was born in Warsaw."] == 2
        assert server.requests["Apple sued apple growers."] == 1
    assert {t: r["spans"] for t, r in read_records(out).items()} == expected_kept()


def ignore_sigint() -> None:
    """What a shell without job control does to a background command (`cmd &`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "started_as"),
    [
        (signal.SIGINT, "foreground"),
        (signal.SIGINT, "background"),  # hung before the run installed its own handlers
        (signal.SIGTERM, "foreground"),
    ],
    ids=["ctrl-c", "ctrl-c-background-job", "kill"],
)
def test_interrupted_run_resumes_without_loss_or_torn_lines(tmp_path, signum, started_as):
    out = tmp_path / "out.jsonl"
    hang = "The meeting ended."
    with FakeLLM(ANSWERS, hang={hang}) as server:
        env = {
            **os.environ,
            "OPENAI_API_KEY": SECRET,
            "NUNER_ANNOTATE_BASE_URL": server.base_url,
            "NUNER_ANNOTATE_TIMEOUT_S": "600",
        }
        command = [
            sys.executable,
            "-m",
            "nuner.cli",
            "annotate",
            "--input",
            str(CORPUS),
            "--output",
            str(out),
            "--concurrency",
            "1",
        ]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ignore_sigint if started_as == "background" else None,
        )
        deadline = time.monotonic() + 60
        while server.requests[hang] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.requests[hang] == 1, "the run never reached the hanging request"
        process.send_signal(signum)  # Ctrl-C (or kill) while a request is in flight
        stdout, stderr = process.communicate(timeout=15)  # stops within seconds
        assert process.returncode == 128 + signum, stderr
        assert "rerun to resume" in stderr
        assert SECRET not in stdout + stderr
        partial = read_records(out)  # every line whole
        assert set(partial) == set(expected_kept()) - {
            hang,
            "Paris is big and Paris is old.",
            "The USA and the US differ.",
        }
        assert json.loads(out.with_name("out.jsonl.report.json").read_text())["kept"] == len(
            partial
        )
        with out.open("a") as handle:
            handle.write('{"text": "torn')  # as if the machine died mid-write
        server.hang.clear()
        report = run(server, out)
        assert report.already_done == 5
        assert all(server.requests[t] == 1 for t in partial)
    assert {t: r["spans"] for t, r in read_records(out).items()} == expected_kept()
    assert SECRET not in out.read_text()


def test_stats_command(tmp_path):
    out = tmp_path / "out.jsonl"
    with FakeLLM(ANSWERS) as server:
        run(server, out)
    stats = concept_stats(out)
    assert stats["sentences"] == 7 and stats["annotations"] == 12
    assert tuple(stats["top"][0]) == ("city", 3)
    from typer.testing import CliRunner

    from nuner.cli import app

    result = CliRunner().invoke(app, ["annotate", "--stats", str(out)])
    assert result.exit_code == 0 and '"distinct_concepts": 9' in result.output


@pytest.mark.parametrize(
    ("line", "spans"),
    [
        ("  3)  Warsaw   <>  City  <>  a capital  ", [(16, 22, "city")]),
        ("• Warsaw <> city", [(16, 22, "city")]),
        ('"Warsaw" <> "city" <> x', [(16, 22, "city")]),
        ("Warsaw", []),
        ("Warsaw <> <> x", []),
        ("Wars <> city <> part of a word", []),
    ],
)
def test_line_formats(line, spans):
    parsed = parse_answer("She was born in Warsaw.", line)
    assert [(s["start"], s["end"], s["label"]) for s in parsed.spans] == spans


def test_retry_after_forms():
    assert retry_after(httpx.Response(429, headers={"Retry-After": "2"})) == 2.0
    date = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(date) == 0.0  # in the past: retry now
    assert retry_after(httpx.Response(429)) is None
