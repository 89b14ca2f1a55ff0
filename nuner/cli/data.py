"""Commands on labelled and raw text: convert formats, draw few-shot samples,
annotate text with an LLM for pre-training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nuner.cli.options import BestEffort
from nuner.core.datasets import read_examples, write_conll, write_jsonl


def convert(source: Path, target: Path) -> None:
    """Convert between the shared JSONL span format (.jsonl) and CoNLL/BIO (any other suffix)."""
    examples = read_examples(source)
    writer = write_jsonl if target.suffix == ".jsonl" else write_conll
    typer.echo(f"wrote {writer(target, examples)} examples to {target}")


def sample(
    source: Annotated[Path, typer.Argument(help="A .jsonl / CoNLL file to sample from.")],
    out: Annotated[Path, typer.Option(help="Where to write the sample (.jsonl).")],
    k: Annotated[int, typer.Option(help="Mentions (or entity words with --words) per type.")] = 8,
    seed: int = 0,
    words: Annotated[bool, typer.Option(help="Use the kw word-budget sampler.")] = False,
    best_effort: BestEffort = False,
) -> None:
    """Draw a few-shot training set: k~2k mentions per type, or a kw word budget."""
    from nuner.training.sampling import sample_best_effort, sample_k_2k, sample_kw

    examples = read_examples(source)
    if best_effort and not words:
        drawn = sample_best_effort(examples, k, seed)
        chosen = drawn.examples
        typer.echo(drawn.describe(), err=drawn.best_effort)
    else:
        chosen = sample_kw(examples, k, seed) if words else sample_k_2k(examples, k, seed)
    write_jsonl(out, chosen)
    typer.echo(f"sampled {len(chosen)} sentences, {sum(len(e.spans) for e in chosen)} mentions")


def annotate(
    input: Annotated[
        Path | None, typer.Option(help="Text (one document per line), a .txt folder, or JSONL.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Annotated JSONL (appended, resumable).")
    ] = None,
    stats: Annotated[
        Path | None, typer.Option(help="Print the concept frequencies of an annotated JSONL.")
    ] = None,
    text_field: Annotated[str, typer.Option(help="JSONL field with the text.")] = "text",
    base_url: Annotated[
        str | None, typer.Option(help="Endpoint (NUNER_ANNOTATE_BASE_URL).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model (NUNER_ANNOTATE_MODEL).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
) -> None:
    """Annotate raw text with an LLM (NuNER's unconstrained prompt) for `nuner pretrain`."""
    import os

    from nuner.training.annotate.pipeline import concept_stats
    from nuner.training.annotate.settings import AnnotateSettings
    from nuner.training.annotate.signals import Interrupted, run_interruptibly

    if stats is not None:
        typer.echo(json.dumps(concept_stats(stats), indent=2, ensure_ascii=False))
        return
    if input is None or output is None:
        raise typer.BadParameter("--input and --output are required (or --stats FILE)")
    from nuner.training.annotate.client import ChatClient, ClientSettings
    from nuner.training.annotate.pipeline import Pricing, annotate_corpus

    settings = AnnotateSettings()
    client = ChatClient(
        ClientSettings(
            base_url=base_url or settings.annotate_base_url,
            model=model or settings.annotate_model,
            api_key=os.environ.get(settings.annotate_api_key_env),
            temperature=settings.annotate_temperature,
            max_tokens=settings.annotate_max_tokens,
            timeout_s=settings.annotate_timeout_s,
            max_retries=settings.annotate_max_retries,
        )
    )
    pricing = Pricing(
        settings.annotate_price_input_per_mtok, settings.annotate_price_output_per_mtok
    )

    async def run_and_close():
        try:
            return await annotate_corpus(
                input,
                output,
                client,
                concurrency or settings.annotate_concurrency,
                pricing,
                text_field,
            )
        finally:
            await client.close()

    try:
        report = run_interruptibly(run_and_close())
    except Interrupted as stopped:
        typer.echo(f"{stopped}: stopped; every line written is whole, rerun to resume", err=True)
        raise typer.Exit(stopped.exit_code) from None
    summary = report.to_dict()
    summary.pop("concepts")
    typer.echo(json.dumps(summary, indent=2))
