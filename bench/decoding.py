"""Decoding levers for fully fine-tuned taggers, judged on dev data only (issue 20).

k=8 taggers of the product default (full fine-tune of all-MiniLM-L6-v2,
docs/fewshot.md) are trained on the dev-selection seeds of bench/fewshot.py
(conll2003 and wnut2017, seeds 100-103); each tagger's tag distributions
over the dev split are computed once, then decoded with each policy:

* ``lenient`` (the product's, nuner.core.decoding): a word's type by B+I
  mass, a new entity where its first sub-word says B at least as much as I;
* ``margin-M``: a new entity of the same type only where B beats I by M;
* ``runs``: adjacent words of one type always form one entity (the zero-shot
  policy);
* ``viterbi``: the most probable word-level BIO sequence with I-X allowed
  only after B-X or I-X (nuner.core.decoding, the product's default since);
* ``viterbi-join-spaces``: viterbi, then same-type entities with only whitespace
  or nothing between them made one (the product's viterbi-join of 2026-12-02);
* ``viterbi-join``: the product's viterbi-join now, which also joins what
  punctuation inside one written word separates ("U.K.").

Each round trains the taggers of the product default of its day (ROUNDS) and
has its own log and report:

    python bench/decoding.py [--round NAME]   # -> docs/NAME_runs.jsonl, NAME.json, NAME.md
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import typer
from common import (
    BATCH8,
    DATASETS,
    DOCS,
    TRAINED_EMBEDDINGS,
    append_log,
    entity_f1,
    machine,
    read_log,
    write_report,
)

from nuner.core.backbones import resolve_backbone
from nuner.core.datasets import read_jsonl
from nuner.core.decoding import decode_entities, unit_distributions, unit_starts
from nuner.core.hyperparameters import DEFAULTS
from nuner.core.labels import LabelSet
from nuner.core.types import Entity
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.finetune import finetune
from nuner.training.predict import torch_pipeline
from nuner.training.sampling import sample_k_2k

# round -> the fields in which its training differs from today's FinetuneConfig()
ROUNDS: dict[str, dict] = {
    "decoding": {**BATCH8, **TRAINED_EMBEDDINGS, "shape_features": "none"},  # 2026-12-01
    "decoding_shapes": {**BATCH8, **TRAINED_EMBEDDINGS},  # 2026-12-03: word shapes in the input
}
SEEDS, K = (100, 101, 102, 103), 8
DATASETS_USED = ("conll2003", "wnut2017")
MARGINS = (0.2, 0.5, 0.8)


def words_of(encoded, probs):
    """Per word: its (average) tag distribution, its first sub-word's, and its char span."""
    content = np.flatnonzero(encoded.has_content)
    starts = unit_starts(encoded, content, "average")
    firsts = content[starts]
    lasts = content[np.append(starts[1:], len(content)) - 1]
    bounds = (encoded.offsets[firsts, 0].tolist(), encoded.offsets[lasts, 1].tolist())
    spans = list(zip(*bounds, strict=True))
    return unit_distributions(probs[content], starts, "average"), probs[firsts], spans


def entities_from_tags(encoded, tags, masses, spans, label_set) -> list[Entity]:
    """Entities from per-word (type index, begins) decisions; score = mean type mass."""
    entities, current = [], None
    for word, (kind, begins) in enumerate(tags):
        if kind and current and current[0] == kind and not begins:
            current[2], current[3] = spans[word][1], current[3] + [masses[word]]
            continue
        if current:
            entities.append(current)
        current = [kind, spans[word][0], spans[word][1], [masses[word]]] if kind else None
    if current:
        entities.append(current)
    return [
        Entity(s, e, encoded.text[s:e], label_set.entity_types[k - 1], float(np.mean(m)))
        for k, s, e, m in entities
    ]


def greedy(encoded, probs, label_set, margin: float | None) -> list[Entity]:
    """``margin`` None: never begin a same-type entity (runs)."""
    if not encoded.has_content.any():
        return []
    distribution, first, spans = words_of(encoded, probs)
    masses = np.concatenate([distribution[:, :1], distribution[:, 1::2] + distribution[:, 2::2]], 1)
    best = masses.argmax(axis=1)
    rows = np.arange(len(best))
    b, i = first[rows, 2 * best - 1], first[rows, 2 * best]
    begins = np.zeros(len(best), bool) if margin is None else b >= i + margin
    tags = list(zip(best.tolist(), begins.tolist(), strict=True))
    return entities_from_tags(encoded, tags, masses[rows, best], spans, label_set)


