"""What a user gets: the README's quick-start tagger, before and after (issue 20).

The quick start samples k=8 CoNLL-2003 mentions per type (`nuner sample`, seed 0)
and makes a tagger with the defaults. This fine-tunes that sample twice, with
the defaults before the few-shot work (the packaged MiniLM, no word shapes,
lenient decoding) and with today's (the ``auto`` backbone: the starter's
pre-trained encoder where it is built, its head warm-started), and writes the
entities each finds in sentences like those a new user tried
(docs/quickstart_tagger.json; the table in docs/fewshot.md quotes it).

    python bench/quickstart.py
"""

from __future__ import annotations

import json

import typer
from common import BATCH8, CONLL, DOCS, TRAINED_EMBEDDINGS, machine
from transformers.utils import logging as hf_logging

from nuner.core.backbones import AUTO_BACKBONE, resolve_backbone
from nuner.core.datasets import read_jsonl
from nuner.core.hyperparameters import DEFAULTS
from nuner.core.settings import NunerSettings
from nuner.training.checkpoint import load_fast_tokenizer, text_encoder_for
from nuner.training.finetune import finetune
from nuner.training.predict import torch_pipeline
from nuner.training.sampling import sample_k_2k

SENTENCES = (
    "Barack Obama visited the U.K. last week.",
    "Apple opened a new store in Cupertino.",
    "She ate an apple in the United States.",
    "Angela Merkel met Emmanuel Macron in Paris.",
)
BEFORE = DEFAULTS.model_copy(
    update={**BATCH8, **TRAINED_EMBEDDINGS, "shape_features": "none", "decoding": "lenient"}
)
RUNS = (("before", BEFORE, None), ("after", DEFAULTS, AUTO_BACKBONE))  # name, config, backbone


def main() -> None:
    """Fine-tune the quick-start sample before and now; write the entities found."""
    hf_logging.set_verbosity_error()
    train = read_jsonl(CONLL / "train.jsonl")
    sample = sample_k_2k(train, 8, seed=0)  # as `nuner sample --k 8` draws it
    answers = {}
    for name, config, backbone_name in RUNS:
        backbone = resolve_backbone(backbone_name, backbones_dir=NunerSettings().backbones_dir)
        encoder = text_encoder_for(load_fast_tokenizer(backbone), config.max_length, config.stride)
        result = finetune(backbone, sample, config, show_progress=False)
        pipeline = torch_pipeline(
            result.model, encoder, config.aggregation, decoding=config.decoding
        )
        answers[name] = {
            "backbone": "pre-trained (starter)" if result.backbone_pretraining else "MiniLM",
            "warm_start_reads": result.warm_start_reads,
            "config": config.model_dump(include={"shape_features", "decoding", "batch_size"}),
            "entities": [
                [{"text": e.text, "label": e.label, "score": round(e.score, 2)} for e in row]
                for row in pipeline(list(SENTENCES))
            ],
        }
    result = {"sentences": SENTENCES, "train_sentences": len(sample), **answers}
    (DOCS / "quickstart_tagger.json").write_text(
        json.dumps({**result, "machine": machine()}, indent=2, ensure_ascii=False)
    )
    for index, sentence in enumerate(SENTENCES):
        print(sentence)
        for name in ("before", "after"):
            found = ", ".join(
                f"{e['text']} {e['label']} {e['score']}" for e in answers[name]["entities"][index]
            )
            print(f"  {name}: {found or '-'}")


if __name__ == "__main__":
    typer.run(main)
