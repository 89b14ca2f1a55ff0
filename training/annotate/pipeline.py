"""``nuner annotate``: annotate every new sentence of a corpus, resumably.

Output files (``OUT`` = the output path):

* ``OUT`` (JSONL): kept sentences in the shared span format, with
  ``description`` per span and the raw answer (``llm_answer``) for audit;
  ``nuner pretrain`` reads it as is.
* ``OUT.rejected.jsonl``: sentences dropped by the "concept" filter.
* ``OUT.report.json``: counts, token usage and estimated cost.

Each record is one line written with a single ``write`` and flushed, after
``fsync`` every few records; a restart first cuts a torn last line, then
skips every sentence already in either file. Exact duplicate sentences are
annotated once. Failed requests (after retries) are counted and retried by
the next run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from nuner.training.annotate.client import AnnotationError, ChatClient
from nuner.training.annotate.corpus import SentenceSplitter, documents, sentence_key
from nuner.training.annotate.parser import ParseStats, parse_answer
from nuner.training.annotate.prompt import messages

FSYNC_EVERY = 16


@dataclass
class Report:
    sentences_seen: int = 0
    duplicates_skipped: int = 0
    already_done: int = 0
    annotated: int = 0
    kept: int = 0
    filtered_concept: int = 0
    errors: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost_usd: float | None = None
    parse: ParseStats = field(default_factory=ParseStats)
    concepts: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["distinct_concepts"] = len(self.concepts)
        data["concepts"] = dict(self.concepts.most_common(50))
        return data


@dataclass(frozen=True)
class Pricing:
    input_per_million: float | None = None
    output_per_million: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.input_per_million is None or self.output_per_million is None:
            return None
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / 1e6


class JsonlAppender:
    """Whole lines only: a crash can tear at most the last line, which the next
    open cuts off before appending."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_tail(path)
        self.handle = path.open("a", encoding="utf-8")
        self.pending = 0

    def write(self, record: dict) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.flush()
        self.pending += 1
        if self.pending >= FSYNC_EVERY:
            self.sync()

    def sync(self) -> None:
        os.fsync(self.handle.fileno())
        self.pending = 0

    def close(self) -> None:
        self.sync()
        self.handle.close()


def repair_tail(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with path.open("r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)


def done_keys(*paths: Path) -> set[str]:
    keys = set()
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                keys.add(sentence_key(json.loads(line)["text"]))
            except (json.JSONDecodeError, KeyError):
                continue  # a torn line: cut on open, annotated again
    return keys


def pending_sentences(
    source: str | Path, done: set[str], report: Report, text_field: str = "text"
) -> Iterator[str]:
    split = SentenceSplitter()
    seen: set[str] = set()
    for document in documents(source, text_field):
        for sentence in split(document):
            report.sentences_seen += 1
            key = sentence_key(sentence)
            if key in seen:
                report.duplicates_skipped += 1
                continue
            seen.add(key)
            if key in done:
                report.already_done += 1
                continue
            yield sentence


async def annotate_corpus(
    source: str | Path,
    output: str | Path,
    client: ChatClient,
    concurrency: int = 8,
    pricing: Pricing = Pricing(),
    text_field: str = "text",
    show_progress: bool = True,
) -> Report:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    rejected_path = output.with_name(output.name + ".rejected.jsonl")
    report = Report()
    done = done_keys(output, rejected_path)
    kept, rejected = JsonlAppender(output), JsonlAppender(rejected_path)
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=concurrency * 4)
    bar = tqdm(desc="annotate", unit="sent", disable=not show_progress)

    async def produce() -> None:
        for sentence in pending_sentences(source, done, report, text_field):
            await queue.put(sentence)
        for _ in range(concurrency):
            await queue.put(None)

    async def work() -> None:
        while (sentence := await queue.get()) is not None:
            await annotate_one(sentence, client, report, kept, rejected)
            bar.update()
            bar.set_postfix(kept=report.kept, errors=report.errors)

    try:
        await asyncio.gather(produce(), *(work() for _ in range(concurrency)))
    finally:
        kept.close()
        rejected.close()
        bar.close()
        report.retries = client.retries
        report.estimated_cost_usd = pricing.cost(report.prompt_tokens, report.completion_tokens)
        report_path = output.with_name(output.name + ".report.json")
        report_path.write_text(json.dumps(report.to_dict(), indent=2))
    return report


async def annotate_one(
    sentence: str,
    client: ChatClient,
    report: Report,
    kept: JsonlAppender,
    rejected: JsonlAppender,
) -> None:
    try:
        completion = await client.complete(messages(sentence))
    except AnnotationError:
        report.errors += 1
        return
    report.annotated += 1
    report.prompt_tokens += completion.prompt_tokens
    report.completion_tokens += completion.completion_tokens
    parsed = parse_answer(sentence, completion.text)
    report.parse.add(parsed.stats)
    record = {"text": sentence, "spans": parsed.spans, "llm_answer": completion.text}
    if parsed.concept_concept:
        report.filtered_concept += 1
        rejected.write(record)
        return
    report.kept += 1
    report.concepts.update(parsed.concepts)
    kept.write(record)


def concept_stats(path: str | Path, top: int = 30) -> dict:
    """Concept frequencies of an annotated JSONL (``nuner annotate --stats``)."""
    counts: Counter[str] = Counter()
    sentences = spans = 0
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            sentences += 1
            spans += len(record.get("spans", []))
            counts.update(s["label"] for s in record.get("spans", []))
    singletons = sum(1 for c in counts.values() if c == 1)
    return {
        "sentences": sentences,
        "annotations": spans,
        "distinct_concepts": len(counts),
        "concepts_seen_once": singletons,
        "top": counts.most_common(top),
    }