POLICIES = {
    "lenient": lambda e, p, ls: decode_entities(e, p, ls, "average"),
    **{f"margin-{m}": (lambda e, p, ls, m=m: greedy(e, p, ls, m)) for m in MARGINS},
    "runs": lambda e, p, ls: greedy(e, p, ls, None),
    "viterbi": lambda e, p, ls: decode_entities(e, p, ls, "average", decoding="viterbi"),
    "viterbi-join-spaces": lambda e, p, ls: join_spaced(
        decode_entities(e, p, ls, "average", decoding="viterbi"), e.text
    ),
    "viterbi-join": lambda e, p, ls: decode_entities(e, p, ls, "average", decoding="viterbi-join"),
}


def join_spaced(entities: list[Entity], text: str) -> list[Entity]:
    """Adjacent same-type entities with only whitespace (or nothing) between them as one."""
    joined: list[Entity] = []
    for entity in entities:
        last = joined[-1] if joined else None
        if last and last.label == entity.label and not text[last.end : entity.start].strip():
            score = (last.score + entity.score) / 2
            entity = Entity(
                last.start, entity.end, text[last.start : entity.end], last.label, score
            )
            joined[-1] = entity
        else:
            joined.append(entity)
    return joined


def main(round_name: str = typer.Option("decoding_shapes", "--round")) -> None:
    """Train each round's taggers once (resumable), decode them with every policy."""
    log = DOCS / f"{round_name}_runs.jsonl"
    backbone = resolve_backbone(None)
    done = {(r["dataset"], r["seed"]) for r in read_log(log)}
    for dataset in DATASETS_USED:
        train = read_jsonl(DATASETS / dataset / "train.jsonl")
        dev = read_jsonl(DATASETS / dataset / "dev.jsonl")
        labels = sorted({label for e in train for label in e.labels})
        for seed in SEEDS:
            if (dataset, seed) in done:
                continue
            started = time.perf_counter()
            sample = sample_k_2k(train, K, seed=seed, types=labels)
            config = DEFAULTS.model_copy(update={**ROUNDS[round_name], "seed": seed})
            model = finetune(backbone, sample, config, labels=labels, show_progress=False).model
            encoder = text_encoder_for(
                load_fast_tokenizer(backbone), config.max_length, config.stride
            )
            pipeline = torch_pipeline(model, encoder, config.aggregation)
            tagged = pipeline.token_probs([e.text for e in dev])
            label_set = LabelSet.from_types(labels)
            f1 = {}
            for name, policy in POLICIES.items():
                found = [
                    [x.span for x in policy(encoded, probs, label_set)] for encoded, probs in tagged
                ]
                f1[name] = round(100 * entity_f1(dev, found), 2)
            record = {"dataset": dataset, "seed": seed, "k": K, "f1": f1}
            record["seconds"] = round(time.perf_counter() - started, 1)
            append_log(log, record)
            print(json.dumps(record), flush=True)
    report(round_name)


def report(round_name: str) -> None:
    records = read_log(DOCS / f"{round_name}_runs.jsonl")
    policies = [n for n in POLICIES if all(n in r["f1"] for r in records)]  # older rounds: fewer
    means = {
        name: statistics.mean(
            statistics.mean(r["f1"][name] for r in records if r["dataset"] == d)
            for d in DATASETS_USED
        )
        for name in policies
    }
    per = {
        d: {n: statistics.mean(r["f1"][n] for r in records if r["dataset"] == d) for n in policies}
        for d in DATASETS_USED
    }
    (DOCS / f"{round_name}.json").write_text(
        json.dumps(
            {"machine": machine(), "runs": records, "mean": means, "per_dataset": per}, indent=2
        )
        + "\n"
    )
    lines = [
        "# Decoding levers (dev data, issue 20)",
        "",
        "`python bench/decoding.py` (policies in its docstring). k=8 full fine-tunes of the "
        f"product default of round `{round_name}` (`{json.dumps(ROUNDS[round_name])}` "
        "against today's `FinetuneConfig()`), seeds 100-103 (bench/fewshot.py's dev-selection "
        "seeds and two more), "
        "strict entity F1 on the dev splits; each tagger's distributions decoded by every policy.",
        "",
        "| policy | " + " | ".join(DATASETS_USED) + " | mean |",
        "|---|" + "---:|" * (len(DATASETS_USED) + 1),
    ]
    for name in policies:
        cells = " | ".join(f"{per[d][name]:.2f}" for d in DATASETS_USED)
        lines.append(f"| {name} | {cells} | {means[name]:.2f} |")
    write_report(DOCS / f"{round_name}.md", "\n".join(lines) + "\n")
    print(json.dumps(means, indent=2))


if __name__ == "__main__":
    typer.run(main)
