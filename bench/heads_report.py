"""docs/heads.md, .json and .png from the logs of bench/heads.py and
bench/heads_serving.py (and the full fine-tune figures of docs/fewshot.json).

    python bench/heads_report.py
"""

from __future__ import annotations

import json
import statistics

import typer
from common import DOCS, RESULT_DATASETS, read_log, write_report
from heads import QUALITY_LOG, SELECTION_LOG, chosen, selection_table

FEWSHOT = DOCS / "fewshot.json"
SERVING = DOCS / "heads_serving.json"


def by_cell(records: list[dict]) -> dict[tuple, list[float]]:
    """(config, dataset, k) -> test F1 of each seed."""
    cells: dict[tuple, list[float]] = {}
    for record in records:
        for value in (record.get("f1_by_threshold") or {}).values():
            cells.setdefault((record["config"], record["dataset"], record["k"]), []).append(value)
    return cells


def full_finetune() -> dict[tuple, list[float]]:
    runs = json.loads(FEWSHOT.read_text())["runs"]
    cells: dict[tuple, list[float]] = {}
    for run in runs:
        cells.setdefault((run["dataset"], run["k"]), []).append(100 * run["f1"])
    return cells


def cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.1f}{spread}"


def quality_table(warm: str, cold: str) -> tuple[list[str], dict]:
    cells, full = by_cell(read_log(QUALITY_LOG)), full_finetune()
    lines = [
        "| dataset | k | head, warm start | head, cold start | full fine-tune (docs/fewshot.md) |",
        "|---|---:|---:|---:|---:|",
    ]
    averages: dict[str, dict[int, float]] = {"warm": {}, "cold": {}, "full": {}}
    for dataset in RESULT_DATASETS:
        zero = cells.get((warm, dataset, 0))
        lines.append(f"| {dataset} | 0 | {cell(zero)} (zero-shot) | - | - |")
        for k in (1, 4, 8, 16):
            row = [
                cells.get((warm, dataset, k)),
                cells.get((cold, dataset, k)),
                full.get((dataset, k)),
            ]
            lines.append(f"| {dataset} | {k} | " + " | ".join(cell(v) for v in row) + " |")
    for name, key in (("warm", warm), ("cold", cold)):
        for k in (0, 1, 4, 8, 16):
            means = [
                statistics.mean(cells[(key, d, k)]) for d in RESULT_DATASETS if (key, d, k) in cells
            ]
            if len(means) == len(RESULT_DATASETS):
                averages[name][k] = round(statistics.mean(means), 1)
    for k in (4, 8, 16):
        means = [statistics.mean(full[(d, k)]) for d in RESULT_DATASETS if (d, k) in full]
        if len(means) == len(RESULT_DATASETS):
            averages["full"][k] = round(statistics.mean(means), 1)
    return lines, averages


def plot(averages: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 3.8))
    for name, style in (("warm", "o-"), ("cold", "s--"), ("full", "^:")):
        points = sorted(averages[name].items())
        if points:
            axis.plot([k for k, _ in points], [v for _, v in points], style, label=name)
    axis.set_xscale("symlog", linthresh=1)
    axis.set_xticks([0, 1, 4, 8, 16], ["0", "1", "4", "8", "16"])
    axis.set_xlabel("k (mentions per type)")
    axis.set_ylabel("test F1, mean of 4 datasets")
    axis.grid(alpha=0.3)
    axis.legend(title="tagger")
    fig.tight_layout()
    fig.savefig(DOCS / "heads.png", dpi=120)


