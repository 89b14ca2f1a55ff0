"""What ``/v1/extract`` runs for the sources a request names: taggers (fully
fine-tuned, or heads over a shared encoder) and zero-shot labels.

A fully fine-tuned tagger runs in its own batcher lane. Every source over one
encoder version (its head taggers and the request's zero-shot labels) joins
one *encoder pass*: the batch runs the text encoder once, then each source
scores the same token vectors on the inference thread. So ten head taggers
on a text cost one encoder pass and ten small matrix products.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nuner.app.api.deps import ExtractRuntime
from nuner.app.auth import Principal
from nuner.app.encoder_registry import EncoderVersion
from nuner.app.loaded import LoadedBundles, Published
from nuner.app.registry import TaggerNotFound, TaggerVersion
from nuner.app.resolver import AliasResolver
from nuner.app.runtime import keep_above
from nuner.app.zero_shot import LabelQuery, check_labels, encoder_run, zero_shot_finish
from nuner.core.onnx_encoder import OnnxEncoder
from nuner.core.types import Entity

T = TypeVar("T")
V = TypeVar("V")
PerText = list[list[Entity]]


@dataclass(frozen=True)
class SourceAnswer:
    """One source's entities per text, and who answered (``tagger`` or ``encoder``)."""

    by: dict[str, str]
    entities: PerText


@dataclass
class EncoderPass:
    """The sources that share one encoder version's pass over the texts."""

    version: EncoderVersion
    encoder: OnnxEncoder
    finishes: list[Callable[[list], PerText]] = field(default_factory=list)

    def join(self, finish: Callable[[list], PerText]) -> int:
        self.finishes.append(finish)
        return len(self.finishes) - 1

    def finish(self, outputs: list) -> list[PerText]:
        return [finish(outputs) for finish in self.finishes]


@dataclass(frozen=True)
class Sources:
    """What a request asks for: tagger references (in order) and zero-shot labels."""

    taggers: list[str]
    labels: list[str] | dict[str, str] | None
    encoder: str | None
    threshold: float | None
    multi_label: bool


async def resolved(resolver: AliasResolver[V], reference: str | None) -> V:
    """Fast path on the event loop; the database lookup in a thread."""
    return resolver.cached(reference) or await asyncio.to_thread(resolver.resolve, reference)


async def loaded(cache: LoadedBundles[T], version: Published) -> T:
    return cache.peek(version) or await asyncio.to_thread(cache.get, version)


def settle(tasks: list[asyncio.Future]) -> None:
    for task in tasks:
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning for a sibling's failure


class Extraction:
    """Plans one request's sources onto the batcher, then gathers their answers."""

    def __init__(self, runtime: ExtractRuntime, principal: Principal, texts: list[str]) -> None:
        self.runtime, self.principal, self.texts = runtime, principal, texts
        self.passes: dict[str, EncoderPass] = {}
        self.slots: list[tuple[dict[str, str], Any]] = []  # per answer: by, task or pass slot

    async def run(self, sources: Sources) -> list[SourceAnswer]:
        passes: dict[str, asyncio.Future] = {}
        try:  # a failing source fails the request, and leaves nothing running unawaited
            for reference in sources.taggers:
                await self._add_tagger(reference, sources.threshold)
            if sources.labels is not None:
                await self._add_labels(sources)
            passes = {
                ref: asyncio.ensure_future(self._submit_pass(encoder_pass))
                for ref, encoder_pass in self.passes.items()
            }
            answers = []
            for by, slot in self.slots:
                if isinstance(slot, tuple):  # (encoder ref, index in its pass)
                    entities = (await passes[slot[0]])[slot[1]]
                else:
                    entities = await slot
                answers.append(SourceAnswer(by, entities))
            return answers
        finally:
            tasks = [slot for _, slot in self.slots if not isinstance(slot, tuple)]
            settle([*tasks, *passes.values()])

    async def _add_tagger(self, reference: str, threshold: float | None) -> None:
        runtime = self.runtime
        if not self.principal.owns(reference.partition("@")[0]):
            raise TaggerNotFound(f"no tagger or alias named {reference!r}")
        version: TaggerVersion = await resolved(runtime.resolver, reference)
        by = {"tagger": version.ref}
        if not version.is_head:
            tagger = await loaded(runtime.cache, version)
            finish = keep_above(threshold or 0.0)
            task = runtime.batcher.submit(version.ref, tagger.tag, self.texts, finish)
            self.slots.append((by, asyncio.ensure_future(task)))
            return
        head = await loaded(runtime.heads, version)
        encoder_pass = await self._pass(version.encoder)
        head.check_encoder(encoder_pass.encoder)
        cut = head.manifest.threshold if threshold is None else threshold
        index = encoder_pass.join(lambda outputs: head.decode(outputs, cut))
        self.slots.append((by, (encoder_pass.version.ref, index)))

    async def _add_labels(self, sources: Sources) -> None:
        runtime = self.runtime
        names, reads = check_labels(sources.labels, runtime.settings)
        encoder_pass = await self._pass(sources.encoder)
        encoder = encoder_pass.encoder
        cut = encoder.manifest.threshold if sources.threshold is None else sources.threshold
        query = LabelQuery(names, reads, cut, sources.multi_label)
        ref = encoder_pass.version.ref
        index = encoder_pass.join(zero_shot_finish(ref, encoder, query, runtime.label_vectors))
        self.slots.append(({"encoder": ref}, (ref, index)))

    async def _pass(self, reference: str | None) -> EncoderPass:
        version = await resolved(self.runtime.encoder_resolver, reference)
        if version.ref not in self.passes:
            encoder = await loaded(self.runtime.encoder_cache, version)
            self.passes[version.ref] = EncoderPass(version, encoder)
        return self.passes[version.ref]

    async def _submit_pass(self, encoder_pass: EncoderPass) -> list[PerText]:
        lane = f"encoder:{encoder_pass.version.ref}"  # one lane per encoder, whatever the sources
        run = encoder_run(encoder_pass.encoder)
        return await self.runtime.batcher.submit(lane, run, self.texts, encoder_pass.finish)
