"""The BIO tag set of a tagger: entity types <-> tag ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

OUTSIDE = "O"
OUTSIDE_ID = 0  # the id of OUTSIDE in every LabelSet's tags
IGNORE_INDEX = -100  # torch's cross-entropy ignore_index; also used for special tokens


@dataclass(frozen=True)
class LabelSet:
    """Tags are ``O`` then ``B-X``, ``I-X`` for each entity type X, in sorted order."""

    entity_types: tuple[str, ...]

    @classmethod
    def from_types(cls, types: Iterable[str]) -> LabelSet:
        unique = sorted(set(types))
        if not unique:
            raise ValueError("a tagger needs at least one entity type")
        return cls(tuple(unique))

    @classmethod
    def from_tags(cls, tags: list[str]) -> LabelSet:
        label_set = cls.from_types(t[2:] for t in tags if t != OUTSIDE)
        if label_set.tags != list(tags):
            raise ValueError(f"tags are not in canonical order: {tags}")
        return label_set

    @property
    def tags(self) -> list[str]:
        tags = [OUTSIDE]
        for entity_type in self.entity_types:
            tags += [f"B-{entity_type}", f"I-{entity_type}"]
        return tags

    def __len__(self) -> int:
        return 1 + 2 * len(self.entity_types)

    def begin_id(self, entity_type: str) -> int:
        return 1 + 2 * self.entity_types.index(entity_type)

    def inside_id(self, entity_type: str) -> int:
        return self.begin_id(entity_type) + 1


def inside_as_begin(tag_ids: np.ndarray) -> np.ndarray:
    """IO targets on the BIO tag set: every ``I-X`` becomes ``B-X`` (O, ignored ids kept)."""
    inside = (tag_ids > OUTSIDE_ID) & (tag_ids % 2 == 0)
    return np.where(inside, tag_ids - 1, tag_ids)