def serving_lines(serving: dict | None) -> list[str]:
    if serving is None:
        return ["Not measured yet: `python bench/heads_serving.py --encoder BUNDLE`."]
    servable, speed = serving["servable"], serving["throughput"]
    memory, load = serving["memory"], serving["load"]
    rates = speed["median_sentences_per_s"]
    return [
        f"Service: `nuner serve` on the embedded default, encoder {serving['encoder']}, "
        f"{serving['machine']['cpu_count']} CPU cores ({serving['machine']['cpu_model']}) shared "
        "with the load generator.",
        "",
        "| measure | figure | goal |",
        "|---|---:|---|",
        f"| submit-to-servable, head job, k=8 (median of {len(servable['runs_s']['head'])}) | "
        f"{servable['median_head_s']:.2f} s | at most 5 s |",
        f"| submit-to-servable, full fine-tune, same run (median of "
        f"{len(servable['runs_s']['full'])}) | {servable['median_full_s']:.1f} s | (baseline) |",
        f"| throughput, 1 / 3 / 10 head taggers per request ({speed['clients']} clients, "
        f"sentences/s, medians) | {rates['1']:.0f} / {rates['3']:.0f} / {rates['10']:.0f} | - |",
        f"| cost of 10 taggers over 1 (same texts) | {speed['cost_10_over_1']:.2f}x "
        "| at most 1.5x |",
        f"| cost of 3 taggers over 1 | {speed['cost_3_over_1']:.2f}x | - |",
        f"| API memory per loaded head ({memory['heads']} loaded) | "
        f"{memory['kb_per_loaded_head']:.1f} KB | at most 1 MB |",
        f"| API RSS: before / {memory['heads']} registered / all loaded | "
        f"{memory['api_rss_mb_before']:.0f} / {memory['api_rss_mb_registered']:.0f} / "
        f"{memory['api_rss_mb_loaded']:.0f} MB | - |",
        f"| `GET /v1/taggers` with {memory['taggers_listed']} taggers | "
        f"{memory['list_seconds']:.2f} s | - |",
        f"| load: {load['clients']} clients, {load['head_taggers']} head taggers, "
        f"{load['head_jobs_done']} head jobs done meanwhile | {load['requests_ok']} ok, "
        f"{load['failures']} failed, {load['backpressure_429_503']} back-pressure | 0 failed |",
        f"| load: p50 / p99 latency | {load['p50_ms']:.0f} / {load['p99_ms']:.0f} ms | - |",
        f"| load: API RSS start / end / max | {load['api_rss_mb_start']:.0f} / "
        f"{load['api_rss_mb_end']:.0f} / {load['api_rss_mb_max']:.0f} MB | flat |",
    ]


def main() -> None:
    """Regenerate docs/heads.md, .json and .png from the logged runs (nothing is rerun)."""
    table = selection_table(read_log(SELECTION_LOG))
    warm, warm_config = chosen("warm")
    cold, cold_config = chosen("cold")
    ranked = sorted(table.items(), key=lambda item: -statistics.mean(item[1].values()))
    selection_lines = [
        "| candidate | threshold | k=1 | k=2 | k=4 | k=8 | k=16 | mean |",
        "|---|---|" + "---:|" * 6,
    ]
    for name, cells in ranked[:12]:
        config, _, cut = name.partition(" t=")
        values = " | ".join(f"{cells.get(k, float('nan')):.1f}" for k in (1, 2, 4, 8, 16))
        mean = statistics.mean(cells.values())
        selection_lines.append(f"| {config} | {cut} | {values} | {mean:.1f} |")
    quality_lines, averages = quality_table(warm, cold)
    serving = json.loads(SERVING.read_text()) if SERVING.exists() else None
    plot(averages)
    result = {
        "chosen": {"warm": warm, "cold": cold},
        "settings": {"warm": warm_config.model_dump(), "cold": cold_config.model_dump()},
        "selection": table,
        "test_averages": averages,
        "serving": serving,
    }
    (DOCS / "heads.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = " | ".join(
        f"{name}: " + ", ".join(f"k={k} {v}" for k, v in sorted(averages[name].items()))
        for name in ("warm", "cold", "full")
    )
    page = [
        "# Head taggers over a shared encoder",
        "",
        "`python bench/heads.py select|quality` then `python bench/heads_serving.py` and "
        "`python bench/heads_report.py`. A head is one logistic scorer per label over the "
        "encoder bundle's token vectors, fitted in numpy on the features that bundle computes "
        "(nuner.training.head); decoded with the zero-shot policy (docs/spans.md).",
        "",
        "## Few-shot F1 (test splits, 5 seeds, docs/fewshot.md protocol)",
        "",
        f"Chosen on the selection splits: warm start `{warm}`, cold start `{cold}`. "
        "k=0 is the warm start with no example: zero-shot extraction with the written-out "
        "label names (bench/zeroshot.py LABEL_NAMES, sent as `descriptions`).",
        "",
        *quality_lines,
        "",
        f"Averages over the four datasets: {summary}.",
        "",
        "![F1 against k](heads.png)",
        "",
        "## Selection (dev, or a 1,000-sentence train sample the examples never come from)",
        "",
        "Mean F1 over datasets and 3 seeds; every fitted head scored at each decoding "
        "threshold ('encoder': the bundle's calibrated zero-shot threshold). Top 12:",
        "",
        *selection_lines,
        "",
        "## In the service",
        "",
        *serving_lines(serving),
        "",
    ]
    write_report(DOCS / "heads.md", "\n".join(page))
    print(json.dumps({"chosen": result["chosen"], "averages": averages}, indent=2))


if __name__ == "__main__":
    typer.run(main)
