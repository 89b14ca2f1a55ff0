"""The annotation prompt: the paper's unconstrained prompt, paraphrased
(METHOD.md section 1; the exact wording was not published)."""

from __future__ import annotations

INSTRUCTIONS = """The goal is to create a dataset for entity recognition.
Label as many entities, concepts and ideas as possible in the input.
Invent new entity types that go beyond traditional named-entity types: \
include abstract concepts as well as concrete entities.
A concept must be meaningful on its own; do not label parts of speech, and \
avoid meaningless or overly generic entities.
Copy each entity exactly as it is written in the input.
Output one entity per line, in this format and nothing else:
entity from the text <> entity concept <> description of the entity group/concept"""


def messages(sentence: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Input: {sentence}"},
    ]
